"""The receive buffer of the sans-IO core.

Theory of operation
-------------------
Bytes from the port are appended to one :class:`bytearray`. Consumers take
bytes from the front by moving a read offset (``_start``) instead of deleting
them, so each extraction is O(size of what it returns). The consumed prefix is
dropped lazily, only when it is at least half of the array and larger than
:data:`_COMPACT_THRESHOLD`: the total copying cost stays linear in the input.

Line search is resumable: when no LF is found, the position already scanned
is remembered (``_scanned``), so a line that arrives one byte at a time is
searched once overall, not once per byte.

The buffer knows nothing about AT grammar: it offers lines (up to and
including LF), exact-length blocks, peeking, and skipping of CR/LF.
"""

from __future__ import annotations

__all__ = ["ReceiveBuffer"]

#: The consumed prefix is only dropped once it is at least this long.
_COMPACT_THRESHOLD = 8192


class ReceiveBuffer:
    """A bytearray with a read offset."""

    __slots__ = ("_data", "_scanned", "_start")

    def __init__(self) -> None:
        self._data = bytearray()
        self._start = 0
        #: Absolute index up to which the data is known to contain no LF.
        self._scanned = 0

    def __len__(self) -> int:
        return len(self._data) - self._start

    def __bool__(self) -> bool:
        return len(self._data) > self._start

    def __bytes__(self) -> bytes:
        return bytes(self._data[self._start :])

    def __repr__(self) -> str:
        return f"<ReceiveBuffer {len(self)} bytes>"

    def append(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes at the end."""
        self._data += data

    def _consume(self, end: int) -> None:
        self._start = end
        if end > self._scanned:
            self._scanned = end
        if end >= _COMPACT_THRESHOLD and end * 2 >= len(self._data):
            del self._data[:end]
            self._start = 0
            self._scanned -= end

    def maybe_extract_line(self) -> bytes | None:
        """Remove and return the bytes up to and including the next LF, if any."""
        index = self._data.find(b"\n", self._scanned)
        if index < 0:
            self._scanned = len(self._data)
            return None
        out = bytes(self._data[self._start : index + 1])
        self._consume(index + 1)
        return out

    def maybe_extract_exact(self, count: int) -> bytes | None:
        """Remove and return exactly ``count`` bytes, or ``None`` if fewer are buffered."""
        end = self._start + count
        if end > len(self._data):
            return None
        out = bytes(self._data[self._start : end])
        self._consume(end)
        return out

    def extract_at_most(self, count: int) -> bytes:
        """Remove and return up to ``count`` bytes."""
        end = min(self._start + count, len(self._data))
        out = bytes(self._data[self._start : end])
        self._consume(end)
        return out

    def peek(self, count: int = 1) -> bytes:
        """Return up to ``count`` bytes from the front without removing them."""
        return bytes(self._data[self._start : self._start + count])

    def find(self, sub: bytes) -> int:
        """Index of the first occurrence of ``sub`` (relative to the front), or -1."""
        index = self._data.find(sub, self._start)
        return index - self._start if index >= 0 else -1

    def tail(self, count: int) -> bytes:
        """Return up to ``count`` bytes from the end without removing them."""
        return bytes(self._data[max(self._start, len(self._data) - count) :])

    def skip_line_endings(self) -> None:
        """Remove leading CR and LF bytes."""
        data = self._data
        index = self._start
        end = len(data)
        while index < end and data[index] in (0x0D, 0x0A):
            index += 1
        if index != self._start:
            self._consume(index)

    def skip_through_lf(self) -> bool:
        """Remove bytes up to and including the next LF.

        Returns:
            ``True`` if an LF was found; otherwise everything is removed and
            ``False`` is returned.
        """
        index = self._data.find(b"\n", self._scanned)
        if index < 0:
            self._consume(len(self._data))
            return False
        self._consume(index + 1)
        return True

    def incomplete_line_too_long(self, limit: int) -> bool:
        """``True`` if more than ``limit`` bytes are buffered and none is an LF.

        Only meaningful right after :meth:`maybe_extract_line` returned ``None``.
        """
        return len(self._data) - self._start > limit

    def clear(self) -> None:
        """Drop every buffered byte."""
        self._data = bytearray()
        self._start = 0
        self._scanned = 0
