"""Transparent access mode end to end: raw pipe, +++ exit, re-entry, NO CARRIER, port exclusivity."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from quectel_aio import (
    AccessMode,
    LocalProtocolError,
    Modem,
    ModemUnavailable,
    PortBusy,
    SocketBroken,
    SSLConfig,
)
from quectel_aio._memory_ports import memory_port_pair
from quectel_aio.testing import EmulatorConfig, ModemEmulator, TlsTestServer

from ..conftest import ECHO_HOST
from ..helpers import commands, count, eventually
from .conftest import GUARD, HOST_GUARD, pattern

TOKENS = (
    b'\r\nOK\r\n+QSSLURC: "closed",0\r\n\r\nSEND OK\r\n> \r\nERROR\r\nCONNECT\r\n'
    b"+++AT\r\n+QSSLRECV: 1500\r\nNO CARRIER\x00\xff\r\n"
)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, chunk: int) -> bytes:
    """Write ``data`` while reading the echo concurrently; return what came back."""

    async def send() -> None:
        for offset in range(0, len(data), chunk):
            writer.write(data[offset : offset + chunk])
            await writer.drain()

    sender = asyncio.create_task(send())
    received = await reader.readexactly(len(data))
    await sender
    return received


async def test_one_mebibyte_both_ways_through_transparent_mode(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    assert writer.transport.get_extra_info("access_mode") is AccessMode.TRANSPARENT
    assert modem.transparent_client == writer.transport.get_extra_info("client_id")
    data = pattern(1 << 20)
    received = await echo(reader, writer, data, 32 * 1024)
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(data).hexdigest()
    assert count(emulator, "+QSSLSEND") == 0
    assert count(emulator, "+QSSLRECV") == 0
    assert commands(emulator, "+QSSLOPEN")[-1][-1] == 2
    writer.close()
    await writer.wait_closed()
    # Closing leaves transparent mode first (+++ then OK), then closes the socket.
    assert modem.transparent_client is None
    assert count(emulator, "+QSSLCLOSE") == 1


async def test_protocol_tokens_pass_through_raw(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    data = TOKENS * 50
    assert await echo(reader, writer, data, 97) == data
    # A message that ends in CR LF is held back only for the idle hold, then delivered.
    writer.write(b"line\r\n")
    async with asyncio.timeout(5):
        assert await reader.readexactly(6) == b"line\r\n"
    writer.close()
    await writer.wait_closed()


async def test_exit_and_reenter_transparent_mode(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    transport = writer.transport
    client_id = transport.get_extra_info("client_id")
    assert await echo(reader, writer, b"first", 5) == b"first"
    await transport.switch_mode("buffer")  # type: ignore[attr-defined]
    assert transport.get_extra_info("access_mode") is AccessMode.BUFFER
    assert modem.transparent_client is None
    assert await modem.command("AT") == []  # the port carries commands again
    assert await echo(reader, writer, TOKENS, 1460) == TOKENS
    assert count(emulator, "+QSSLSEND") >= 1
    await transport.switch_mode("transparent")  # type: ignore[attr-defined]
    assert commands(emulator, "+QISWTMD")[-1] == (client_id, 2)
    assert modem.transparent_client == client_id
    assert await echo(reader, writer, b"again", 5) == b"again"
    await transport.switch_mode("push")  # type: ignore[attr-defined]
    assert commands(emulator, "+QISWTMD")[-1] == (client_id, 1)
    assert await echo(reader, writer, b"pushed", 6) == b"pushed"
    writer.close()
    await writer.wait_closed()


async def test_other_commands_wait_for_the_port_or_raise_port_busy(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    with pytest.raises(PortBusy, match=r"client 0\b.*switch_mode\(.buffer.\)"):
        await modem.command("AT+CSQ", wait=False)
    waiting = asyncio.create_task(modem.command("AT+CSQ"))
    # While the port is transparent the command waits and the socket keeps working.
    assert await echo(reader, writer, b"still mine", 3) == b"still mine"
    assert not waiting.done()
    await writer.transport.switch_mode("buffer")  # type: ignore[attr-defined]
    async with asyncio.timeout(5):
        lines = await waiting
    assert lines[0].startswith("+CSQ:")
    writer.close()
    await writer.wait_closed()


async def test_no_carrier_is_end_of_stream(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    client_id = writer.transport.get_extra_info("client_id")
    assert await echo(reader, writer, b"before", 6) == b"before"
    emulator.close_from_peer(client_id)
    async with asyncio.timeout(5):
        assert await reader.read() == b""
    await eventually(lambda: count(emulator, "+QSSLCLOSE") == 1, what="QSSLCLOSE after NO CARRIER")
    assert modem.transparent_client is None
    assert await modem.command("AT") == []
    writer.close()
    await writer.wait_closed()


async def test_buffer_mode_sockets_share_the_port_around_a_transparent_session(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    buffered = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    raw = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent")
    buffered[1].write(b"queued while the port is transparent")
    assert await echo(*raw, b"raw data", 8) == b"raw data"
    await raw[1].transport.switch_mode("buffer")  # type: ignore[attr-defined]
    async with asyncio.timeout(10):
        assert await buffered[0].readexactly(36) == b"queued while the port is transparent"
    for _, writer in (buffered, raw):
        writer.close()
        await writer.wait_closed()


class _PausedProtocol(asyncio.Protocol):
    """Pauses reading as soon as it is connected; records what still arrives."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        self.received += data

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


async def test_another_socket_resuming_does_not_resume_a_paused_transparent_session(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    _, other = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    raw, protocol = await modem.create_connection(
        _PausedProtocol, ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    assert isinstance(protocol, _PausedProtocol)
    assert not raw.is_reading()
    # A read already under way when reading paused may still deliver; the one
    # after it waits for resume_reading().
    raw.write(b"first echo;")
    await asyncio.sleep(0.3)  # the echo is back by now
    raw.write(b"second echo")
    await asyncio.sleep(0.3)
    before = bytes(protocol.received)
    assert before != b"first echo;second echo"
    # A buffer-mode socket's StreamReader pauses and resumes its own transport.
    assert isinstance(other.transport, asyncio.Transport)
    other.transport.pause_reading()
    other.transport.resume_reading()
    await asyncio.sleep(0.3)
    assert protocol.received == before, "the paused transparent session was read"
    raw.resume_reading()
    await eventually(lambda: protocol.received == b"first echo;second echo", 10)
    raw.close()
    assert await asyncio.wait_for(protocol.lost, 10) is None
    other.close()
    await other.wait_closed()


@contextlib.asynccontextmanager
async def _guarded_session(
    module_guard: float, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> AsyncIterator[tuple[Modem, asyncio.StreamReader, asyncio.StreamWriter]]:
    """A modem whose host guard (0.05 s, so 0.1 s of silence) is shorter than the module's."""
    emulator = ModemEmulator(
        EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, escape_guard_time=module_guard)
    )
    try:
        async with (
            emulator.serve_pty() as path,
            # The pty is unpaced: a line speed to match, so that no bytes the
            # host wrote earlier are still counted on the line before "+++".
            Modem.open(path, baudrate=4_000_000, margin=0.5, escape_guard_time=0.05) as modem,
        ):
            await modem.activate_pdp(1, apn="internet")
            reader, writer = await modem.open_connection(
                ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
            )
            assert await echo(reader, writer, b"x", 1) == b"x"
            yield modem, reader, writer
    finally:
        await emulator.aclose()


async def test_escape_taken_as_data_then_accepted_fails_only_the_socket(
    echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    # The first "+++" follows 0.1 s of silence, less than the module's 0.12 s: it is
    # data and reaches the echo server. The second follows a long wait and works.
    async with _guarded_session(0.12, echo_server, ssl_config) as (modem, reader, writer):
        with pytest.raises(SocketBroken, match="taken as data"):
            await writer.transport.switch_mode("buffer")  # type: ignore[attr-defined]
        with pytest.raises(SocketBroken):
            await reader.read()
        assert modem.transparent_client is None
        assert await modem.command("AT") == []


async def test_escape_never_accepted_fails_the_channel(
    echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    async with _guarded_session(5.0, echo_server, ssl_config) as (modem, _, writer):
        with pytest.raises(ModemUnavailable, match=r"did not leave transparent mode"):
            await writer.transport.switch_mode("buffer")  # type: ignore[attr-defined]
        with pytest.raises(ModemUnavailable):
            await modem.command("AT")


async def test_escape_never_accepted_during_close_leaves_no_unretrieved_error(
    echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    """A close (as at Ctrl-C) whose +++ goes unanswered: asyncio reports no lost exception."""
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
    try:
        async with _guarded_session(5.0, echo_server, ssl_config) as (modem, reader, writer):
            writer.close()
            await writer.transport._wait_finished()  # type: ignore[attr-defined]
            assert isinstance(modem._channel.failure, ModemUnavailable)
        del modem, reader, writer
        gc.collect()
        assert reported == []
    finally:
        loop.set_exception_handler(previous)


@contextlib.asynccontextmanager
async def _gated_proxy(target_port: int) -> AsyncIterator[tuple[int, asyncio.Event]]:
    """A TCP proxy to ``target_port`` that holds each connection until the gate opens."""
    gate = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers = [writer]
        try:
            await gate.wait()
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
            writers.append(up_writer)
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            for each in writers:
                each.close()
                with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                    await each.wait_closed()

    def spawn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(handle(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(spawn, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], gate
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def test_cancelled_transparent_open_is_left_and_closed(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    """CONNECT arriving after the caller gave up: +++, then QSSLCLOSE; the port stays usable."""
    async with _gated_proxy(echo_server.port) as (proxy_port, gate):
        opens = count(emulator, "+QSSLOPEN")
        opening = asyncio.create_task(
            modem.open_connection(ECHO_HOST, proxy_port, ssl=ssl_config, mode="transparent")
        )
        await eventually(lambda: count(emulator, "+QSSLOPEN") == opens + 1, what="QSSLOPEN sent")
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        gate.set()  # the handshake completes now: CONNECT reaches a host that stopped waiting
        await eventually(lambda: count(emulator, "+QSSLCLOSE") == 1, 10, "the orphan is closed")
        assert await modem.command("AT") == []
        assert modem.transparent_client is None
        assert emulator.sockets == {} or all(s.state.name != "CONNECTED" for s in emulator.sockets.values())


@contextlib.asynccontextmanager
async def _memory_modem(emulator: ModemEmulator, **options: Any) -> AsyncIterator[Modem]:
    """The modem on an in-memory link whose DTR line reaches the emulator."""
    host_port, module_port = memory_port_pair(dtr_listener=emulator.set_dtr)
    emulator.attach(module_port.write)

    async def feed() -> None:
        while data := await module_port.read():
            emulator.feed(data)

    feeder = asyncio.create_task(feed())
    try:
        async with Modem.open(host_port, margin=3.0, **options) as modem:
            await modem.activate_pdp(1, apn="internet")
            yield modem
    finally:
        await module_port.aclose()
        await feeder


async def test_dtr_drop_leaves_transparent_mode_without_guard_times(
    emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    async with _memory_modem(emulator, dtr_escape=True, escape_guard_time=5.0) as modem:
        assert emulator.dtr_mode == 1  # AT&D1 was sent at start
        reader, writer = await modem.open_connection(
            ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
        )
        assert await echo(reader, writer, b"x+++x", 5) == b"x+++x"
        loop = asyncio.get_running_loop()
        started = loop.time()
        await writer.transport.switch_mode("buffer")  # type: ignore[attr-defined]
        assert loop.time() - started < 2.0  # no 5 s guard time was waited
        assert emulator.dtr  # raised again after the exit
        assert modem.transparent_client is None
        assert await echo(reader, writer, b"buffered", 8) == b"buffered"
        writer.close()
        await writer.wait_closed()


async def test_dtr_escape_needs_a_dtr_line(device: str) -> None:
    with pytest.raises(LocalProtocolError, match="DTR"):
        async with Modem.open(device, dtr_escape=True):
            pass


async def test_escape_silence_starts_when_the_written_bytes_have_left_the_line(
    echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    """3 kB still on a 115200 Bd line after drain(): +++ waits for them, no stray +++ reaches the peer."""
    config = EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, escape_guard_time=GUARD, link_baudrate=115200)
    emulator = ModemEmulator(config)
    try:
        async with (
            emulator.serve_pty() as path,
            Modem.open(path, baudrate=115200, margin=3.0, escape_guard_time=HOST_GUARD) as modem,
        ):
            await modem.activate_pdp(1, apn="internet")
            reader, writer = await modem.open_connection(
                ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
            )
            data = pattern(3000)  # 0.26 s on the line, beyond the host's 0.1 s of silence
            writer.write(data)
            await writer.drain()
            await writer.transport.switch_mode("buffer")  # type: ignore[attr-defined]
            assert await reader.readexactly(len(data)) == data
            assert modem.transparent_client is None
            writer.write(b"after")
            assert await reader.readexactly(5) == b"after"  # nothing stray in between
            writer.close()
            await writer.wait_closed()
    finally:
        await emulator.aclose()
