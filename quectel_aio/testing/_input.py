"""The emulator's input buffer: bytes from the host, read by the command task.

Command lines end at CR; an LF right after a CR is dropped and an LF-only line
is ignored (a sibling module gives no answer to one). Data phases read raw
bytes with idle timeouts.

Every byte keeps the time it arrived on the link (:meth:`InputBuffer.feed`):
transparent mode times the silence around ``+++`` by arrival, as a module's
UART does, not by when the emulator gets round to reading.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["InputBuffer"]

_LF = 0x0A


class InputBuffer:
    """The bytes received from the host, read by the command task."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self._event = asyncio.Event()
        #: Bytes fed so far; ``buf`` holds the last ``len(buf)`` of them.
        self._fed = 0
        #: ``(end, at)``: the fed bytes before offset ``end`` arrived by ``at``.
        self._arrivals: deque[tuple[int, float]] = deque()

    def feed(self, data: bytes, at: float = 0.0) -> None:
        """Add host bytes that arrived at loop time ``at``."""
        self.buf += data
        self._fed += len(data)
        arrivals = self._arrivals
        consumed = self._fed - len(self.buf)
        while arrivals and arrivals[0][0] <= consumed:
            arrivals.popleft()
        if arrivals and arrivals[-1][1] == at:
            arrivals.pop()
        arrivals.append((self._fed, at))
        self._event.set()

    async def peek_timed(self, idle: float | None) -> list[tuple[float, bytes]]:
        """The buffered bytes by arrival, ``[(at, bytes), ...]``, without consuming them.

        Waits up to ``idle`` s when nothing is buffered (``[]`` on timeout or
        wake); :meth:`discard` consumes what the caller took.
        """
        if not self.buf:
            await self._wait(idle)
        consumed = self._fed - len(self.buf)
        runs: list[tuple[float, bytes]] = []
        start = 0
        for end, at in self._arrivals:
            if end > consumed:
                runs.append((at, bytes(self.buf[start : end - consumed])))
                start = end - consumed
        return runs

    def discard(self, n: int) -> None:
        """Consume the first ``n`` buffered bytes."""
        del self.buf[:n]

    def clear(self) -> None:
        self.buf.clear()

    def wake(self) -> None:
        """Wake a reader without data (an outside event happened)."""
        self._event.set()

    async def read_some(self, idle: float | None) -> bytes:
        """Whatever is buffered; waits up to ``idle`` s (b"" on timeout or wake)."""
        if not self.buf:
            await self._wait(idle)
        data = bytes(self.buf)
        self.buf.clear()
        return data

    async def _wait(self, idle: float | None) -> bool:
        event = self._event
        event.clear()
        if idle is None:
            await event.wait()
            return True
        # A timer handle is much cheaper than asyncio.timeout() on this hot path.
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            event.set()

        handle = asyncio.get_running_loop().call_later(idle, expire)
        try:
            await event.wait()
        finally:
            handle.cancel()
        return not expired

    async def read_line(self, max_length: int) -> bytes | None:
        """Next CR-terminated line (without CR); ``None`` for an over-long line."""
        overflow = False
        while True:
            buf = self.buf
            cr = buf.find(b"\r")
            lf = buf.find(b"\n")
            if cr >= 0 or lf >= 0:
                end = cr if lf < 0 or (0 <= cr < lf) else lf
                terminator = buf[end]
                line = bytes(buf[:end])
                del buf[: end + 1]
                if terminator == _LF:
                    # LF after CR (empty) or an LF-only line: ignored.
                    overflow = False
                    continue
                return None if overflow or len(line) > max_length else line
            if len(buf) > max_length:
                overflow = True
                buf.clear()
            await self._wait(None)

    def drop_leading_lf(self) -> None:
        """Drop the LF of a CR LF command terminator before a data phase."""
        if self.buf[:1] == b"\n":
            del self.buf[0]

    async def read_exact(self, n: int, idle_timeout: float | None) -> bytes:
        """Up to ``n`` bytes; fewer if nothing arrives for ``idle_timeout`` s."""
        out = bytearray()
        while len(out) < n:
            if self.buf:
                take = min(n - len(out), len(self.buf))
                out += self.buf[:take]
                del self.buf[:take]
                continue
            if not await self._wait(idle_timeout):
                break
        return bytes(out)

    async def read_until(
        self, stops: bytes, max_length: int, idle_timeout: float | None
    ) -> tuple[bytes, int | None]:
        """Bytes before the first byte in ``stops`` (consumed).

        Returns:
            ``(data, stop)``: ``stop`` is the stop byte, or ``None`` after an
            idle timeout or when ``max_length`` bytes arrived without a stop.
        """
        out = bytearray()
        while True:
            for index, byte in enumerate(self.buf):
                if byte in stops:
                    out += self.buf[:index]
                    del self.buf[: index + 1]
                    return bytes(out), byte
                if len(out) + index >= max_length:
                    out += self.buf[:index]
                    del self.buf[:index]
                    return bytes(out), None
            out += self.buf
            self.buf.clear()
            if not await self._wait(idle_timeout):
                return bytes(out), None
