"""Length-announced data blocks: the part of the sans-IO core that reads bytes by count.

This is the part of :class:`~quectel_aio._connection.ModemConnection` that
turns a ``+QSSLRECV: <n>`` header (the answer to ``AT+QSSLRECV``) or a
``+QSSLURC: "recv",<id>,<n>`` header (direct push) into PAYLOAD(n) mode, and
a completed block into its outcome: held for the command's ``OK``, pushed to
its socket, or dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from ._buffer import ReceiveBuffer
from ._commands import Command
from ._core_states import (
    BLOCK_ENDS,
    MAX_PAYLOAD_BLOCK,
    QSSLURC_RE,
    ConnectionState,
    ParserMode,
    excerpt,
    parse_length,
)
from ._errors import RemoteProtocolError
from ._events import Event, SslClosed, SslDataAvailable, SslDataLost, SslDataPushed, UnknownUrc

__all__ = ["MAX_SKIPPED_PUSH", "BlockParsing"]

#: The largest push a broken header may announce and still be skipped by count
#: (beyond it the number is taken for data run into the header).
MAX_SKIPPED_PUSH = 64 * 1024


class BlockParsing:
    """Length headers and the blocks they announce."""

    _state: ConnectionState
    _command: Command | None
    _lines: list[str]
    _held: bytes | None
    _mode: ParserMode
    _payload_needed: int
    _payload_target: str
    _payload_header: str
    _push_client: int
    _block_trailer_due: bool
    _resync_skip: int
    #: The largest block the command in flight can read (0: none, or not known).
    _read_limit: int

    # Provided by ModemConnection.
    _collect: Callable[[int], None]

    def _payload_done(self, block: bytes) -> Event | None:
        target = self._payload_target
        if target == "push":
            return SslDataPushed(self._push_client, block)
        if target == "hold":
            # Counted with its header once it is complete: an error is then
            # raised at a known frame boundary, never inside the block.
            self._collect(len(self._payload_header) + len(block))
            self._held = block if self._held is None else self._held + block
            self._block_trailer_due = True
        return None

    def _block_trailer_checked(self, buffer: ReceiveBuffer) -> bool:
        """Check what follows a ``+QSSLRECV`` block; False until enough bytes are there.

        The block is followed by CR LF, then the CR LF that opens the module's
        next line (its OK, or a URC), or, from a module that leaves the blank
        line out, by the ``OK`` or ``+`` URC itself. Anything else means the
        announced length and the bytes on the wire disagree (a lost or extra
        byte, a shortened block whose data goes on with a line of its own):
        the block is never delivered.

        Raises:
            RemoteProtocolError: the bytes after the block are not the module's.
        """
        head = buffer.peek(4)
        if not any(head[: len(end)] == end[: len(head)] for end in BLOCK_ENDS):
            # What follows may be the rest of the block (a length digit was
            # lost): server bytes, never to be read as lines. The block is
            # at most what the command asked for, then CR LF (decision 101).
            # A raw line's largest read counts as for the modem's own reads; one
            # that also asks the length query is not known to read a block at all.
            limit = self._read_limit or MAX_PAYLOAD_BLOCK
            self._resync_skip = max(limit - self._payload_needed, 0) + 2
            raise RemoteProtocolError(
                "a +QSSLRECV data block is not followed by CR LF and the module's next line: "
                "bytes were lost or added",
                excerpt(self._payload_header),
            )
        if not any(head.startswith(end) for end in BLOCK_ENDS):
            return False
        self._block_trailer_due = False
        return True

    def _start_payload(self, target: str, count: int, header: str) -> None:
        self._mode = ParserMode.PAYLOAD
        self._payload_target = target
        self._payload_needed = count
        self._payload_header = header

    def _recv_header(self, text: str, count: int) -> Event | None:
        """``+QSSLRECV: <n>``: the next n bytes are data, whoever they belong to."""
        command = self._command
        state = self._state
        if state is ConnectionState.ABANDONED:
            self._start_payload("drop", count, text)
            return None
        if (
            command is not None
            and state is not ConnectionState.IDLE
            and (command.accepts_any_line or "+QSSLRECV" in command.info_prefixes)
        ):
            self._lines.append(text)
            if self._held is None:
                self._held = b""
            self._start_payload("hold", count, text)
            return None
        # Nobody asked for this block: report the header, never the data.
        self._start_payload("drop", count, text)
        return UnknownUrc(text)

    def _qsslurc(self, text: str) -> Event | None:
        match = QSSLURC_RE.match(text)
        if match is None:
            return UnknownUrc(text)
        kind, client, extra = match.group(1), int(match.group(2)), match.group(3)
        if kind == "closed":
            return SslClosed(client) if extra is None else UnknownUrc(text)
        if extra is None:
            return SslDataAvailable(client)
        try:
            count = parse_length(extra, "direct-push")
        except RemoteProtocolError as exc:
            # A length too large (or a header whose LF was lost, so that data
            # digits run into it): the block is the server's bytes. Skip it by
            # its count where that is a number, never read it as lines.
            digits = extra.strip()
            if digits.isascii() and digits.isdigit() and len(digits) <= 6 and int(digits) <= MAX_SKIPPED_PUSH:
                self._start_payload("drop", int(digits), text)
            return SslDataLost(client, str(exc))
        if count == 0:
            return SslDataPushed(client, b"")
        self._start_payload("push", count, text)
        self._push_client = client
        return None
