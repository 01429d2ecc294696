"""The send buffer of a socket transport."""

from __future__ import annotations

__all__ = ["OutBuffer"]


class OutBuffer:
    """Bytes written and not yet sent: taken from the front without moving the rest."""

    __slots__ = ("_data", "_start")

    def __init__(self) -> None:
        self._data = bytearray()
        self._start = 0

    def __len__(self) -> int:
        return len(self._data) - self._start

    def __bool__(self) -> bool:
        return len(self._data) > self._start

    def append(self, data: bytes | bytearray | memoryview) -> None:
        self._data += data

    def peek(self, size: int) -> bytes:
        return bytes(self._data[self._start : self._start + size])

    def consume(self, size: int) -> None:
        self._start += size
        if self._start >= len(self._data):
            self._data.clear()
            self._start = 0
        elif self._start >= 65536 and self._start * 2 >= len(self._data):
            del self._data[: self._start]
            self._start = 0

    def clear(self) -> None:
        self._data.clear()
        self._start = 0
