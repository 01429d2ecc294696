"""Socket lifecycle against URCs that belong to an earlier use of the same client ID."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

from quectel_aio import Modem, QuectelError, SocketBroken, SSLConfig
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
from .helpers import count, eventually

STALE_URCS = {
    "closed": b'\r\n+QSSLURC: "closed",0\r\n',
    "pushed data": b'\r\n+QSSLURC: "recv",0,5\r\nstale\r\n',
}


@pytest.mark.parametrize("urc", list(STALE_URCS))
async def test_a_urc_before_the_open_result_belongs_to_the_previous_user_of_the_id(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
    urc: str,
) -> None:
    # Between the OK to AT+QSSLOPEN and +QSSLOPEN: 0,0 the new socket cannot
    # have closed or received anything: such a URC is left over from before.
    original = HANDLERS["+QSSLOPEN"]

    async def handler(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        response = await original(emu, command)
        emu.after_response(lambda: emu.emit_urc(STALE_URCS[urc]))
        return response

    monkeypatch.setitem(HANDLERS, "+QSSLOPEN", handler)
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert writer.get_extra_info("client_id") == 0
    data = os.urandom(2000)
    writer.write(data)
    await writer.drain()
    assert await reader.readexactly(len(data)) == data
    writer.close()
    await writer.wait_closed()
    assert count(emulator, "+QSSLCLOSE") == 1


@contextlib.asynccontextmanager
async def _gated_proxy(target_port: int, gate: asyncio.Event) -> AsyncIterator[int]:
    """A TCP relay to ``target_port`` that holds every connection until ``gate`` is set."""
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await gate.wait()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except asyncio.CancelledError:
            writer.close()
        finally:
            tasks.discard(task)

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        if tasks:
            await asyncio.wait(list(tasks))
        await server.wait_closed()


async def test_an_abandoned_open_the_module_would_not_close_keeps_its_id_until_its_late_result(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The open is given up (its result is late) and the module refuses the
    # AT+QSSLCLOSE that should free the ID: the module still holds the ID, so
    # a new open must not use it (its +QSSLOPEN: 0,0 would be the old socket).
    original = HANDLERS["+QSSLCLOSE"]
    refused: list[ParsedCommand] = []

    async def handler(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        if not refused:
            refused.append(command)
            emu.last_error = 568  # operation busy
            return b"\r\nERROR\r\n"
        return await original(emu, command)

    monkeypatch.setitem(HANDLERS, "+QSSLCLOSE", handler)
    gate = asyncio.Event()
    async with _gated_proxy(echo_server.port, gate) as slow_port:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await modem.open_connection(ECHO_HOST, slow_port, ssl=ssl_config)
        await eventually(lambda: not modem._ids.closing_orphans, what="the abandoned open handled")
        assert [command.params[0] for command in refused] == [0]
        assert 0 in emulator.sockets  # still opening on the module
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        assert writer.get_extra_info("client_id") == 1
        gate.set()  # the late handshake succeeds: the host closes that socket at once
        await eventually(lambda: 0 not in emulator.sockets, what="the late socket closed")
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        other_reader, other_writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        assert other_writer.get_extra_info("client_id") == 0
        other_writer.write(b"pong")
        assert await other_reader.readexactly(4) == b"pong"
        for stream in (writer, other_writer):
            stream.close()
            await stream.wait_closed()
    assert await modem.ssl_state() == []


async def test_a_close_the_module_did_not_answer_does_not_free_the_id_it_still_holds(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    _reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert writer.get_extra_info("client_id") == 0
    emulator.mute_next_command("+QSSLCLOSE")
    writer.transport.abort()
    with contextlib.suppress(QuectelError):
        await writer.wait_closed()
    assert 0 in emulator.sockets  # the module never got to close it
    # The next socket must not be opened on the ID the module still holds.
    other_reader, other_writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    other_writer.write(b"ping")
    assert await other_reader.readexactly(4) == b"ping"
    other_writer.close()
    await other_writer.wait_closed()
    await eventually(lambda: not emulator.sockets, what="every module socket closed")
    assert await modem.ssl_state() == []


async def test_close_after_the_peer_closed_with_writes_still_queued_does_not_hang(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    # The peer has answered and hung up while the application still had bytes
    # queued (SEND FAIL) and had not read the answer (reading paused): close()
    # must not wait for a flush that can no longer happen.
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, limit=1024)
    writer.write(os.urandom(8000))
    await writer.drain()
    transport = writer.transport
    assert isinstance(transport, ModemSocketTransport)
    await eventually(lambda: not transport.is_reading(), what="reading paused by the full reader")
    emulator.fail_next_sends(10**6)
    writer.write(os.urandom(3000))
    await eventually(lambda: emulator._faults.fail_sends < 10**6, what="a SEND FAIL")
    emulator.inject_raw(b'\r\n+QSSLURC: "closed",0\r\n')
    await eventually(lambda: transport._remote_closed, what="the close URC seen")
    writer.close()
    async with asyncio.timeout(5):
        await writer.wait_closed()
    assert len(await reader.read()) >= 1024  # what was received stays readable


async def test_pdp_deactivation_fails_an_open_in_progress_on_that_context(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    gate = asyncio.Event()
    async with _gated_proxy(echo_server.port, gate) as slow_port:
        opening = asyncio.create_task(modem.open_connection(ECHO_HOST, slow_port, ssl=ssl_config))
        await eventually(lambda: 0 in emulator.sockets, what="the handshake under way")
        emulator.deactivate_pdp(1)
        with pytest.raises(SocketBroken, match="PDP"):
            async with asyncio.timeout(5):
                await opening
    # The ID was closed on the module and is free again.
    await modem.activate_pdp(1, apn="internet")
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert writer.get_extra_info("client_id") == 0
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    writer.close()
    await writer.wait_closed()


async def test_a_restart_whose_rdy_went_to_another_port_is_seen_by_the_returning_echo(
    echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    # A UART host with the factory urcport "usbat" never sees RDY; the restart
    # still shows, as the command echo the module turns back on.
    config = EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, urcport="usbat")
    emulator = ModemEmulator(config)
    try:
        async with emulator.serve_pty() as device, Modem.open(device, margin=1.0) as modem:
            await modem.activate_pdp(1, apn="internet")
            reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
            writer.close()
            await writer.wait_closed()
            emulator.restart()
            await eventually(lambda: not emulator.booting, what="the module booted")
            # The application sees its network go and brings it back.
            await modem.activate_pdp(1, apn="internet")
            try:
                reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
            finally:
                # Never an open with the module's forgotten (unverified) settings.
                assert [settings.seclevel for _, settings in emulator.opened_with][1:] == [1]
            assert modem.boot_epoch == 1
            writer.write(b"ping")
            assert await reader.readexactly(4) == b"ping"
            writer.close()
            await writer.wait_closed()
    finally:
        await emulator.aclose()


def _refuse_reads_when_closed(monkeypatch: pytest.MonkeyPatch, *, even_with_data: bool) -> None:
    """QSSLRECV answers ERROR once the connection is "closing" (the note: "abnormally closed")."""
    original = HANDLERS["+QSSLRECV"]

    async def handler(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        client_id = command.params[0] if command.params else None
        sock = emu.sockets.get(client_id) if isinstance(client_id, int) else None
        if (
            sock is not None
            and tuple(command.params[1:]) != (0,)
            and sock.state is SocketState.CLOSING
            and (even_with_data or not sock.recv_buffer)
        ):
            emu.last_error = 567  # socket has been closed
            return b"\r\nERROR\r\n"
        return await original(emu, command)

    monkeypatch.setitem(HANDLERS, "+QSSLRECV", handler)


@contextlib.asynccontextmanager
async def _speak_and_hang_up(cert: IssuedCert, body: bytes) -> AsyncIterator[TlsTestServer]:
    async def handler(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(body)
        await writer.drain()
        writer.close()

    async with await start_tls_server(server_ssl_context(cert.chain_pem, cert.key_pem), handler) as server:
        yield server


async def test_a_module_refusing_reads_after_closed_still_ends_the_stream_cleanly(
    modem: Modem,
    emulator: ModemEmulator,
    server_cert: IssuedCert,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _refuse_reads_when_closed(monkeypatch, even_with_data=False)
    body = os.urandom(20_000)
    async with _speak_and_hang_up(server_cert, body) as server:
        reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=ssl_config)
        async with asyncio.timeout(10):
            assert await reader.read() == body
        assert reader.at_eof()
        writer.close()
        await writer.wait_closed()
    assert count(emulator, "+QSSLCLOSE") == 1


async def test_a_module_refusing_reads_with_data_unread_is_not_a_clean_end(
    modem: Modem,
    emulator: ModemEmulator,
    server_cert: IssuedCert,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _refuse_reads_when_closed(monkeypatch, even_with_data=True)
    async with _speak_and_hang_up(server_cert, os.urandom(20_000)) as server:
        reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=ssl_config, limit=1024)
        await eventually(lambda: any(s.state is SocketState.CLOSING for s in emulator.sockets.values()))

        async def read_all() -> None:
            while await reader.read(1024):
                pass

        with pytest.raises(SocketBroken):
            await asyncio.wait_for(read_all(), 10)
        writer.close()
        with pytest.raises(SocketBroken):
            await writer.wait_closed()


async def test_a_send_refused_because_the_peer_closed_leaves_its_answer_readable(
    modem: Modem,
    emulator: ModemEmulator,
    server_cert: IssuedCert,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server answered and hung up (an HTTP 413, say) while the client was
    # still sending; the module refuses the next chunk with ERROR before its
    # "closed" URC is out. The answer it holds must still reach the reader.
    body = os.urandom(20_000)
    late: list[asyncio.TimerHandle] = []
    original = emulator.socket_closed

    def late_urc(sock: Any) -> None:
        late.append(asyncio.get_running_loop().call_later(2.0, original, sock))

    monkeypatch.setattr(emulator, "socket_closed", late_urc)
    try:
        async with _speak_and_hang_up(server_cert, body) as server:
            reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=ssl_config, limit=1024)
            await eventually(lambda: any(s.state is SocketState.CLOSING for s in emulator.sockets.values()))
            writer.write(b"the rest of the request")
            await eventually(lambda: count(emulator, "+QSSLSEND") == 1, what="the refused send")
            async with asyncio.timeout(1.5):  # before the late URC
                assert await reader.read() == body
            writer.close()
            await writer.wait_closed()
        assert count(emulator, "+QSSLCLOSE") == 1
    finally:
        for handle in late:
            handle.cancel()


async def test_a_lost_closed_urc_is_recovered_by_the_idle_poll(
    modem: Modem,
    emulator: ModemEmulator,
    server_cert: IssuedCert,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import quectel_aio.transport as transport_module

    monkeypatch.setattr(transport_module, "RECV_POLL_INTERVAL", 0.3)
    monkeypatch.setattr(emulator, "socket_closed", lambda sock: None)  # the URC is lost on the wire
    body = os.urandom(5000)
    async with _speak_and_hang_up(server_cert, body) as server:
        reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=ssl_config)
        async with asyncio.timeout(5):
            assert await reader.read() == body  # then EOF, not a reader waiting for ever
        writer.close()
        await writer.wait_closed()
    assert count(emulator, "+QSSLCLOSE") == 1
    assert not emulator.sockets


async def test_data_just_before_a_lost_closed_urc_is_read_before_the_end(
    modem: Modem,
    emulator: ModemEmulator,
    server_cert: IssuedCert,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The idle poll found nothing; the peer's last bytes and its close then
    # arrive before the state query, with both URCs lost on the wire.
    import quectel_aio.transport as transport_module

    monkeypatch.setattr(transport_module, "RECV_POLL_INTERVAL", 0.3)
    monkeypatch.setattr(emulator, "socket_closed", lambda sock: None)
    tail = b"the last words"
    original = HANDLERS["+QSSLSTATE"]

    async def handler(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        for sock in emu.sockets.values():
            if sock.state is SocketState.CLOSING and tail not in sock.recv_buffer:
                sock.recv_buffer += tail
                sock.total_received += len(tail)
        return await original(emu, command)

    monkeypatch.setitem(HANDLERS, "+QSSLSTATE", handler)
    body = os.urandom(5000)
    async with _speak_and_hang_up(server_cert, body) as server:
        reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=ssl_config)
        async with asyncio.timeout(5):
            assert await reader.read() == body + tail
        writer.close()
        await writer.wait_closed()


async def test_a_refused_read_on_a_socket_that_is_not_closing_is_no_end_of_stream(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The module has nothing unread but the connection is up: an ERROR to
    # QSSLRECV is then no proof that the peer ended the stream.
    import quectel_aio.transport as transport_module

    monkeypatch.setattr(transport_module, "RECV_POLL_INTERVAL", 0.3)
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    emulator.fail_next_command("AT+QSSLRECV")
    with pytest.raises(SocketBroken):
        async with asyncio.timeout(5):
            await reader.read(100)
    writer.close()
    with pytest.raises(SocketBroken):
        await writer.wait_closed()


async def test_a_writer_waiting_in_drain_when_the_peer_closes_goes_on_to_read_the_answer(
    modem: Modem,
    emulator: ModemEmulator,
    server_cert: IssuedCert,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The application writes more than the high-water mark and waits in
    # drain(); the server answers and hangs up without reading it, and the
    # module refuses the next send. What is still queued can never be sent,
    # so drain() must not wait for it.
    body = os.urandom(20_000)
    monkeypatch.setattr(emulator, "socket_closed", lambda sock: None)  # the URC is lost
    async with _speak_and_hang_up(server_cert, body) as server:
        reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=ssl_config, limit=1024)
        await eventually(lambda: any(s.state is SocketState.CLOSING for s in emulator.sockets.values()))
        writer.write(os.urandom(200_000))
        async with asyncio.timeout(5):
            await writer.drain()
            assert await reader.read() == body
        writer.close()
        await writer.wait_closed()
