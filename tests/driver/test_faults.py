"""Fault injection through the real pty, emulator and TLS: timeouts, SEND FAIL,
restarts, peer close, PDP loss and URCs in the middle of transfers."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from quectel_aio import CommandTimeout, Modem, SocketBroken, SSLConfig
from quectel_aio._grammar import ParsedCommand
from quectel_aio.testing import (
    EmulatorConfig,
    IssuedCert,
    ModemEmulator,
    SocketState,
    TlsTestServer,
    server_ssl_context,
    start_tls_server,
)
from quectel_aio.testing._registry import HANDLERS
from quectel_aio.transport import ModemSocketTransport

from .conftest import ECHO_HOST
from .helpers import FAST_MARGIN, commands, count, eventually, pump

KIB = 1024


@pytest.fixture
async def fast_modem(device: str) -> AsyncIterator[Modem]:
    async with Modem.open(device, margin=FAST_MARGIN) as opened:
        await opened.activate_pdp(1, apn="internet")
        yield opened


async def _echo_round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int) -> None:
    data = os.urandom(size)
    writer.write(data)
    await writer.drain()
    assert await reader.readexactly(size) == data


async def _assert_nothing_more(reader: asyncio.StreamReader, wait: float = 0.2) -> None:
    """Prove absence: no further byte arrives within ``wait`` seconds."""
    try:
        extra = await asyncio.wait_for(reader.read(1), wait)
    except TimeoutError:
        return
    pytest.fail(f"unexpected extra byte {extra!r}")


async def _close_broken(writer: asyncio.StreamWriter) -> None:
    """Close a stream whose socket broke: like asyncio, wait_closed() re-raises the error."""
    writer.close()
    with pytest.raises(SocketBroken):
        await writer.wait_closed()


# -- command timeout ------------------------------------------------------------------


async def test_command_timeout_within_its_deadline_then_the_channel_recovers(
    fast_modem: Modem, emulator: ModemEmulator
) -> None:
    emulator.mute_next_command("+QSSLSTATE")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(CommandTimeout) as info:
        await fast_modem.ssl_state()
    elapsed = loop.time() - started
    assert isinstance(info.value, TimeoutError)
    assert info.value.command == "AT+QSSLSTATE"
    deadline = 0.3 + FAST_MARGIN
    assert info.value.timeout == pytest.approx(deadline)
    assert deadline - 0.05 <= elapsed < deadline + 0.5
    assert await fast_modem.ssl_state() == []
    assert (await fast_modem.command("ATI"))[0] == "Quectel"
    assert count(emulator, "+QSSLSTATE") == 2


async def test_late_reply_after_a_timeout_is_not_taken_by_the_next_command(
    fast_modem: Modem, emulator: ModemEmulator
) -> None:
    emulator.mute_next_command("+QSSLSTATE")
    with pytest.raises(CommandTimeout):
        await fast_modem.ssl_state()
    emulator.inject_raw(b'\r\n+QSSLSTATE: 3,"SSLClient","10.1.1.1",443,1,2,1,3,0,"uart1",0\r\n\r\nOK\r\n')
    assert await fast_modem.ssl_state() == []


# -- SEND FAIL and unknown send outcomes -----------------------------------------------------


async def test_send_fail_is_retried_and_the_data_arrives_exactly_once(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    data = os.urandom(10 * KIB)
    chunks = -(-len(data) // 1460)
    emulator.fail_next_sends(3)
    writer.write(data)
    await writer.drain()
    received = await reader.readexactly(len(data))
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
    await _assert_nothing_more(reader)
    sends = commands(emulator, "+QSSLSEND")
    assert len(sends) == chunks + 3
    assert sum(int(params[1]) for params in sends) == len(data) + sum(int(params[1]) for params in sends[:3])
    writer.close()
    await writer.wait_closed()


async def test_muted_send_fails_the_socket_instead_of_retrying(
    fast_modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    await _echo_round_trip(reader, writer, 100)
    emulator.mute_next_command("+QSSLSEND")
    writer.write(b"never twice")
    with pytest.raises(SocketBroken) as info:
        await reader.read(1)
    assert isinstance(info.value, ConnectionResetError)
    assert count(emulator, "+QSSLSEND") == 2  # the round trip and the muted one: no retry
    assert "unknown" in str(info.value)
    await eventually(lambda: count(emulator, "+QSSLCLOSE") == 1)
    assert await fast_modem.ssl_state() == []
    await _close_broken(writer)


async def test_send_without_an_answer_after_the_payload_fails_the_socket(
    fast_modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    # The module prompts, takes the payload and never answers: the outcome is unknown.
    emulator.fail_next_command("+QSSLSEND", b"\r\n> ")
    before = emulator.bytes_received
    payload = b"fate-unknown\r"
    writer.write(payload)
    with pytest.raises(SocketBroken):
        await reader.read(1)
    assert emulator.bytes_received - before >= len(payload)  # the payload was written
    assert count(emulator, "+QSSLSEND") == 1
    await eventually(lambda: count(emulator, "+QSSLCLOSE") == 1)
    assert await fast_modem.ssl_state() == []
    await _close_broken(writer)


# -- restarts ------------------------------------------------------------------------------------


async def test_restart_breaks_every_socket_and_the_next_open_reconfigures(
    fast_modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    streams = [
        await fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config) for _ in range(3)
    ]
    for reader, writer in streams:
        await _echo_round_trip(reader, writer, 2000)
    mark = len(emulator.command_log)
    emulator.restart()
    for reader, _writer in streams:
        with pytest.raises(SocketBroken) as info:
            await reader.read(1)
        assert isinstance(info.value, ConnectionResetError)
        assert "restart" in str(info.value)
    await eventually(lambda: fast_modem.boot_epoch == 1)
    for _reader, writer in streams:
        await _close_broken(writer)
    await fast_modem.activate_pdp(1, apn="internet")  # a restart forgets the PDP context too
    reader, writer = await fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    await _echo_round_trip(reader, writer, 3000)
    after = [entry.params for entry in emulator.command_log[mark:] if entry.name == "+QSSLCFG"]
    ctx = writer.get_extra_info("quectel_ssl_ctx")
    assert ("seclevel", ctx, 1) in after  # written again
    assert ("seclevel", ctx) in after  # and read back
    assert ("cacert", ctx) in after
    assert count(emulator, "+QFUPL") == 1  # the CA survived in UFS
    assert len(emulator.opened_with) == 4
    assert [settings.seclevel for _, settings in emulator.opened_with] == [1, 1, 1, 1]
    writer.close()
    await writer.wait_closed()


def _restart_after(
    emulator: ModemEmulator, monkeypatch: pytest.MonkeyPatch, matches: Callable[[ParsedCommand], bool]
) -> list[int]:
    """Restart the emulated module right after the response to the first matching QSSLCFG."""
    original = HANDLERS["+QSSLCFG"]
    fired: list[int] = []

    async def handler(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        response = await original(emu, command)
        if not fired and matches(command):
            fired.append(len(emu.command_log))
            emu.after_response(emu.restart)
        return response

    monkeypatch.setitem(HANDLERS, "+QSSLCFG", handler)
    return fired


RESTART_POINTS: dict[str, Callable[[ParsedCommand], bool]] = {
    "after writing seclevel": lambda c: c.params[:1] == ("seclevel",) and len(c.params) == 3,
    "after writing cacert": lambda c: c.params[:1] == ("cacert",) and len(c.params) == 3,
    "after reading seclevel back": lambda c: c.params[:1] == ("seclevel",) and len(c.params) == 2,
    "after the last read-back": lambda c: c.params[:1] == ("cacert",) and len(c.params) == 2,
}


@pytest.mark.parametrize("point", list(RESTART_POINTS))
async def test_restart_between_configuration_and_open_never_opens_unverified(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
) -> None:
    fired = _restart_after(emulator, monkeypatch, RESTART_POINTS[point])
    with pytest.raises(SocketBroken):
        await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert fired
    assert all(settings.seclevel == 1 for _, settings in emulator.opened_with), emulator.opened_with
    # After the restart the driver recovers: a new open writes and verifies the context again.
    await eventually(lambda: modem.boot_epoch == 1)
    await modem.activate_pdp(1, apn="internet")
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    await _echo_round_trip(reader, writer, 500)
    assert [settings.seclevel for _, settings in emulator.opened_with][-1] == 1
    assert all(settings.seclevel == 1 for _, settings in emulator.opened_with)
    writer.close()
    await writer.wait_closed()


# -- peer close racing unread data --------------------------------------------------------------


async def _serve_then_close(
    cert: IssuedCert, body: bytes, use: Callable[[TlsTestServer, asyncio.Event], Awaitable[None]]
) -> None:
    closed = asyncio.Event()

    async def handler(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(body)
        await writer.drain()
        writer.close()
        closed.set()

    ctx = server_ssl_context(cert.chain_pem, cert.key_pem)
    async with await start_tls_server(ctx, handler) as server:
        await use(server, closed)


async def test_peer_close_after_data_delivers_every_byte_then_eof_and_closes_once(
    modem: Modem, emulator: ModemEmulator, server_cert: IssuedCert, ssl_config: SSLConfig
) -> None:
    body = os.urandom(150_000)

    async def use(server: TlsTestServer, _closed: asyncio.Event) -> None:
        reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=ssl_config)
        received = await reader.read()
        assert hashlib.sha256(received).digest() == hashlib.sha256(body).digest()
        assert reader.at_eof()
        writer.close()
        await writer.wait_closed()

    await _serve_then_close(server_cert, body, use)
    assert count(emulator, "+QSSLCLOSE") == 1
    assert await modem.ssl_state() == []


async def test_peer_close_while_the_reader_is_paused_still_delivers_everything(
    modem: Modem, emulator: ModemEmulator, server_cert: IssuedCert, ssl_config: SSLConfig
) -> None:
    body = os.urandom(40_000)  # fits in the module's receive buffer

    async def use(server: TlsTestServer, closed: asyncio.Event) -> None:
        reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=ssl_config, limit=1024)
        await closed.wait()
        client_id = writer.get_extra_info("client_id")
        await eventually(lambda: emulator.sockets[client_id].state is SocketState.CLOSING)
        await emulator.wait_urcs_written()
        await eventually(lambda: not writer.transport.is_reading())  # type: ignore[attr-defined]
        assert emulator.sockets[client_id].recv_buffer  # data still unread in the module
        assert count(emulator, "+QSSLCLOSE") == 0
        received = bytearray()
        while chunk := await reader.read(700):
            received += chunk
        assert bytes(received) == body
        writer.close()
        await writer.wait_closed()

    await _serve_then_close(server_cert, body, use)
    assert count(emulator, "+QSSLCLOSE") == 1
    assert await modem.ssl_state() == []


@pytest.mark.parametrize("mode", ["buffer", "push"])
async def test_data_and_close_right_after_the_handshake_are_not_lost(
    modem: Modem, emulator: ModemEmulator, server_cert: IssuedCert, ssl_config: SSLConfig, mode: str
) -> None:
    # The server speaks and hangs up at once: its URCs can follow +QSSLOPEN: <id>,0
    # before the driver has attached a transport to the socket.
    body = os.urandom(3000)

    async def use(server: TlsTestServer, _closed: asyncio.Event) -> None:
        reader, writer = await modem.open_connection(
            ECHO_HOST,
            server.port,
            ssl=ssl_config,
            mode="push" if mode == "push" else "buffer",
        )
        async with asyncio.timeout(5):
            assert await reader.read() == body
        writer.close()
        await writer.wait_closed()

    await _serve_then_close(server_cert, body, use)
    assert count(emulator, "+QSSLCLOSE") == 1
    assert await modem.ssl_state() == []


# -- PDP deactivation --------------------------------------------------------------------------


async def test_pdp_deactivation_breaks_the_sockets_of_that_context(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    streams = [await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config) for _ in range(2)]
    for reader, writer in streams:
        await _echo_round_trip(reader, writer, 1000)
    emulator.deactivate_pdp(1)
    for reader, _writer in streams:
        with pytest.raises(SocketBroken) as info:
            await reader.read(1)
        assert "PDP" in str(info.value)
    for _reader, writer in streams:
        await _close_broken(writer)
    # The module's client IDs are freed, so the same IDs open again after reactivation.
    await eventually(lambda: not emulator.sockets, what="module sockets closed")
    assert await modem.ssl_state() == []
    await modem.activate_pdp(1, apn="internet")
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert writer.get_extra_info("client_id") == 0
    await _echo_round_trip(reader, writer, 1000)
    writer.close()
    await writer.wait_closed()


# -- URCs in the middle of a transfer --------------------------------------------------------------


async def test_urcs_at_every_line_boundary_do_not_corrupt_or_stall_a_transfer(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    urcs = ["+CPIN: READY", '+QSSLURC: "recv",7', "+QIND: SMS DONE", '+QIND: "csq",20,99']
    done = asyncio.Event()
    injected = 0

    async def injector() -> None:
        nonlocal injected
        while not done.is_set():
            urc = urcs[injected % len(urcs)]
            emulator.inject_urc(urc)
            emulator.inject_urc(urc, before_next_response=True)
            injected += 1
            await asyncio.sleep(0.001)

    data = os.urandom(256 * KIB)
    noise = asyncio.create_task(injector())
    try:
        sender = asyncio.create_task(pump(writer, data, 4096))
        async with asyncio.timeout(15):
            received = await reader.readexactly(len(data))
            await sender
    finally:
        done.set()
        await noise
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
    assert injected > 50
    await _echo_round_trip(reader, writer, 100)
    writer.close()
    await writer.wait_closed()


class _Collector(asyncio.Protocol):
    """Reads nothing until resumed (so no receive interleaves with the sends)."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.transport: ModemSocketTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, ModemSocketTransport)
        self.transport = transport
        transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        self.received += data


async def test_each_send_fail_episode_gets_its_own_back_off_budget(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two SEND FAILs in a row fit a 0.1 s budget (back-off 0.02 + 0.04 s); a third
    # would not. Two such episodes within one chain of chunks, with chunks going
    # through between them, must both be survived.
    collector = _Collector()
    await modem.create_connection(lambda: collector, ECHO_HOST, echo_server.port, ssl=ssl_config)
    transport = collector.transport
    assert transport is not None
    transport._send_fail_timeout = 0.1
    failing = {2, 3, 7, 8}
    seen = 0

    def scripted_failure() -> bool:
        nonlocal seen
        seen += 1
        return seen in failing

    monkeypatch.setattr(emulator, "take_send_failure", scripted_failure)
    data = os.urandom(8 * 1460)
    transport.write(data)
    await eventually(lambda: seen == 8 + len(failing) and transport.get_write_buffer_size() == 0, 5, "sends")
    assert transport.is_reading() is False
    transport.resume_reading()
    await eventually(lambda: len(collector.received) == len(data), 5, "echo")
    assert collector.received == data
    transport.close()


async def test_a_lost_doorbell_is_recovered_by_the_idle_poll(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import quectel_aio.transport as transport_module

    monkeypatch.setattr(transport_module, "RECV_POLL_INTERVAL", 0.3)
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    emulator.lose_next_recv_urcs(1)
    writer.write(b"echo me")
    async with asyncio.timeout(5):
        assert await reader.readexactly(7) == b"echo me"
    writer.close()
    await writer.wait_closed()


class TestPayloadEchoFactoryDefault:
    @pytest.fixture
    def emulator_config(self) -> EmulatorConfig:
        return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, payload_echo=True)

    async def test_payload_echo_is_switched_off_at_start_and_after_a_restart(
        self, modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
    ) -> None:
        assert commands(emulator, "+QISDE") == [(0,)]
        assert not emulator.payload_echo
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        data = b"\r\nSEND OK\r\n\r\nOK\r\n" * 100  # an echo of this would end the send early
        writer.write(data)
        async with asyncio.timeout(5):
            assert await reader.readexactly(len(data)) == data
        writer.close()
        await writer.wait_closed()
        emulator.restart()
        await eventually(lambda: commands(emulator, "+QISDE") == [(0,), (0,)])
        assert not emulator.payload_echo


async def test_a_client_id_freed_by_pdp_loss_is_reused_only_after_its_close(
    fast_modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    await fast_modem.activate_pdp(2, apn="other")
    lost = await fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, pdp_context_id=1)
    others = [
        await fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, pdp_context_id=2)
        for _ in range(11)
    ]
    # The last one is still closing (its last bytes meet SEND FAIL for a while),
    # so an open that finds all twelve IDs taken waits for a free one.
    emulator.fail_next_sends(8)
    others[-1][1].write(b"last words")
    others[-1][1].close()
    waiting = asyncio.ensure_future(
        fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, pdp_context_id=2)
    )
    await asyncio.sleep(0.05)
    assert not waiting.done()
    # Client ID 0 dies with PDP context 1; the module frees it only at AT+QSSLCLOSE=0.
    emulator.deactivate_pdp(1)
    reader, writer = await asyncio.wait_for(waiting, 30)
    await _echo_round_trip(reader, writer, 100)
    log = emulator.command_log
    last_open = max(i for i, entry in enumerate(log) if entry.name == "+QSSLOPEN")
    reused = log[last_open].params[2]
    closed = [i for i, entry in enumerate(log) if entry.name == "+QSSLCLOSE" and entry.params[0] == reused]
    assert closed
    assert closed[0] < last_open  # the module freed the ID before it was opened again
    for _, other in [*others[:-1], (reader, writer)]:
        other.close()
        await other.wait_closed()
    await _close_broken(lost[1])
    await others[-1][1].wait_closed()
    await eventually(lambda: not emulator.sockets, 20, "module sockets closed")
