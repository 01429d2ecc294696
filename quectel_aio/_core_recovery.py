"""Giving up and recovering: what a driver asks of the sans-IO core when the module stops making sense.

This is the part of :class:`~quectel_aio._connection.ModemConnection` that
handles it.

A command the driver stops waiting for is *abandoned* (its late lines and
result are swallowed); an abandoned command is *cleared* after a quiet
period; a data block the module fell silent in is *abandoned* so that its
next lines are read again; a grammar error is left with :meth:`Recovery.resync`.
"""

from __future__ import annotations

from collections.abc import Callable

from ._buffer import ReceiveBuffer
from ._commands import Command
from ._core_states import ConnectionState, ParserMode

__all__ = ["Recovery"]


class Recovery:
    """Abandoning commands and blocks, and resynchronising the parser."""

    _state: ConnectionState
    _state_before_error: ConnectionState
    _command: Command | None
    _lines: list[str]
    _held: bytes | None
    _abandoned_data_phase_pending: bool
    _mode: ParserMode
    _payload_needed: int
    _payload_target: str
    _buffer: ReceiveBuffer
    _discarding: bool
    _echo_remaining: int
    _block_trailer_due: bool
    _received_total: int
    _resync_skip: int
    _rdy_in_band: bool

    # Provided by ModemConnection.
    _finish: Callable[[], None]
    _start_payload: Callable[[str, int, str], None]

    def abandon_command(self) -> None:
        """Give up on the command in flight (timeout or cancellation).

        Its late information lines and final result will be swallowed (a late
        ``+QSSLRECV`` block is still consumed by length). If its prompt or
        ``CONNECT`` arrives later, :class:`AbandonedPrompt` is emitted. A no-op
        when nothing is in flight.
        """
        if self._command is None or self._state in (ConnectionState.IDLE, ConnectionState.ABANDONED):
            return
        self._abandoned_data_phase_pending = self._state is ConnectionState.AWAITING_PROMPT or (
            self._state is ConnectionState.AWAITING_RESPONSE and self._command.expects_connect
        )
        self._state = ConnectionState.ABANDONED
        self._lines = []
        self._held = None

    def clear_abandoned(self) -> None:
        """Stop waiting for an abandoned command's final result (back to IDLE).

        A no-op unless the state is ABANDONED.
        """
        if self._state is ConnectionState.ABANDONED:
            self._finish()

    @property
    def in_block(self) -> bool:
        """A length-announced data block has started and is not complete."""
        return self._mode is ParserMode.PAYLOAD

    @property
    def received_total(self) -> int:
        """Bytes received so far (a driver compares it to detect silence)."""
        return self._received_total

    def abandon_block(self) -> None:
        """Stop reading the data block in progress; back to lines.

        For a driver that saw the module fall silent in the middle of a block
        for longer than any module pauses inside one (a reset, or lost bytes):
        counting on would eat its next lines, ``RDY`` among them, as data.
        The block is not delivered. If the bytes counted into it so far hold
        a ``RDY`` line, parsing resumes there (a false restart only costs a
        reconfiguration); otherwise anything before the next LF is dropped.
        The rest of a broken block that :meth:`resync` was dropping is
        dropped whole: it may be the server's bytes, never lines.
        A no-op outside a block.
        """
        if self._mode is not ParserMode.PAYLOAD:
            return
        self._mode = ParserMode.LINE
        self._payload_needed = 0
        self._held = None
        if self._payload_target == "skip":
            self._buffer.clear()
            self._discarding = False
            return
        restart = bytes(self._buffer).rfind(b"\r\nRDY\r\n")
        if restart >= 0:
            self._buffer.extract_at_most(restart)
            self._discarding = False
            self._rdy_in_band = True  # counted as the block's bytes: a peer's, perhaps
        else:
            self._discarding = not self._buffer.skip_through_lf()

    def resync(self) -> None:
        """Recover after :class:`RemoteProtocolError`.

        Drops buffered bytes up to and including the next LF (and, if none is
        buffered yet, keeps dropping until one arrives), returns to LINE mode
        and clears the ERROR state. After a data block whose framing broke,
        it first drops by count as many bytes as may be left of that block,
        so that no data byte is ever read as a line. A command that was in
        flight is abandoned: its outcome is unknown, and its late final result
        must not reach the next command.
        """
        if self._state is not ConnectionState.ERROR:
            return
        self._mode = ParserMode.LINE
        self._payload_needed = 0
        self._echo_remaining = 0
        self._block_trailer_due = False
        skip, self._resync_skip = self._resync_skip, 0
        if skip:
            self._discarding = False
            self._start_payload("skip", skip, "the rest of a broken data block")
        else:
            self._discarding = not self._buffer.skip_through_lf()
        self._state = self._state_before_error
        if self._command is None:
            self._state = ConnectionState.IDLE
        else:
            self.abandon_command()
