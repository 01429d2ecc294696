"""Serial-link pacing: a strict serializer at a fixed byte rate.

Lessons from calibration runs, each of which skewed measurements when missed:

* no credit builds up while the link is idle (a token bucket makes a short
  command look free after a pause);
* a late timer wakeup must not lose time: everything that is due is delivered
  at once, so a backlog drains at exactly the configured rate;
* bytes are delivered in slices of one *granularity* period, like a UART
  driver or a USB-serial latency timer hands them over; slices with idle line
  time between them are delivered apart even when a late timer finds them
  all due, so each delivery has its own arrival time;
* an event-loop timer fires 20-100 us late (kernel timer slack, the loop's
  own work) and the lateness of the last slice of a command is never
  recovered, since the link then goes idle: at 921600 Bd three such timers
  per command cycle cost several per cent. Timers are therefore set a little
  early and the rest is waited out by spinning (:func:`call_precisely`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

__all__ = ["LinkPacer", "SerialLink", "call_precisely", "sleep_precisely"]

#: How much earlier than due a precise timer is set; the rest is spun.
SPIN_WINDOW = 0.00015
#: A gap on the line shorter than this is rounding, not idle time.
_IDLE_EPSILON = 1e-7


def call_precisely(
    loop: asyncio.AbstractEventLoop, when: float, callback: Callable[[], None]
) -> asyncio.TimerHandle:
    """Like ``loop.call_at(when, callback)``, but never more than a few microseconds late.

    The timer is set :data:`SPIN_WINDOW` early; when it fires, the loop spins
    until ``when``. Spinning blocks the loop for at most that window, so use
    this for the link model's own timing only.
    """

    def fire() -> None:
        while loop.time() < when:
            pass
        callback()

    return loop.call_at(when - SPIN_WINDOW, fire)


async def sleep_precisely(delay: float) -> None:
    """``asyncio.sleep(delay)`` with the precision of :func:`call_precisely`."""
    loop = asyncio.get_running_loop()
    woken = loop.create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    handle = call_precisely(loop, loop.time() + delay, wake)
    try:
        await woken
    finally:
        handle.cancel()


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
        #: When the latest delivered bytes were due (their arrival in link time).
        self.delivered_due = 0.0

    @property
    def backlog(self) -> int:
        """Bytes written but not delivered yet."""
        return self._queued

    def write(self, data: bytes, *, start: float | None = None) -> None:
        """Queue ``data``; it is delivered when the link would have carried it.

        Args:
            data: the bytes.
            start: when the first byte starts on an idle link, if not now
                (never later than now: no credit while idle).
        """
        if not data:
            return
        loop = asyncio.get_running_loop()
        due = max(loop.time() if start is None else start, self._next_free)
        for offset in range(0, len(data), self._slice):
            piece = data[offset : offset + self._slice]
            due += len(piece) / self._rate
            self._queue.append((due, piece))
            self._queued += len(piece)
        self._next_free = due
        if self._timer is None and self._queue[0][0] <= loop.time():
            self._flush()  # a response whose modelled start has passed
        else:
            self._schedule(loop)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is None and self._queue:
            self._timer = call_precisely(loop, self._queue[0][0], self._flush)

    def _flush(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        out = bytearray()
        while self._queue and self._queue[0][0] <= now:
            due, piece = self._queue.popleft()
            if out and due - len(piece) / self._rate > self.delivered_due + _IDLE_EPSILON:
                # The line was idle before this piece: it arrived apart.
                self._deliver(bytes(out))
                out.clear()
            out += piece
            self._queued -= len(piece)
            self.delivered_due = due
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


#: The furthest back a response's start on the wire is moved (see SerialLink.write).
MAX_BACKDATE = 0.0002


class SerialLink:
    """Both directions of the emulated link, and where the module's turnaround is counted from.

    Without a baud rate, bytes pass straight through. With one, each direction
    has a :class:`LinkPacer`, and time is kept as the link model sees it: a
    command *arrives* when its last byte would have, and the module is
    modelled as answering ``latency`` after that arrival with no processing
    time of its own. The emulator does take processing time (tens of
    microseconds of Python per command), so a response that was written
    later than its modelled start is serialised as if it had started then,
    moved back by at most :data:`MAX_BACKDATE`; bytes are still never handed
    over before they were written.

    Args:
        deliver: takes module bytes that reached the host.
        arrive: takes host bytes that reached the module.
    """

    def __init__(self, deliver: Callable[[bytes], None], arrive: Callable[[bytes], None]) -> None:
        self._deliver = deliver
        self._arrive = arrive
        self._out: LinkPacer | None = None
        self._in: LinkPacer | None = None
        self._limit = 0
        #: Loop time at which the latest host bytes arrived.
        self.arrived_at = 0.0

    def configure(self, baudrate: int | None, granularity: float) -> None:
        """Pace both directions at ``baudrate`` (8N1), or not at all for ``None``."""
        self.close()
        if baudrate is None:
            self._out = self._in = None
            return
        rate = baudrate / 10
        self._out = LinkPacer(rate, granularity, self._deliver)
        self._in = LinkPacer(rate, granularity, self._paced_arrival)
        self._limit = 4 * max(1, int(rate * granularity))

    # -- host to module ------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Host bytes read from the port: they arrive when the link has carried them."""
        if self._in is not None:
            self._in.write(data)
        else:
            self.arrived_at = asyncio.get_running_loop().time()
            self._arrive(data)

    def _paced_arrival(self, data: bytes) -> None:
        assert self._in is not None
        self.arrived_at = self._in.delivered_due
        self._arrive(data)

    @property
    def input_backlog(self) -> int:
        """Host bytes read from the port but still on the wire."""
        return self._in.backlog if self._in is not None else 0

    async def wait_input_room(self) -> None:
        """Wait until the link can take more host bytes."""
        if self._in is not None:
            await self._in.wait_below(self._limit)

    def drop_input(self) -> None:
        """Forget host bytes still on the wire (a module restart)."""
        if self._in is not None:
            self._in.close()

    # -- module to host ------------------------------------------------------

    async def turnaround(self, latency: float) -> None:
        """Wait until ``latency`` after the latest arrival (at once if that has passed)."""
        remaining = self.arrived_at + latency - asyncio.get_running_loop().time()
        if remaining > 0:
            await sleep_precisely(remaining)

    def write(self, data: bytes, *, after_arrival: float | None = None) -> None:
        """Send module bytes to the host.

        Args:
            data: the bytes.
            after_arrival: for a response to the latest input, how long after
                that input's arrival the module starts sending it (the
                turnaround for a final result, 0 for a prompt or echo);
                ``None`` for output that no input caused (URCs, pushed data).
        """
        out = self._out
        if out is None:
            self._deliver(data)
            return
        start = None
        if after_arrival is not None:
            now = asyncio.get_running_loop().time()
            start = min(now, max(self.arrived_at + after_arrival, now - MAX_BACKDATE))
        out.write(data, start=start)

    async def wait_output_room(self) -> None:
        """Wait until the link's backlog towards the host is small."""
        if self._out is not None:
            await self._out.wait_below(self._limit)

    def close(self) -> None:
        """Drop what is on the wire and stop the timers."""
        for pacer in (self._in, self._out):
            if pacer is not None:
                pacer.close()
