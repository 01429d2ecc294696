"""Transparent (raw) mode of the sans-IO core: where the raw stream ends.

In transparent access mode the port carries the socket's bytes unframed, so
the only way to see the module take the port back is an in-band result code
framed by CR LF:

* ``\\r\\nNO CARRIER\\r\\n`` - the connection ended (always watched for);
* ``\\r\\nOK\\r\\n`` - the ``+++`` escape was accepted (watched for only after
  the host sent ``+++``).

These are *in-band limits* of the dialect: a payload that contains one of
these exact byte sequences (the OK one only while an escape is pending) ends
the stream early. No host can tell them apart; the module offers no framing
in this mode.

A result code can be split across reads, so the longest tail of the buffer
that is a proper prefix of a watched sequence is held back until more bytes
arrive, or until the driver decides the link has been idle long enough and
releases it as data.
"""

from __future__ import annotations

from ._buffer import ReceiveBuffer

__all__ = ["ESCAPE_OK", "NO_CARRIER", "held_prefix_length", "split_raw"]

NO_CARRIER = b"\r\nNO CARRIER\r\n"
ESCAPE_OK = b"\r\nOK\r\n"
_LONGEST = max(len(NO_CARRIER), len(ESCAPE_OK))


def held_prefix_length(tail: bytes, terminators: tuple[bytes, ...]) -> int:
    """Length of the longest suffix of ``tail`` that is a proper prefix of a terminator."""
    best = 0
    for terminator in terminators:
        for size in range(min(len(tail), len(terminator) - 1), best, -1):
            if tail.endswith(terminator[:size]):
                best = size
                break
    return best


def split_raw(
    buffer: ReceiveBuffer, terminators: tuple[bytes, ...], release_tail: bool
) -> tuple[bytes, bytes | None]:
    """Take raw data from the front of ``buffer``.

    Returns:
        ``(b"", terminator)`` when the buffer starts with a terminator (it is
        removed); otherwise ``(data, None)``: the bytes before the first
        buffered terminator, or, when none is buffered, everything except a
        held-back partial terminator at the tail (all of it if
        ``release_tail``).
    """
    first = -1
    found: bytes | None = None
    for terminator in terminators:
        index = buffer.find(terminator)
        if index >= 0 and (first < 0 or index < first):
            first, found = index, terminator
    if found is not None:
        if first:
            return buffer.extract_at_most(first), None
        buffer.extract_at_most(len(found))
        return b"", found
    size = len(buffer)
    hold = 0 if release_tail else held_prefix_length(buffer.tail(_LONGEST), terminators)
    return buffer.extract_at_most(size - hold), None
