"""Serial-link pacing: a strict serializer at a fixed byte rate.

Lessons from calibration runs, each of which skewed measurements when missed:

* no credit builds up while the link is idle (a token bucket makes a short
  command look free after a pause);
* a late timer wakeup must not lose time: everything that is due is delivered
  at once, so a backlog drains at exactly the configured rate;
* bytes are delivered in slices of one *granularity* period, like a UART
  driver or a USB-serial latency timer hands them over.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["LinkPacer"]


class LinkPacer:
    """Delay bytes as a serial link of ``rate`` bytes per second would.

    Args:
        rate: bytes per second (``baudrate / 10`` for 8N1).
        granularity: seconds per delivery slice.
        deliver: called with the bytes when they have "arrived".
    """

    def __init__(self, rate: float, granularity: float, deliver: Callable[[bytes], None]) -> None:
        if rate <= 0 or granularity <= 0:
            raise ValueError("rate and granularity must be positive")
        self._rate = rate
        self._slice = max(1, int(rate * granularity))
        self._deliver = deliver
        self._queue: deque[tuple[float, bytes]] = deque()
        self._queued = 0
        self._next_free = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._progress = asyncio.Event()

    @property
    def backlog(self) -> int:
        """Bytes written but not delivered yet."""
        return self._queued

    def write(self, data: bytes) -> None:
        """Queue ``data``; it is delivered when the link would have carried it."""
        if not data:
            return
        loop = asyncio.get_running_loop()
        due = max(loop.time(), self._next_free)  # no credit while idle
        for start in range(0, len(data), self._slice):
            piece = data[start : start + self._slice]
            due += len(piece) / self._rate
            self._queue.append((due, piece))
            self._queued += len(piece)
        self._next_free = due
        self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is None and self._queue:
            delay = max(self._queue[0][0] - loop.time(), 0.0)
            self._timer = loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        out = bytearray()
        while self._queue and self._queue[0][0] <= now:
            piece = self._queue.popleft()[1]
            out += piece
            self._queued -= len(piece)
        if out:
            self._deliver(bytes(out))
        self._progress.set()
        if self._queue:
            self._schedule(loop)

    async def wait_below(self, limit: int) -> None:
        """Wait until the backlog is at most ``limit`` bytes."""
        while self._queued > limit:
            self._progress.clear()
            await self._progress.wait()

    def close(self) -> None:
        """Drop the backlog and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._queue.clear()
        self._queued = 0
        self._progress.set()
