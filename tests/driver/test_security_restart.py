"""A module restart between configuring an SSL context and opening on it.

The module forgets ``AT+QSSLCFG`` on restart and falls back to seclevel 0,
which accepts any server. These tests restart the emulated module right after
*each* command of the configuration sequence (credential listing and upload,
clock, every write, every read-back) and record the state of the SSL context
at the moment each ``AT+QSSLOPEN`` reaches the module. The PDP context stays
active across the restart here (``active_pdp_contexts``), so an open at the
default seclevel would really succeed: nothing but the driver's own checks
stands between a restart and an unverified connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from quectel_aio import Modem, QuectelError, SSLConfig
from quectel_aio._grammar import ParsedCommand
from quectel_aio.testing import CertificateAuthority, EmulatorConfig, ModemEmulator, TlsTestServer
from quectel_aio.testing._registry import HANDLERS, Handler

from .conftest import ECHO_HOST

#: Commands the driver sends while it prepares an SSL context.
CONFIGURATION_COMMANDS = ("+QFLST", "+QFUPL", "+CCLK", "+QSSLCFG")


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, active_pdp_contexts=(1,))


class OpenRecorder:
    """Records the seclevel of the context every ``AT+QSSLOPEN`` used, as it arrives."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seclevels: list[int] = []
        original = HANDLERS["+QSSLOPEN"]

        async def handler(emu: ModemEmulator, command: ParsedCommand) -> bytes:
            ctx = command.params[1] if len(command.params) > 1 else None
            if isinstance(ctx, int) and ctx in emu.ssl_contexts:
                self.seclevels.append(emu.ssl_contexts[ctx].seclevel)
            return await original(emu, command)

        monkeypatch.setitem(HANDLERS, "+QSSLOPEN", handler)


class RestartInjector:
    """Restarts the module right after the response to the n-th configuration command."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.target: int | None = None
        self.seen = 0
        self.fired_after: str | None = None
        for name in CONFIGURATION_COMMANDS:
            monkeypatch.setitem(HANDLERS, name, self._wrap(name, HANDLERS[name]))

    def arm(self, nth: int) -> None:
        self.target, self.seen, self.fired_after = nth, 0, None

    def _wrap(self, name: str, original: Handler) -> Handler:
        async def handler(emu: ModemEmulator, command: ParsedCommand) -> bytes:
            response = await original(emu, command)
            if self.target is not None:
                if self.seen == self.target:
                    self.fired_after = f"{name}={command.raw_args}"
                    self.target = None
                    emu.after_response(emu.restart)
                self.seen += 1
            return response

        return handler


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> OpenRecorder:
    return OpenRecorder(monkeypatch)


@pytest.fixture
def injector(monkeypatch: pytest.MonkeyPatch) -> RestartInjector:
    return RestartInjector(monkeypatch)


@pytest.fixture
async def modem(device: str) -> AsyncIterator[Modem]:
    async with Modem.open(device, margin=0.5) as opened:
        yield opened


async def _settle(modem: Modem, epoch: int) -> None:
    """Wait until the driver has seen the restart (its boot epoch moved on)."""
    async with asyncio.timeout(5):
        while modem.boot_epoch == epoch:  # noqa: ASYNC110 (the epoch has no event to await)
            await asyncio.sleep(0.005)


async def _open_once(modem: Modem, port: int, config: SSLConfig) -> bool:
    try:
        _reader, writer = await modem.open_connection(ECHO_HOST, port, ssl=config)
    except QuectelError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def _configuration_length(modem: Modem, emulator: ModemEmulator, port: int, config: SSLConfig) -> int:
    """How many configuration commands an open right after a restart sends (a clean run)."""
    assert await _open_once(modem, port, config)  # the first upload of the CA
    epoch = modem.boot_epoch
    emulator.restart()
    await _settle(modem, epoch)
    mark = len(emulator.command_log)
    assert await _open_once(modem, port, config)
    sent = [c for c in emulator.command_log[mark:] if c.name in CONFIGURATION_COMMANDS]
    return len(sent)


@pytest.mark.parametrize("credentials", ["ca", "ca+client"])
async def test_no_open_reaches_the_module_at_its_default_seclevel(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ca: CertificateAuthority,
    recorder: OpenRecorder,
    injector: RestartInjector,
    credentials: str,
) -> None:
    client = ca.issue_client_cert("restart-device", key_type="rsa")
    extra = {"certfile": client.cert_pem, "keyfile": client.key_pem} if credentials == "ca+client" else {}
    # Mutual TLS: delete the key after each handshake, so every open uploads it again.
    config = SSLConfig(cafile=ca.cert_pem, delete_key_after_handshake=bool(extra), **extra)  # type: ignore[arg-type]
    steps = await _configuration_length(modem, emulator, echo_server.port, config)
    assert steps >= 26  # every QSSLCFG item written and read back, plus clock and files
    fired: list[str] = []
    for nth in range(steps):
        # A clean restart first, so that the open configures everything from the first command.
        epoch = modem.boot_epoch
        emulator.restart()
        await _settle(modem, epoch)
        injector.arm(nth)
        epoch = modem.boot_epoch
        opened = await _open_once(modem, echo_server.port, config)
        assert injector.fired_after is not None, f"step {nth} was never reached"
        fired.append(injector.fired_after)
        await _settle(modem, epoch)
        assert not opened, (nth, injector.fired_after)
        # The driver recovers: the next open configures, verifies and succeeds.
        assert await _open_once(modem, echo_server.port, config), nth
    assert len(set(fired)) > len(CONFIGURATION_COMMANDS)  # restarts hit many different commands
    assert recorder.seclevels, "no AT+QSSLOPEN was recorded"
    assert 0 not in recorder.seclevels, recorder.seclevels
    expected = 2 if extra else 1
    assert set(recorder.seclevels) == {expected}


async def test_a_restart_whose_rdy_goes_to_another_port_never_opens_unverified(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ca: CertificateAuthority,
    recorder: OpenRecorder,
) -> None:
    """``RDY`` follows ``urcport``: a UART host with ``urcport="usbat"`` never sees it.

    The reused context must still be checked before the next open, because the
    module has forgotten its settings and would accept any server.
    """
    config = SSLConfig(cafile=ca.cert_pem)
    assert await _open_once(modem, echo_server.port, config)
    await modem.command('AT+QURCCFG="urcport","usbat"')  # stored in NVRAM, survives the restart
    # The profile keeps echo off, so no returning command echo reveals the restart either.
    await modem.command("AT&W")
    # Payload echo on is the factory value a restart brings back.
    emulator.config = dataclasses.replace(emulator.config, payload_echo=True)
    emulator.restart()
    mark = len(emulator.command_log)
    assert await _open_once(modem, echo_server.port, config)
    assert modem.boot_epoch == 0  # the restart itself went unseen
    # The settings a restart resets are written again with the context.
    assert "+QISDE" in [c.name for c in emulator.command_log[mark:]]
    assert not emulator.payload_echo
    assert recorder.seclevels == [1, 1]
    assert await _open_once(modem, echo_server.port, config)
    assert recorder.seclevels == [1, 1, 1]


async def test_a_restart_during_the_read_back_of_a_reused_context_never_opens_unverified(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ca: CertificateAuthority,
    recorder: OpenRecorder,
    injector: RestartInjector,
) -> None:
    config = SSLConfig(cafile=ca.cert_pem)
    assert await _open_once(modem, echo_server.port, config)  # configures the context
    mark = len(emulator.command_log)
    assert await _open_once(modem, echo_server.port, config)  # reuses it after a read-back
    steps = sum(1 for c in emulator.command_log[mark:] if c.name in CONFIGURATION_COMMANDS)
    assert steps >= 13
    for nth in range(steps):
        assert await _open_once(modem, echo_server.port, config), nth  # configured again after a restart
        injector.arm(nth)
        epoch = modem.boot_epoch
        opened = await _open_once(modem, echo_server.port, config)
        assert injector.fired_after is not None, f"step {nth} was never reached"
        await _settle(modem, epoch)
        assert not opened, (nth, injector.fired_after)
    assert 0 not in recorder.seclevels, recorder.seclevels


async def test_a_restart_revealed_by_the_echo_of_a_read_back_is_not_configured_twice(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ca: CertificateAuthority,
    recorder: OpenRecorder,
) -> None:
    # RDY goes to another port; the echo of the first read-back query reveals
    # the restart. The open stops there: writing the context in the old boot
    # epoch only to refuse it, then again for the next open, helps nobody.
    config = SSLConfig(cafile=ca.cert_pem)
    assert await _open_once(modem, echo_server.port, config)
    await modem.command('AT+QURCCFG="urcport","usbat"')
    emulator.restart()
    mark = len(emulator.command_log)
    assert not await _open_once(modem, echo_server.port, config)
    assert modem.boot_epoch == 1
    failed_open = emulator.command_log[mark:]
    assert [c for c in failed_open if c.name == "+QSSLCFG" and len(c.params) > 2] == []
    assert await _open_once(modem, echo_server.port, config)
    assert recorder.seclevels == [1, 1]
