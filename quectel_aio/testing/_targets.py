"""In-process network targets: a byte source and a byte sink without TLS or TCP.

A target stands in for the server at the other end of an emulated SSL
socket. ``EmulatorConfig(targets={"source.test": SourceTarget()})`` makes
``AT+QSSLOPEN`` to ``"source.test"`` connect to the target in memory: no TCP,
no handshake, no certificate check (the SSL context is configured but not
used). What remains is the module model (buffers, URCs, pacing) and the host
stack, which is what a throughput measurement of the host should see.

The connection hands the socket a real :class:`asyncio.StreamReader` /
:class:`asyncio.StreamWriter` pair over an in-memory transport, so the
emulator's socket code runs unchanged, flow control included: a source only
produces while the stream reader is below its limit.

The request protocol matches the benchmark's TLS servers: unless a fixed size
is configured, the client first sends the byte count as 8 bytes big-endian.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "REQUEST_HEADER",
    "SinkTarget",
    "SourceTarget",
    "StreamTarget",
    "TargetRecord",
    "TickerTarget",
    "find_target",
    "pattern_bytes",
]

#: The byte count a client announces: 8 bytes, big-endian, unsigned.
REQUEST_HEADER = struct.Struct(">Q")
#: What a :class:`SinkTarget` answers once the announced count has arrived.
SINK_ACK = b"K"
#: The send time a :class:`TickerTarget` puts at the start of each message (nanoseconds).
TICK_STAMP = struct.Struct(">Q")

_PERIOD = 65536
_BLOCK = random.Random(0x5EED).randbytes(_PERIOD)
_DOUBLE = _BLOCK + _BLOCK
_FEED_CHUNK = 16384
_READER_LIMIT = 65536


def pattern_bytes(offset: int, size: int) -> bytes:
    """The source pattern from ``offset``: fixed pseudo-random bytes, period 64 KiB.

    Args:
        offset: where in the endless pattern to start.
        size: how many bytes to return.

    Returns:
        What a :class:`SourceTarget` sends at that offset.
    """
    out = bytearray()
    while size > 0:
        start = offset % _PERIOD
        n = min(size, _PERIOD)
        out += _DOUBLE[start : start + n]
        offset += n
        size -= n
    return bytes(out)


@dataclass
class TargetRecord:
    """What one connection to a target carried.

    Attributes:
        sent: payload bytes the target produced (source).
        received: payload bytes the target took in, request header excluded.
        sha256: running hash of the received payload.
        closed: the connection has ended.
        first_at: ``time.monotonic()`` when the first payload bytes arrived.
        last_at: ``time.monotonic()`` when the latest payload bytes arrived.
        first_size: how many bytes the first arrival carried.
    """

    sent: int = 0
    received: int = 0
    sha256: Any = field(default_factory=hashlib.sha256)
    closed: bool = False
    first_at: float | None = None
    last_at: float | None = None
    first_size: int = 0

    def arrived(self, data: bytes) -> None:
        """Count, hash and timestamp received payload bytes."""
        now = time.monotonic()
        if self.first_at is None:
            self.first_at, self.first_size = now, len(data)
        self.last_at = now
        self.received += len(data)
        self.sha256.update(data)

    @property
    def digest(self) -> str:
        """Hex sha256 of the received payload."""
        return str(self.sha256.hexdigest())


class _MemoryTransport(asyncio.Transport):
    """The target side of one in-memory connection, seen by the socket as its transport."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connection: _TargetConnection) -> None:
        super().__init__()
        self._loop = loop
        self._connection = connection
        self._closing = False
        self._reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._closing:
            self._connection.received(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 0

    def can_write_eof(self) -> bool:
        return False

    def is_reading(self) -> bool:
        return self._reading

    def pause_reading(self) -> None:
        self._reading = False

    def resume_reading(self) -> None:
        self._reading = True
        self._connection.schedule_feed()

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._connection.record.closed = True
            self._loop.call_soon(self._connection.protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 0), "sockname": ("127.0.0.1", 0)}.get(name, default)


class _TargetConnection:
    def __init__(self, target: StreamTarget, loop: asyncio.AbstractEventLoop) -> None:
        self.target = target
        self.record = TargetRecord()
        self.loop = loop
        self.reader = asyncio.StreamReader(limit=_READER_LIMIT, loop=loop)
        self.protocol = asyncio.StreamReaderProtocol(self.reader, loop=loop)
        self.transport = _MemoryTransport(loop, self)
        self.protocol.connection_made(self.transport)
        self.writer = asyncio.StreamWriter(self.transport, self.protocol, self.reader, loop)
        self.header = bytearray()
        self.announced: int | None = None
        self.to_send = 0
        self._feed_scheduled = False

    def received(self, data: bytes) -> None:
        if self.announced is None and self.target.announced:
            need = REQUEST_HEADER.size - len(self.header)
            self.header += data[:need]
            data = data[need:]
            if len(self.header) < REQUEST_HEADER.size:
                return
            (self.announced,) = REQUEST_HEADER.unpack(self.header)
            self.target.request(self, self.announced)
        if data:
            self.record.arrived(data)
            self.target.payload(self)

    def answer(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.protocol.data_received(data)

    def start_sending(self, size: int) -> None:
        self.to_send += size
        self.schedule_feed()

    def schedule_feed(self) -> None:
        if not self._feed_scheduled and self.to_send > 0:
            self._feed_scheduled = True
            self.loop.call_soon(self._feed)

    def _feed(self) -> None:
        self._feed_scheduled = False
        while self.to_send > 0 and self.transport.is_reading() and not self.transport.is_closing():
            n = min(self.to_send, _FEED_CHUNK)
            self.protocol.data_received(pattern_bytes(self.record.sent, n))
            self.record.sent += n
            self.to_send -= n
        if self.to_send == 0 and self.target.close_when_done and not self.transport.is_closing():
            self.protocol.eof_received()
            self.transport.close()


class StreamTarget:
    """Base of the in-process targets; each connection gets a :class:`TargetRecord`.

    Args:
        announced: the client first sends the byte count (:data:`REQUEST_HEADER`).
        close_when_done: close the connection after the last byte was produced.
    """

    def __init__(self, *, announced: bool, close_when_done: bool = False) -> None:
        self.announced = announced
        self.close_when_done = close_when_done
        #: One record per connection, in connection order.
        self.records: list[TargetRecord] = []

    def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open one connection (called by the emulator's socket, in its event loop)."""
        connection = _TargetConnection(self, asyncio.get_running_loop())
        self.records.append(connection.record)
        self.connected(connection)
        return connection.reader, connection.writer

    def connected(self, connection: _TargetConnection) -> None:
        """Hook: a connection has been opened."""

    def request(self, connection: _TargetConnection, count: int) -> None:
        """Hook: the client announced ``count`` bytes."""

    def payload(self, connection: _TargetConnection) -> None:
        """Hook: payload bytes arrived (already counted and hashed)."""


class SourceTarget(StreamTarget):
    """Produces :func:`pattern_bytes` as fast as the socket takes them.

    Args:
        size: bytes per connection, sent at once; ``None``: the client
            announces the count with :data:`REQUEST_HEADER`.
        close_when_done: close after the last byte (the socket sees the peer
            close); by default the connection stays open until the client closes.
    """

    def __init__(self, size: int | None = None, *, close_when_done: bool = False) -> None:
        if size is not None and size < 0:
            raise ValueError("size must not be negative")
        super().__init__(announced=size is None, close_when_done=close_when_done)
        self.size = size

    def connected(self, connection: _TargetConnection) -> None:
        if self.size is not None:
            connection.start_sending(self.size)

    def request(self, connection: _TargetConnection, count: int) -> None:
        connection.start_sending(count)


class SinkTarget(StreamTarget):
    """Counts and hashes what it receives.

    Args:
        announced: the client first announces the count with
            :data:`REQUEST_HEADER`; the sink answers :data:`SINK_ACK` once that
            many bytes have arrived. Without it the sink only counts.
    """

    def __init__(self, *, announced: bool = True) -> None:
        super().__init__(announced=announced)

    def payload(self, connection: _TargetConnection) -> None:
        record = connection.record
        announced = connection.announced
        if announced is not None and record.received >= announced and record.sent == 0:
            record.sent = len(SINK_ACK)
            connection.answer(SINK_ACK)

    def request(self, connection: _TargetConnection, count: int) -> None:
        if count == 0:
            connection.record.sent = len(SINK_ACK)
            connection.answer(SINK_ACK)


class TickerTarget(StreamTarget):
    """Sends the announced number of small messages at a fixed interval (latency probes).

    Each message is ``size`` bytes: ``time.monotonic_ns()`` at sending as 8
    bytes big-endian, then pattern bytes.

    Args:
        interval: seconds between messages.
        size: bytes per message (at least 8).
    """

    def __init__(self, interval: float = 0.005, size: int = 64) -> None:
        if size < 8 or interval <= 0:
            raise ValueError("size must be at least 8 and interval positive")
        super().__init__(announced=True)
        self.interval = interval
        self.size = size

    def request(self, connection: _TargetConnection, count: int) -> None:
        loop = connection.loop

        def tick(left: int) -> None:
            if left <= 0 or connection.transport.is_closing():
                return
            stamp = TICK_STAMP.pack(time.monotonic_ns())
            connection.answer(stamp + pattern_bytes(0, self.size - TICK_STAMP.size))
            connection.record.sent += self.size
            loop.call_later(self.interval, tick, left - 1)

        tick(count)


def find_target(targets: Mapping[str, StreamTarget], host: str) -> StreamTarget | None:
    """The target configured for ``host`` (names compare case-insensitively), if any."""
    wanted = host.lower()
    for name, target in targets.items():
        if name.lower() == wanted:
            return target
    return None
