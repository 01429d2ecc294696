"""Write-side flow control of a socket transport: water marks and the protocol's callbacks.

:class:`WriteFlowControl` is the part of
:class:`~quectel_aio.transport.ModemSocketTransport` that calls the protocol's
``pause_writing`` and ``resume_writing`` around the water marks. Like
asyncio's own transports, a protocol whose callback raises has the error
handed to the event loop's exception handler; the transport carries on.
"""

from __future__ import annotations

import asyncio

from ._out_buffer import OutBuffer

__all__ = ["DEFAULT_HIGH_WATER", "WriteFlowControl"]

#: Default write buffer high-water mark (asyncio's default).
DEFAULT_HIGH_WATER = 64 * 1024


class WriteFlowControl:
    """Water marks and ``pause_writing``/``resume_writing`` for a socket transport."""

    _loop: asyncio.AbstractEventLoop
    _protocol: asyncio.Protocol
    _buffer: OutBuffer
    _high_water: int
    _low_water: int
    _protocol_paused: bool

    def get_write_buffer_size(self) -> int:
        """Bytes queued and not yet accepted by the module."""
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """Return ``(low, high)`` water marks."""
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        """Set the water marks (defaults 64 KiB and a quarter of it).

        Raises:
            ValueError: ``high`` is below ``low`` or ``low`` is negative.
        """
        if high is None:
            high = DEFAULT_HIGH_WATER if low is None else 4 * low
        if low is None:
            low = high // 4
        if not high >= low >= 0:
            raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
        self._high_water, self._low_water = high, low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if len(self._buffer) > self._high_water and not self._protocol_paused:
            self._protocol_paused = True
            self._call_flow_callback("pause_writing")

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and len(self._buffer) <= self._low_water:
            self._protocol_paused = False
            self._call_flow_callback("resume_writing")

    def _call_flow_callback(self, name: str) -> None:
        try:
            getattr(self._protocol, name)()
        except Exception as exc:  # the protocol's bug; it may run in the AT channel's reader
            self._loop.call_exception_handler(
                {
                    "message": f"protocol.{name}() failed",
                    "exception": exc,
                    "transport": self,
                    "protocol": self._protocol,
                }
            )
