"""Real-module behaviours the emulator does not show by default, met through the driver."""

from __future__ import annotations

import asyncio

import pytest

from quectel_aio import CommandError, LocalProtocolError, Modem, SocketBroken, SocketOpenError, SSLConfig
from quectel_aio._grammar import ParsedCommand
from quectel_aio._ports import open_port
from quectel_aio.testing import CertificateAuthority, EmulatorConfig, ModemEmulator, TlsTestServer
from quectel_aio.testing._registry import HANDLERS

from .conftest import ECHO_HOST
from .helpers import eventually


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, escape_guard_time=0.2)


async def test_plain_vendor_urcs_inside_responses_are_not_taken_as_information(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    # A voice-capable module rings ("RING") and warns about its supply
    # ("UNDER_VOLTAGE WARNING") without a "+" prefix, between any two lines.
    emulator.inject_urc("RING", before_next_response=True)
    assert await modem.ssl_state() == []
    answers = 0

    def before_every_answer() -> None:  # of every command of the open, read-backs included
        nonlocal answers
        answers += 1
        emulator.inject_urc("UNDER_VOLTAGE WARNING", before_next_response=True)
        emulator.after_response(before_every_answer)

    before_every_answer()
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert answers > 20  # the QSSLCFG writes and read-backs among them
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    emulator.inject_urc("RING", before_next_response=True)
    [state] = await modem.ssl_state()
    assert state.client_id == writer.get_extra_info("client_id")
    writer.close()
    await writer.wait_closed()


async def test_an_error_that_qigeterror_reports_as_success_carries_no_code(
    modem: Modem, emulator: ModemEmulator
) -> None:
    # A real module's AT+QIGETERROR can still say "0,operate successfully"
    # after an SSL command answered ERROR: that is no description of the failure.
    emulator.fail_next_command("AT+QSSLSTATE")
    emulator.fail_next_command("AT+QIGETERROR", b"\r\n+QIGETERROR: 0,operate successfully\r\n\r\nOK\r\n")
    with pytest.raises(CommandError) as info:
        await modem.ssl_state(3)
    assert info.value.result == "ERROR"
    assert info.value.code is None
    assert "success" not in str(info.value)


async def _previous_host_opens_client_0(device: str, server_port: int) -> None:
    """An earlier run of the host program opened client 0 and died without closing it."""
    port = await open_port(device)
    try:
        port.write(b'AT+QICSGP=1,1,"internet","","",0\r')
        port.write(b"AT+QIACT=1\r")
        port.write(f'AT+QSSLOPEN=1,5,0,"{ECHO_HOST}",{server_port},0\r'.encode())
        seen = b""
        async with asyncio.timeout(10):
            while b"+QSSLOPEN: 0,0" not in seen:
                seen += await port.read()
    finally:
        await port.aclose()


async def test_a_client_id_the_module_already_uses_is_left_alone(
    device: str, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    await _previous_host_opens_client_0(device, echo_server.port)
    foreign = emulator.sockets[0]
    async with Modem.open(device, margin=3.0) as modem:
        await modem.activate_pdp(1, apn="internet")
        # Pinned to the ID in use: refused with 563, and the other connection is not closed.
        with pytest.raises(SocketOpenError) as info:
            await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, client_id=0)
        assert info.value.code == 563
        assert emulator.sockets.get(0) is foreign
        # Allocated: the module's answer moves the open on to a free ID.
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        assert writer.get_extra_info("client_id") != 0
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        assert emulator.sockets.get(0) is foreign
        writer.close()
        await writer.wait_closed()


async def test_a_restart_during_a_transparent_session_ends_it(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    emulator.restart()  # the module prints RDY (and its boot URCs) on the port, now in command mode
    async with asyncio.timeout(10):
        with pytest.raises(SocketBroken, match="restart"):
            await reader.read(100)  # never the module's RDY line as data from the peer
        # The port is no longer held by the gone session: commands go through.
        assert await modem.ssl_state() == []
    assert modem.boot_epoch == 1
    writer.close()


async def test_a_module_left_in_transparent_mode_is_taken_back_at_start(
    device: str, emulator: ModemEmulator, echo_server: TlsTestServer
) -> None:
    # An earlier run of the host program died with client 0 transparent: the
    # module still takes every byte for the peer and answers no AT command.
    port = await open_port(device)
    try:
        port.write(b'AT+QICSGP=1,1,"internet","","",0\r')
        port.write(b"AT+QIACT=1\r")
        port.write(f'AT+QSSLOPEN=1,5,0,"{ECHO_HOST}",{echo_server.port},2\r'.encode())
        seen = b""
        async with asyncio.timeout(10):
            while b"CONNECT" not in seen:
                seen += await port.read()
    finally:
        await port.aclose()
    async with (
        asyncio.timeout(30),
        Modem.open(device, margin=0.5, escape_guard_time=0.2, probe_attempts=2) as modem,
    ):
        [state] = await modem.ssl_state()
        assert (state.client_id, state.socket_state) == (0, 2)  # the connection itself is left alone


@pytest.mark.parametrize("session_cache", [False, True])
async def test_firmware_without_the_v1_2_items_opens_unless_one_is_needed(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ca: CertificateAuthority,
    session_cache: bool,
) -> None:
    # Firmware older than the note's v1.2 knows neither "dtlsversion" nor "session_cache".
    for item in ("dtlsversion", "session_cache"):
        for _ in range(2):  # the write and the read-back
            emulator.fail_next_command(f'+QSSLCFG="{item}"')
    ssl = SSLConfig(cafile=ca.cert_pem, session_cache=session_cache)
    if session_cache:  # asked for, and refused: never silently without it
        with pytest.raises(CommandError):
            await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl)
        return
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl)
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    assert emulator.ssl_contexts[writer.get_extra_info("quectel_ssl_ctx")].seclevel == 1
    writer.close()
    await writer.wait_closed()


async def test_a_refused_write_of_an_item_the_module_knows_is_still_verified(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ca: CertificateAuthority
) -> None:
    _reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=SSLConfig(cafile=ca.cert_pem, session_cache=True), ssl_context_id=2
    )
    writer.close()
    await writer.wait_closed()
    emulator.fail_next_command('+QSSLCFG="session_cache",2,0')  # the write only: the item exists
    with pytest.raises(SocketBroken, match="session_cache"):
        await modem.open_connection(
            ECHO_HOST, echo_server.port, ssl=SSLConfig(cafile=ca.cert_pem), ssl_context_id=2
        )


def _opens(emulator: ModemEmulator) -> list[int]:
    """The client ID of every ``AT+QSSLOPEN`` the module received."""
    return [int(entry.params[2]) for entry in emulator.command_log if entry.name == "+QSSLOPEN"]


async def test_a_client_id_refused_with_563_is_not_tried_again_by_later_opens(
    device: str, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    await _previous_host_opens_client_0(device, echo_server.port)
    async with Modem.open(device, margin=3.0) as modem:
        await modem.activate_pdp(1, apn="internet")
        before = len(_opens(emulator))
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        assert _opens(emulator)[before:] == [0, 1]  # 563 on 0, then 1
        writer.close()
        await writer.wait_closed()
        before = len(_opens(emulator))
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        assert _opens(emulator)[before:] == [1]  # 0 is remembered as taken
        # A restart ends every connection, the other program's too: 0 is free.
        emulator.restart()
        async with asyncio.timeout(10):
            with pytest.raises(SocketBroken, match="restart"):
                await reader.read(100)
        writer.close()
        await modem.activate_pdp(1, apn="internet")
        before = len(_opens(emulator))
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        assert _opens(emulator)[before:] == [0]
        writer.close()
        await writer.wait_closed()


async def test_a_client_id_refused_with_563_is_used_again_once_ssl_state_shows_it_free(
    device: str, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    await _previous_host_opens_client_0(device, echo_server.port)
    async with Modem.open(device, margin=3.0) as modem:
        await modem.activate_pdp(1, apn="internet")
        first = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        assert first[1].get_extra_info("client_id") == 1
        # The other program closes client 0 (on another port of the module).
        await modem.command("AT+QSSLCLOSE=0")
        assert [state.client_id for state in await modem.ssl_state()] == [1]
        before = len(_opens(emulator))
        second = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        assert _opens(emulator)[before:] == [0]
        for _, writer in (first, second):
            writer.close()
            await writer.wait_closed()


async def test_a_client_id_refused_with_563_is_tried_again_when_no_other_is_free(
    device: str, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    await _previous_host_opens_client_0(device, echo_server.port)
    async with Modem.open(device, margin=3.0) as modem:
        await modem.activate_pdp(1, apn="internet")
        streams = [
            await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config) for _ in range(11)
        ]
        assert sorted(writer.get_extra_info("client_id") for _, writer in streams) == list(range(1, 12))
        # Client 0 is still refused: the allocation asks for it, then gives up.
        before = len(_opens(emulator))
        with pytest.raises(LocalProtocolError, match="all 12 client IDs are in use"):
            await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        assert _opens(emulator)[before:] == [0]
        # The other program lets go of it, unseen by the host: the next open takes it.
        await modem.command("AT+QSSLCLOSE=0")
        streams.append(await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config))
        assert streams[-1][1].get_extra_info("client_id") == 0
        for _, writer in streams:
            writer.close()
            await writer.wait_closed()


async def test_an_allocation_waits_for_a_closing_id_rather_than_try_one_refused_with_563(
    device: str,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _previous_host_opens_client_0(device, echo_server.port)
    original = HANDLERS["+QSSLCLOSE"]
    gate = asyncio.Event()

    async def slow_close(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        if command.params and command.params[0] == 1:
            await gate.wait()
        return await original(emu, command)

    monkeypatch.setitem(HANDLERS, "+QSSLCLOSE", slow_close)
    async with Modem.open(device, margin=3.0) as modem:
        await modem.activate_pdp(1, apn="internet")
        streams = [
            await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config) for _ in range(11)
        ]
        assert streams[0][1].get_extra_info("client_id") == 1
        closing = streams.pop(0)[1]
        closing.transport.abort()  # client 1 is being freed, slowly
        before = len(_opens(emulator))
        waiting = asyncio.create_task(modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config))
        released = modem._ids._released
        try:
            # An open of client 0 would queue behind the close: it must wait instead.
            await eventually(
                lambda: bool(getattr(released, "_waiters", None)), what="the open waiting for an ID"
            )
        finally:
            gate.set()
            async with asyncio.timeout(10):
                streams.append(await waiting)
        assert _opens(emulator)[before:] == [1]
        for _, writer in streams:
            writer.close()
            await writer.wait_closed()


async def test_a_context_the_network_deactivated_is_deactivated_before_it_is_activated_again(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    # TCP/IP note, "pdpdeact": the host must send AT+QIDEACT before the module
    # activates the context again (the emulator refuses AT+QIACT until then).
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    emulator.deactivate_pdp(1)
    with pytest.raises(SocketBroken, match="PDP"):
        await asyncio.wait_for(reader.read(1), 5)
    writer.close()
    await modem.activate_pdp(1, apn="internet")
    names = [entry.name for entry in emulator.command_log]
    last_deact = len(names) - 1 - names[::-1].index("+QIDEACT")
    assert last_deact < len(names) - 1 - names[::-1].index("+QIACT")
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    writer.close()
    await writer.wait_closed()
    # A context that was never lost is not deactivated on the way.
    await modem.activate_pdp(2, apn="internet")
    assert [entry.params for entry in emulator.command_log if entry.name == "+QIDEACT"] == [(1,)]
