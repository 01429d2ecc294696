"""Transparent (raw) mode of the sans-IO core: where the raw stream ends.

In transparent access mode the port carries the socket's bytes unframed, so
the only way to see the module take the port back is an in-band result code
framed by CR LF:

* ``\\r\\nNO CARRIER\\r\\n`` - the connection ended (always watched for);
* ``\\r\\nRDY\\r\\n`` - the module restarted, which ends every connection and
  transparent mode with it (always watched for; the line is then parsed as
  the restart URC);
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

from collections.abc import Callable

from ._buffer import ReceiveBuffer
from ._core_states import ConnectionState, ParserMode
from ._errors import LocalProtocolError
from ._events import NEED_DATA, Event, NeedData, TransparentData, TransparentEnded

__all__ = ["ESCAPE_OK", "NO_CARRIER", "TransparentParsing", "held_prefix_length", "split_raw"]

NO_CARRIER = b"\r\nNO CARRIER\r\n"
ESCAPE_OK = b"\r\nOK\r\n"
RESTARTED = b"\r\nRDY\r\n"
_LONGEST = max(len(NO_CARRIER), len(ESCAPE_OK), len(RESTARTED))


#: Every byte that occurs in a terminator: a tail ending in anything else holds nothing.
_TERMINATOR_BYTES = frozenset(NO_CARRIER + ESCAPE_OK + RESTARTED)


def held_prefix_length(tail: bytes, terminators: tuple[bytes, ...]) -> int:
    """Length of the longest suffix of ``tail`` that is a proper prefix of a terminator."""
    if not tail or tail[-1] not in _TERMINATOR_BYTES:
        return 0
    best = 0
    for terminator in terminators:
        for size in range(min(len(tail), len(terminator) - 1), best, -1):
            if tail.endswith(terminator[:size]):
                best = size
                break
    return best


def split_raw(
    buffer: ReceiveBuffer, terminators: tuple[bytes, ...], release_tail: bool, keep: bytes = b""
) -> tuple[bytes, bytes | None]:
    """Take raw data from the front of ``buffer``.

    Returns:
        ``(b"", terminator)`` when the buffer starts with a terminator (it is
        removed, unless it is ``keep``: that one is parsed next as a line); otherwise ``(data, None)``: the bytes before the first
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
        if found != keep:
            buffer.extract_at_most(len(found))
        return b"", found
    size = len(buffer)
    hold = 0 if release_tail else held_prefix_length(buffer.tail(_LONGEST), terminators)
    return buffer.extract_at_most(size - hold), None


class TransparentParsing:
    """The transparent-mode part of :class:`~quectel_aio._connection.ModemConnection`."""

    _state: ConnectionState
    _mode: ParserMode
    _buffer: ReceiveBuffer
    _eof: bool
    _raw_client: int
    _release_tail: bool
    _rdy_in_band: bool

    # Provided by ModemConnection.
    _at_end: Callable[[], Event | NeedData | None]

    @property
    def transparent_client(self) -> int | None:
        """The client ID whose transparent session owns the port, if any."""
        if self._state in (ConnectionState.TRANSPARENT, ConnectionState.ESCAPING):
            return self._raw_client
        return None

    def send_transparent(self, data: bytes | bytearray | memoryview) -> bytes:
        """Return socket bytes to write while the port is transparent.

        Raises:
            LocalProtocolError: the port is not transparent, or an escape is
                pending (the guard time after ``+++`` must stay silent).
        """
        if self._state is not ConnectionState.TRANSPARENT:
            raise LocalProtocolError(f"the port is not in transparent mode (state {self._state.name})")
        return bytes(data)

    def start_escape(self) -> bytes:
        """Return ``+++``, the escape from transparent mode, and wait for ``OK``.

        The driver must keep the guard time of silence before and after it.

        Raises:
            LocalProtocolError: the port is not transparent.
        """
        if self._state is not ConnectionState.TRANSPARENT:
            raise LocalProtocolError(f"the port is not in transparent mode (state {self._state.name})")
        self._state = ConnectionState.ESCAPING
        return b"+++"

    def cancel_escape(self) -> None:
        """The ``+++`` went unanswered (the module took it as data): transparent again."""
        if self._state is ConnectionState.ESCAPING:
            self._state = ConnectionState.TRANSPARENT

    @property
    def holds_transparent_tail(self) -> bool:
        """Raw bytes are held back because they may start an in-band result code."""
        return self._mode is ParserMode.RAW and bool(self._buffer)

    def release_transparent_tail(self) -> None:
        """Hand the held-back raw tail over as data (the link went idle)."""
        if self._mode is ParserMode.RAW:
            self._release_tail = True

    def _raw_step(self) -> Event | NeedData | None:
        if not self._buffer:
            self._release_tail = False
            return self._at_end()
        if self._state is ConnectionState.ESCAPING:
            terminators: tuple[bytes, ...] = (NO_CARRIER, RESTARTED, ESCAPE_OK)
        else:
            terminators = (NO_CARRIER, RESTARTED)
        data, terminator = split_raw(self._buffer, terminators, self._release_tail or self._eof, RESTARTED)
        client = self._raw_client
        if terminator is not None:
            self._mode = ParserMode.LINE
            self._state = ConnectionState.IDLE
            self._release_tail = False
            self._rdy_in_band = terminator == RESTARTED  # the line parsed next
            return TransparentEnded(client, terminator.strip().decode("ascii"))
        if data:
            return TransparentData(client, data)
        self._release_tail = False
        return NEED_DATA

    def _enter_raw(self, client_id: int) -> None:
        self._mode = ParserMode.RAW
        self._state = ConnectionState.TRANSPARENT
        self._raw_client = client_id
        self._release_tail = False
