"""In-memory ports: two :class:`~quectel_aio._ports.Port` ends wired back to back (tests, benchmarks)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._link_protocol import _LinkProtocol
from ._ports import Port, _check_high, _TransportPort

__all__ = ["memory_port_pair"]


class _MemoryTransport(asyncio.Transport):
    """One end of an in-memory link; bytes unread by the peer count as buffered."""

    def __init__(self, loop: asyncio.AbstractEventLoop, protocol: _LinkProtocol, high: int) -> None:
        super().__init__()
        self._loop = loop
        self._protocol = protocol
        self._peer: _MemoryTransport | None = None
        self._closing = False
        self._high = high
        self._low = high // 4
        self._paused = False
        protocol.connection_made(self)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        peer = self._peer
        if self._closing or peer is None or peer._closing or not data:
            return
        peer._protocol.data_received(bytes(data))
        if not self._paused and self.get_write_buffer_size() > self._high:
            self._paused = True
            self._protocol.pause_writing()
            # The writer now waits for the reader: a reader waiting for more
            # bytes than fit must take what is there.
            peer._protocol.release_reader()

    def peer_consumed(self) -> None:
        if self._paused and self.get_write_buffer_size() <= self._low:
            self._paused = False
            self._protocol.resume_writing()

    def get_write_buffer_size(self) -> int:
        peer = self._peer
        return 0 if peer is None else peer._protocol.buffered

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return (self._low, self._high)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = 64 * 1024 if high is None else high
        self._low = self._high // 4 if low is None else low

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.call_soon(self._protocol.connection_lost, None)
        peer, self._peer = self._peer, None
        if peer is not None:
            peer._peer = None
            peer.close()

    def abort(self) -> None:
        self.close()

    def pause_reading(self) -> None:
        """Nothing to do: the peer's write buffer is this end's read buffer."""

    def resume_reading(self) -> None:
        """Nothing to do: see :meth:`pause_reading`."""

    def is_reading(self) -> bool:
        return not self._closing


class _MemoryPort(_TransportPort):
    _backend = "memory"

    def __init__(
        self,
        name: str,
        transport: asyncio.Transport,
        protocol: _LinkProtocol,
        dtr_listener: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__(name, transport, protocol)
        self._dtr_listener = dtr_listener

    @property
    def supports_dtr(self) -> bool:
        return self._dtr_listener is not None

    def _set_dtr(self, value: bool) -> None:
        assert self._dtr_listener is not None
        self._dtr_listener(value)


def memory_port_pair(
    *, write_buffer_high: int = 64 * 1024, dtr_listener: Callable[[bool], None] | None = None
) -> tuple[Port, Port]:
    """Return two connected in-memory ports: what one writes, the other reads.

    Bytes written and not yet read by the other end count as the writer's
    write buffer, so ``drain()`` waits for the reader. Closing either end
    makes the other end's ``read()`` return ``b""`` once its bytes are read.
    Must be called with an event loop running.

    Args:
        write_buffer_high: the high-water mark of each end's write buffer.
        dtr_listener: if given, the first port drives a DTR line: each
            ``set_dtr(value)`` calls it (for example
            ``ModemEmulator.set_dtr``).
    """
    _check_high(write_buffer_high)
    loop = asyncio.get_running_loop()
    proto_a, proto_b = _LinkProtocol(loop), _LinkProtocol(loop)
    trans_a = _MemoryTransport(loop, proto_a, write_buffer_high)
    trans_b = _MemoryTransport(loop, proto_b, write_buffer_high)
    trans_a._peer, trans_b._peer = trans_b, trans_a
    proto_a.on_consumed = trans_b.peer_consumed
    proto_b.on_consumed = trans_a.peer_consumed
    return (
        _MemoryPort("memory:a", trans_a, proto_a, dtr_listener),
        _MemoryPort("memory:b", trans_b, proto_b),
    )
