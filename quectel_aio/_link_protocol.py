"""The asyncio protocol every port backend shares: received bytes for one reader.

``data_received`` appends each chunk to a list and wakes the single pending
``read()`` once the bytes it asked for are there; past ``_READ_BUFFER_HIGH``
unread bytes the transport stops reading, so a stalled consumer pushes back on
the kernel buffer instead of growing memory. See :mod:`quectel_aio._ports`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

__all__ = ["_READ_BUFFER_HIGH", "_LinkProtocol"]

_READ_BUFFER_HIGH: Final = 1 << 20
"""Unread bytes past which the transport stops reading until ``read()``."""


class _LinkProtocol(asyncio.Protocol):
    """Accumulates received bytes for one reader and tracks writability."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.reader: asyncio.Future[None] | None = None
        #: Unread bytes at which the pending ``read()`` is woken.
        self.wake_at = 1
        #: A sender waits for these bytes to be consumed (see release_reader).
        self.held_back = False
        self.reading_paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = loop.create_future()
        self.error: BaseException | None = None
        self.on_consumed: Callable[[], None] | None = None

    # -- asyncio.Protocol --------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if type(data) is not bytes:
            data = bytes(data)
        self.chunks.append(data)
        self.buffered += len(data)
        reader = self.reader
        if reader is not None and self.buffered >= self.wake_at and not reader.done():
            reader.set_result(None)
        if self.buffered > _READ_BUFFER_HIGH and not self.reading_paused and self.transport is not None:
            self.reading_paused = True
            self.transport.pause_reading()
            self.release_reader()

    def eof_received(self) -> bool | None:
        return None  # let the transport close; connection_lost(None) follows

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None and self.error is None:
            self.error = exc
        if not self.lost.done():
            self.lost.set_result(None)
        self._wake_reader()
        self._wake_drainers()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._wake_drainers()

    # -- helpers -----------------------------------------------------------

    def take(self) -> bytes:
        """Return and forget every unread byte (one chunk is not copied)."""
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.chunks = []
        self.buffered = 0
        self.held_back = False
        if self.reading_paused:
            self.reading_paused = False
            if self.transport is not None and not self.transport.is_closing():
                self.transport.resume_reading()
        if self.on_consumed is not None:
            self.on_consumed()
        return data

    def release_reader(self) -> None:
        """The sender cannot go on until the buffered bytes are consumed.

        The read buffer is full, or an in-memory peer's writer is paused: the
        pending (or next) ``read()`` returns what is buffered, however little,
        whatever ``at_least`` it asked for. Cleared by :meth:`take`.
        """
        self.held_back = True
        self._wake_reader()

    def _wake_reader(self) -> None:
        reader = self.reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    def _wake_drainers(self) -> None:
        waiter = self.drain_waiter
        self.drain_waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


# ---------------------------------------------------------------------------
# The public port interface
# ---------------------------------------------------------------------------
