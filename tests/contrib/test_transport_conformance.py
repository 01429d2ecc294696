"""The asyncio transport contract, checked the same way on asyncio's own TLS transport and the modem's.

Each test runs twice: against ``loop.create_connection(..., ssl=...)`` to a TLS
peer on loopback (the reference behaviour) and against
``Modem.create_connection`` through the emulator to the same peer. Where the
two must differ by design (no TLS context on the host, extra socket info) the
test says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest

from quectel_aio import SSLConfig
from quectel_aio.testing import CertificateAuthority

from .conftest import PEER_HOST, open_emulated_modem
from .peer import PeerServer, pattern

HIGH_WATER = 16 * 1024
LOW_WATER = 4 * 1024
#: Upper bound for "write until the transport pauses": far above loopback socket buffers.
FILL_LIMIT = 64 * 1024 * 1024

ProtocolFactory = Callable[[], asyncio.Protocol]


class RecordingProtocol(asyncio.Protocol):
    """Records every callback, its order, and any nesting or post-mortem call."""

    def __init__(self, *, pause_on_made: bool = False) -> None:
        self.events: list[str] = []
        self.chunks: list[bytes] = []
        self.violations: list[str] = []
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.paused = asyncio.Event()
        self.more_data = asyncio.Event()
        self.resumed = asyncio.Event()
        self.buffer_at_resume = -1
        self.pause_on_made = pause_on_made
        self._depth = 0
        self._in_transport_call = ""

    @contextlib.contextmanager
    def _callback(self, name: str) -> Iterator[None]:
        if self._depth:
            self.violations.append(f"{name} inside another callback")
        if self._in_transport_call:
            self.violations.append(f"{name} from inside transport.{self._in_transport_call}()")
        if "connection_lost" in self.events:
            self.violations.append(f"{name} after connection_lost")
        self.events.append(name)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def call(self, method: Callable[[], object]) -> None:
        """Call a transport method, noting that no delivery callback may run inside it."""
        self._in_transport_call = getattr(method, "__name__", "?")
        try:
            method()
        finally:
            self._in_transport_call = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        with self._callback("connection_made"):
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport
            transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
            if self.pause_on_made:
                transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        with self._callback("data_received"):
            if not isinstance(data, bytes) or not data:
                self.violations.append(f"data_received({data!r:.40})")
            self.chunks.append(data)
            self.more_data.set()

    def eof_received(self) -> bool | None:
        with self._callback("eof_received"):
            return None

    def connection_lost(self, exc: Exception | None) -> None:
        with self._callback("connection_lost"):
            if self.lost.done():
                self.violations.append("connection_lost twice")
            else:
                self.lost.set_result(exc)

    # Flow control may legitimately be called from inside write(): no _callback check.
    def pause_writing(self) -> None:
        self.events.append("pause_writing")
        self.paused.set()

    def resume_writing(self) -> None:
        self.events.append("resume_writing")
        assert self.transport is not None
        self.buffer_at_resume = self.transport.get_write_buffer_size()
        self.resumed.set()

    @property
    def received(self) -> bytes:
        return b"".join(self.chunks)

    async def wait_received(self, size: int, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while sum(map(len, self.chunks)) < size:
                self.more_data.clear()
                await self.more_data.wait()

    def count(self, name: str) -> int:
        return self.events.count(name)


@dataclass
class Side:
    """One kind of transport under test."""

    kind: str
    peer: PeerServer
    connect: Callable[[ProtocolFactory], Awaitable[tuple[asyncio.BaseTransport, asyncio.BaseProtocol]]]
    open_streams: Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

    async def open(self, **kwargs: bool) -> tuple[asyncio.Transport, RecordingProtocol]:
        transport, protocol = await self.connect(lambda: RecordingProtocol(**kwargs))
        assert isinstance(transport, asyncio.Transport)
        assert isinstance(protocol, RecordingProtocol)
        # asyncio's create_connection returns after connection_made; tolerate one
        # scheduled callback here so the other checks run on both sides.
        await asyncio.sleep(0)
        return transport, protocol


@pytest.fixture(params=["loopback", "modem"])
async def side(
    request: pytest.FixtureRequest, peer: PeerServer, ca: CertificateAuthority, ssl_config: SSLConfig
) -> AsyncIterator[Side]:
    loop = asyncio.get_running_loop()
    if request.param == "loopback":
        client_ctx = ssl.create_default_context(cadata=ca.cert_pem.decode("ascii"))

        async def connect_loopback(
            factory: ProtocolFactory,
        ) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
            return await loop.create_connection(
                factory, "127.0.0.1", peer.port, ssl=client_ctx, server_hostname=PEER_HOST
            )

        async def streams_loopback() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await asyncio.open_connection(
                "127.0.0.1", peer.port, ssl=client_ctx, server_hostname=PEER_HOST
            )

        yield Side("loopback", peer, connect_loopback, streams_loopback)
        return

    async with open_emulated_modem() as modem:

        async def connect_modem(
            factory: ProtocolFactory,
        ) -> tuple[asyncio.BaseTransport, asyncio.BaseProtocol]:
            return await modem.create_connection(factory, PEER_HOST, peer.port, ssl=ssl_config)

        async def streams_modem() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            return await modem.open_connection(PEER_HOST, peer.port, ssl=ssl_config)

        yield Side("modem", peer, connect_modem, streams_modem)


def header(mode: bytes, size: int) -> bytes:
    return mode + size.to_bytes(8, "big")


async def fill_until_paused(transport: asyncio.Transport, protocol: RecordingProtocol) -> bytes:
    """Write random chunks until the transport calls pause_writing (the peer is not reading)."""
    sent = bytearray()
    while not protocol.paused.is_set():
        assert len(sent) < FILL_LIMIT, "pause_writing never came"
        piece = os.urandom(256 * 1024)
        transport.write(piece)
        sent += piece
        await asyncio.sleep(0)
    return bytes(sent)


async def test_create_connection_returns_after_connection_made(side: Side) -> None:
    transport, protocol = await side.connect(RecordingProtocol)
    assert isinstance(transport, asyncio.Transport)
    assert isinstance(protocol, RecordingProtocol)
    try:
        assert protocol.events == ["connection_made"]
        assert protocol.transport is transport
    finally:
        transport.abort()
        await asyncio.wait_for(protocol.lost, 10)


async def test_made_once_then_every_chunk_in_order(side: Side) -> None:
    transport, protocol = await side.open()
    data = pattern(200_000)
    transport.write(b"E")
    for offset in range(0, len(data), 7000):
        transport.write(data[offset : offset + 7000])
    await protocol.wait_received(len(data))
    assert protocol.received == data
    assert protocol.events[0] == "connection_made"
    assert protocol.count("connection_made") == 1
    assert protocol.count("data_received") == len(protocol.chunks) >= 1
    protocol.call(transport.close)
    assert transport.is_closing()
    assert await asyncio.wait_for(protocol.lost, 10) is None
    assert protocol.violations == []


async def test_eof_once_then_connection_lost_once(side: Side) -> None:
    transport, protocol = await side.open()
    transport.write(header(b"C", 100_000))
    assert await asyncio.wait_for(protocol.lost, 20) is None
    await asyncio.sleep(0.05)  # anything late would show up as a violation
    assert protocol.received == pattern(100_000)
    assert protocol.count("eof_received") == 1
    assert protocol.count("connection_lost") == 1
    assert protocol.events[-2:] == ["eof_received", "connection_lost"]
    assert transport.is_closing()
    assert protocol.violations == []


async def test_water_marks_pause_and_resume_writing(side: Side) -> None:
    transport, protocol = await side.open()
    assert transport.get_write_buffer_limits() == (LOW_WATER, HIGH_WATER)
    transport.write(b"S")
    await asyncio.wait_for(side.peer.sink_ready.wait(), 10)
    sent = await fill_until_paused(transport, protocol)
    assert transport.get_write_buffer_size() > HIGH_WATER
    assert not protocol.resumed.is_set()
    side.peer.release()
    await asyncio.wait_for(protocol.resumed.wait(), 30)
    assert 0 <= protocol.buffer_at_resume <= LOW_WATER
    assert protocol.events.index("pause_writing") < protocol.events.index("resume_writing")
    protocol.call(transport.close)
    assert await asyncio.wait_for(protocol.lost, 30) is None
    record = side.peer.records[-1]
    await asyncio.wait_for(record.lost.wait(), 10)
    assert record.received == len(sent)
    assert protocol.violations == []


async def test_drain_waits_until_the_buffer_is_below_low_water(side: Side) -> None:
    reader, writer = await side.open_streams()
    transport = writer.transport
    assert isinstance(transport, asyncio.Transport)
    transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
    writer.write(b"S")
    await asyncio.wait_for(side.peer.sink_ready.wait(), 10)
    total = 1
    while transport.get_write_buffer_size() <= HIGH_WATER:
        assert total < FILL_LIMIT
        writer.write(os.urandom(256 * 1024))
        total += 256 * 1024
        await asyncio.sleep(0)
    sizes_when_done: list[int] = []
    drain = asyncio.ensure_future(writer.drain())
    drain.add_done_callback(lambda _: sizes_when_done.append(transport.get_write_buffer_size()))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not drain.done()
    side.peer.release()
    await asyncio.wait_for(drain, 30)
    assert sizes_when_done
    assert sizes_when_done[0] <= LOW_WATER
    writer.close()
    await asyncio.wait_for(writer.wait_closed(), 30)
    record = side.peer.records[-1]
    await asyncio.wait_for(record.lost.wait(), 10)
    assert record.received == total - 1
    assert reader.at_eof() or not await reader.read()


async def test_pause_and_resume_reading(side: Side) -> None:
    transport, protocol = await side.open(pause_on_made=True)
    assert not transport.is_reading()
    transport.write(header(b"P", 64_000))
    await asyncio.sleep(0.3)  # the peer has sent everything by now
    assert protocol.chunks == []
    transport.resume_reading()
    assert transport.is_reading()
    await protocol.wait_received(64_000)
    assert protocol.received == pattern(64_000)
    protocol.call(transport.close)
    assert await asyncio.wait_for(protocol.lost, 10) is None
    assert protocol.violations == []


async def test_close_flushes_buffered_writes_then_closes(side: Side) -> None:
    transport, protocol = await side.open()
    transport.write(b"S")
    await asyncio.wait_for(side.peer.sink_ready.wait(), 10)
    sent = await fill_until_paused(transport, protocol)
    protocol.call(transport.close)
    protocol.call(transport.close)  # idempotent
    assert transport.is_closing()
    assert not protocol.lost.done()
    side.peer.release()
    assert await asyncio.wait_for(protocol.lost, 30) is None
    record = side.peer.records[-1]
    await asyncio.wait_for(record.lost.wait(), 10)
    assert record.received == len(sent)
    assert protocol.count("connection_lost") == 1
    assert protocol.violations == []


class CloseOnFirstData(RecordingProtocol):
    """Closes its transport in its first ``data_received``."""

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if len(self.chunks) == 1:
            assert self.transport is not None
            self.transport.close()
            self.events.append("closed")


async def test_no_data_is_received_after_close(side: Side) -> None:
    transport, protocol = await side.connect(CloseOnFirstData)
    assert isinstance(transport, asyncio.Transport)
    assert isinstance(protocol, CloseOnFirstData)
    # The echo keeps coming while close() flushes the rest of the upload.
    transport.write(b"E" + os.urandom(200_000))
    await asyncio.wait_for(protocol.lost, 30)
    await asyncio.sleep(0.05)  # anything late would show up
    # "No more data will be received" (BaseTransport.close()).
    after_close = protocol.events[protocol.events.index("closed") + 1 :]
    assert "data_received" not in after_close
    assert after_close[-1] == "connection_lost"


async def test_abort_drops_buffered_writes(side: Side) -> None:
    transport, protocol = await side.open()
    transport.write(b"S")
    await asyncio.wait_for(side.peer.sink_ready.wait(), 10)
    sent = await fill_until_paused(transport, protocol)
    protocol.call(transport.abort)
    protocol.call(transport.abort)
    protocol.call(transport.close)
    assert transport.is_closing()
    side.peer.release()
    assert await asyncio.wait_for(protocol.lost, 20) is None
    record = side.peer.records[-1]
    await asyncio.wait_for(record.lost.wait(), 10)
    assert record.received < len(sent)
    await asyncio.sleep(0.05)
    assert protocol.count("connection_lost") == 1
    assert protocol.violations == []


async def test_abort_does_not_wait_for_a_stalled_peer(side: Side) -> None:
    transport, protocol = await side.open()
    transport.write(b"S")
    await asyncio.wait_for(side.peer.sink_ready.wait(), 10)
    try:
        await fill_until_paused(transport, protocol)
        protocol.call(transport.abort)
        # Well under the module's default 10 s graceful close: an abort must not wait for the peer.
        assert await asyncio.wait_for(asyncio.shield(protocol.lost), 3) is None
    finally:
        side.peer.release()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(protocol.lost, 20)
    assert protocol.violations == []


async def test_no_half_close(side: Side) -> None:
    transport, protocol = await side.open()
    try:
        # asyncio's TLS transport cannot half-close either; the modem documents the same.
        assert transport.can_write_eof() is False
    finally:
        transport.abort()
        await asyncio.wait_for(protocol.lost, 10)


async def test_write_eof_raises_not_implemented(side: Side) -> None:
    transport, protocol = await side.open()
    try:
        with pytest.raises(NotImplementedError):
            transport.write_eof()
    finally:
        transport.abort()
        await asyncio.wait_for(protocol.lost, 10)


async def test_extra_info(side: Side) -> None:
    transport, protocol = await side.open()
    try:
        peername = transport.get_extra_info("peername")
        assert isinstance(peername, tuple)
        assert peername[1] == side.peer.port
        assert transport.get_extra_info("no such key", "fallback") == "fallback"
        if side.kind == "loopback":
            assert isinstance(transport.get_extra_info("sslcontext"), ssl.SSLContext)
            return
        # TLS runs on the module: no host SSLContext; the module's identifiers instead.
        assert peername == (PEER_HOST, side.peer.port)
        assert transport.get_extra_info("sslcontext", "missing") is None
        socket_id = transport.get_extra_info("socket_id")
        assert isinstance(socket_id, int)
        assert 0 <= socket_id <= 11
        assert transport.get_extra_info("client_id") == socket_id
        ctx_id = transport.get_extra_info("quectel_ssl_ctx")
        assert isinstance(ctx_id, int)
        assert 0 <= ctx_id <= 5
    finally:
        transport.abort()
        await asyncio.wait_for(protocol.lost, 10)


class EofRaisingProtocol(RecordingProtocol):
    """A protocol whose eof_received() has a bug."""

    def eof_received(self) -> bool | None:
        super().eof_received()
        raise ValueError("bug in eof_received")


async def test_a_raising_eof_received_ends_the_connection_once(side: Side) -> None:
    transport, protocol = await side.connect(EofRaisingProtocol)
    assert isinstance(transport, asyncio.Transport)
    assert isinstance(protocol, EofRaisingProtocol)
    transport.write(header(b"C", 10_000))
    # Like data_received: the protocol's bug is the connection's error, never a silent stall.
    exc = await asyncio.wait_for(protocol.lost, 20)
    assert isinstance(exc, Exception)
    assert protocol.received == pattern(10_000)
    assert protocol.count("eof_received") == 1
    assert protocol.count("connection_lost") == 1
    assert transport.is_closing()
    assert protocol.violations == []


class FlowRaisingProtocol(RecordingProtocol):
    """A protocol whose pause_writing() and resume_writing() have a bug."""

    def pause_writing(self) -> None:
        super().pause_writing()
        raise ValueError("bug in pause_writing")

    def resume_writing(self) -> None:
        super().resume_writing()
        raise ValueError("bug in resume_writing")


async def test_raising_flow_control_callbacks_are_reported_and_the_data_still_goes(side: Side) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        transport, protocol = await side.connect(FlowRaisingProtocol)
        assert isinstance(transport, asyncio.Transport)
        assert isinstance(protocol, FlowRaisingProtocol)
        transport.write(b"S")
        await asyncio.wait_for(side.peer.sink_ready.wait(), 10)
        sent = await fill_until_paused(transport, protocol)
        side.peer.release()
        await asyncio.wait_for(protocol.resumed.wait(), 30)
        protocol.call(transport.close)
        assert await asyncio.wait_for(protocol.lost, 30) is None
        record = side.peer.records[-1]
        await asyncio.wait_for(record.lost.wait(), 10)
        assert record.received == len(sent)
    finally:
        loop.set_exception_handler(previous)
    # asyncio's transports hand such errors to the loop's exception handler and carry on.
    errors = [context.get("exception") for context in reported]
    assert any(isinstance(exc, ValueError) and "pause_writing" in str(exc) for exc in errors)
    assert any(isinstance(exc, ValueError) and "resume_writing" in str(exc) for exc in errors)


async def test_write_after_close_is_dropped_without_an_error(side: Side) -> None:
    transport, protocol = await side.open()
    transport.write(b"E")
    transport.write(b"before close")
    await protocol.wait_received(12)
    protocol.call(transport.close)
    # A late write (a keep-alive timer, a racing task) must not raise: asyncio's
    # transports drop it once close() was called.
    transport.write(b"after close")
    transport.writelines([b"and", b"more"])
    assert await asyncio.wait_for(protocol.lost, 10) is None
    transport.write(b"after connection_lost")
    record = side.peer.records[-1]
    await asyncio.wait_for(record.lost.wait(), 10)
    assert record.received == 12
    assert protocol.violations == []
