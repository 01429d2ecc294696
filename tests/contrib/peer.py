"""A TLS peer for the transport conformance tests, driven by the client's first byte.

Modes (first byte the client sends):

* ``E`` echo everything back;
* ``S`` sink: count and hash what arrives; reading stays paused until
  :meth:`PeerServer.release` (so the client's write buffer fills);
* ``P`` + 8-byte big-endian N: push N pattern bytes, keep the connection open;
* ``C`` + 8-byte big-endian N: push N pattern bytes, then close.

Every connection leaves a :class:`PeerRecord` with what it received.
:class:`StallingServer` is a second peer that stops reading after the first bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

HEADER_MODES = {b"P", b"C"}


def pattern(size: int) -> bytes:
    """Deterministic, non-repeating-looking bytes (so reordering would show)."""
    seed = hashlib.sha256(b"peer pattern").digest()
    blocks = size // len(seed) + 1
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(blocks))[:size]


@dataclass
class PeerRecord:
    """What the server saw on one connection."""

    mode: bytes = b""
    received: int = 0
    digest: hashlib._Hash = field(default_factory=hashlib.sha256)
    eof: bool = False
    lost: asyncio.Event = field(default_factory=asyncio.Event)

    def sha256(self) -> str:
        return self.digest.hexdigest()


class _PeerProtocol(asyncio.Protocol):
    def __init__(self, server: PeerServer) -> None:
        self.server = server
        self.record = PeerRecord()
        self.transport: asyncio.Transport | None = None
        self.header = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.records.append(self.record)
        self.server.live.add(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if not self.record.mode:
            self.header += data
            mode = self.header[:1]
            if mode in HEADER_MODES and len(self.header) < 9:
                return
            self.record.mode = mode
            data = self.header[9:] if mode in HEADER_MODES else self.header[1:]
            if mode in HEADER_MODES:
                size = int.from_bytes(self.header[1:9], "big")
                self.transport.write(pattern(size))
                if mode == b"C":
                    self.transport.close()
            elif mode == b"S" and not self.server.released.is_set():
                self.transport.pause_reading()
                self.server.held.append(self)
                self.server.sink_ready.set()
        self.record.received += len(data)
        self.record.digest.update(data)
        if self.record.mode == b"E" and data:
            self.transport.write(data)

    def eof_received(self) -> bool | None:
        self.record.eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.live.discard(self)
        self.record.lost.set()


class PeerServer:
    """The running peer; use as an async context manager."""

    def __init__(self) -> None:
        self.records: list[PeerRecord] = []
        self.live: set[_PeerProtocol] = set()
        self.held: list[_PeerProtocol] = []
        self.released = asyncio.Event()
        self.sink_ready = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, ssl_context: ssl.SSLContext) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _PeerProtocol(self), "127.0.0.1", 0, ssl=ssl_context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def release(self) -> None:
        """Let every held sink read again."""
        self.released.set()
        for proto in self.held:
            if proto.transport is not None and not proto.transport.is_closing():
                proto.transport.resume_reading()
        self.held.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for proto in list(self.live):
            if proto.transport is not None:
                proto.transport.abort()
        for record in self.records:
            await asyncio.wait_for(record.lost.wait(), 5)
        await self._server.wait_closed()


class _StallingProtocol(asyncio.Protocol):
    def __init__(self, server: StallingServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.live.add(self)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.pause_reading()  # never again: the client's writes back up
        self.server.stalled.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.live.discard(self)


class StallingServer:
    """A TLS server that takes the first bytes of each connection, then stops reading for good."""

    def __init__(self) -> None:
        self.live: set[_StallingProtocol] = set()
        #: Set once a connection has sent its first bytes (and is read no more).
        self.stalled = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self, ssl_context: ssl.SSLContext) -> Self:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _StallingProtocol(self), "127.0.0.1", 0, ssl=ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for proto in list(self.live):
            if proto.transport is not None:
                proto.transport.abort()
        await self._server.wait_closed()
