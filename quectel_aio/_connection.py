"""ModemConnection: the sans-IO state machine of the AT dialect.

Theory of operation
-------------------
:class:`ModemConnection` holds no clock and does no I/O. The driver calls
:meth:`~ModemConnection.send` / :meth:`~ModemConnection.send_payload` to get
bytes to write, feeds what the port delivers to
:meth:`~ModemConnection.receive_data`, and pulls :mod:`._events` out of
:meth:`~ModemConnection.next_event` until it returns :data:`NEED_DATA`.

Two independent pieces of state:

* **Command state** (:class:`ConnectionState`): at most one command is in
  flight. ``send`` moves IDLE to AWAITING_RESPONSE (or AWAITING_PROMPT for
  ``AT+QSSLSEND``); the ``>`` prompt moves to SENDING_PAYLOAD; ``send_payload``
  to AWAITING_SEND_RESULT; ``CONNECT`` of ``AT+QFUPL`` to DATA_PHASE and its
  ``send_payload`` back to AWAITING_RESPONSE. A final result code returns to
  IDLE. :meth:`~ModemConnection.abandon_command` (timeout, cancellation) moves
  to ABANDONED: the command's late information lines and final result are
  swallowed, so they can never be handed to the *next* command; its final
  result (or :meth:`~ModemConnection.clear_abandoned`) returns to IDLE.
  A :class:`RemoteProtocolError` moves to ERROR until
  :meth:`~ModemConnection.resync`.

* **Transparent mode**: the ``CONNECT`` of a command that opens a transparent
  session (``AT+QSSLOPEN`` with access mode 2, ``AT+QISWTMD=<id>,2``,
  ``ATO``) moves to TRANSPARENT and the parser to RAW: every byte is
  :class:`TransparentData` until an in-band ``NO CARRIER`` (or, after
  :meth:`~ModemConnection.start_escape`, ``OK``) gives the port back
  (:class:`TransparentEnded`); see :mod:`._raw_mode` for the limits.

* **Parser mode**: LINE, RAW or PAYLOAD(n). In LINE mode a line ends at LF; CRs
  are stripped and blank lines ignored. Two headers switch to PAYLOAD(n), in
  which exactly ``n`` raw bytes are taken by count, never split or searched:
  ``+QSSLRECV: <n>`` (always, whatever the command state, so a late reply
  cannot desynchronise the parser) and ``+QSSLURC: "recv",<id>,<n>``
  (direct push). Because the mode is independent of the command state, a
  payload is consumed correctly even when its command was abandoned.

Two byte-level exceptions to line parsing, both only at a line start:

* the ``>`` prompt, while an ``AT+QSSLSEND`` waits for it (plus one
  following space if it is already buffered); it is not CRLF-terminated, so it
  is reported at once;
* the echo of a payload (``payload_echo=True``), consumed by count after
  ``send_payload``.

Every complete line is classified in this order: the echo of the last command
(dropped), ``+QSSLRECV: <n>``, the URCs (``+QSSLURC``, ``+QIURC``,
``+QSSLOPEN: <id>,<err>``, ``RDY``), final result codes, ``+CMD:`` lines (an
information line only if the command in flight declares the prefix, else
:class:`UnknownUrc`), then any other line (information of a raw command in
flight, else :class:`UnknownUrc`: the library's own commands only have
``+CMD:`` information lines). Only over-long lines, bad length headers,
over-long responses (:data:`MAX_RESPONSE_SIZE`), broken block framing and EOF
inside a payload raise :class:`RemoteProtocolError`; any other garbage
becomes :class:`UnknownUrc`.

A ``+QSSLRECV`` data block is held until the command's ``OK``
(commit-on-OK) and delivered in :class:`CommandSucceeded`; a failure discards
it.
"""

from __future__ import annotations

from ._buffer import ReceiveBuffer
from ._commands import Command, FileUpload, SslRecv, SslSend
from ._core_blocks import BlockParsing
from ._core_recovery import Recovery
from ._core_states import (
    CME_RE,
    DAMAGED_RECV_HEADER_RE,
    DATA_PHASE_RESULTS,
    FINAL_FAILURE,
    FINAL_SUCCESS,
    MAX_PAYLOAD_BLOCK,
    MAX_RESPONSE_SIZE,
    PDPDEACT_RE,
    PLAIN_URCS,
    QSSLOPEN_RE,
    RECV_HEADER_RE,
    ConnectionState,
    ParserMode,
    decode_line,
    echo_after,
    excerpt,
    parse_length,
)
from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    NEED_DATA,
    AbandonedPrompt,
    AbandonedTransparent,
    CommandFailed,
    CommandSucceeded,
    ConnectReceived,
    EchoReturned,
    EndOfStream,
    Event,
    ModemReady,
    NeedData,
    PdpDeactivated,
    PromptReceived,
    SslOpened,
    UnknownUrc,
)
from ._grammar import MAX_LINE_LENGTH
from ._raw_command import block_read_limit
from ._raw_mode import TransparentParsing

__all__ = ["MAX_LINE_LENGTH", "MAX_PAYLOAD_BLOCK", "MAX_RESPONSE_SIZE", "ConnectionState", "ModemConnection"]


class ModemConnection(Recovery, TransparentParsing, BlockParsing):
    """The sans-IO AT protocol engine for one serial channel.

    Args:
        payload_echo: the module echoes the payload of ``AT+QSSLSEND`` after
            the prompt; the echo is then consumed by count.
    """

    def __init__(self, *, payload_echo: bool = False) -> None:
        self._payload_echo = payload_echo
        self._buffer = ReceiveBuffer()
        self._state = ConnectionState.IDLE
        self._state_before_error = ConnectionState.IDLE
        self._command: Command | None = None
        self._echo_text: str | None = None
        # Echo off is armed once the command after ATE0 came back without echo
        # (_echo_probe 1: ATE0 sent, 2: that command in flight); from then until
        # RDY an echo means the module restarted unseen.
        self._echo_off = False
        self._echo_probe = 0
        self._echo_seen = self._echo_unexpected = False
        self._lines: list[str] = []
        self._held: bytes | None = None
        # Bytes of _lines and _held, bounded by MAX_RESPONSE_SIZE.
        self._collected = 0
        # A line that is not the command's arrived while it was in flight.
        self._stray_line = False
        # The driver may call send_payload (after a prompt or CONNECT).
        self._payload_allowed = False
        # An abandoned command may still produce its prompt / CONNECT.
        self._abandoned_data_phase_pending = False
        # Parser.
        self._mode = ParserMode.LINE
        self._payload_needed = 0
        # "hold" (QSSLRECV block of the command), "drop", "push" or "skip"
        # (what may be left of a broken block, dropped by resync).
        self._payload_target = "drop"
        self._payload_header = ""
        self._push_client = 0
        self._echo_remaining = 0
        # Optional bytes between the prompt and the payload echo.
        self._echo_trailer = b""
        self._skip_prompt_space = False
        self._discarding = False
        # The largest block the command in flight can read (0: it reads none).
        self._read_limit = 0
        # A +QSSLRECV block was just read: CR LF must follow (decision 84).
        self._block_trailer_due = False
        # Bytes resync() drops by count: what may be left of a broken block.
        self._resync_skip = 0
        # The next RDY line came where a peer's bytes could be (ModemReady.in_band).
        self._rdy_in_band = False
        self._received_total = 0
        self._eof = False
        self._eof_reported = False
        # Transparent mode.
        self._raw_client = -1
        self._release_tail = False

    # ------------------------------------------------------------------
    # Introspection
    # ------------------------------------------------------------------

    @property
    def state(self) -> ConnectionState:
        """The command state."""
        return self._state

    @property
    def in_flight(self) -> Command | None:
        """The command awaiting its result (``None`` when idle or abandoned)."""
        if self._state in (ConnectionState.IDLE, ConnectionState.ABANDONED):
            return None
        return self._command

    @property
    def abandoned(self) -> Command | None:
        """The abandoned command whose late replies are being swallowed."""
        return self._command if self._state is ConnectionState.ABANDONED else None

    @property
    def data_phase_owed(self) -> bool:
        """An abandoned command's prompt (or ``CONNECT``) may still come, and its payload with it."""
        return self._state is ConnectionState.ABANDONED and self._abandoned_data_phase_pending

    @property
    def payload_echo(self) -> bool:
        """Whether the payload of ``AT+QSSLSEND`` is expected to be echoed."""
        return self._payload_echo

    @property
    def at_eof(self) -> bool:
        """``receive_data(b"")`` was called."""
        return self._eof

    @property
    def buffered(self) -> int:
        """Number of received bytes not parsed yet."""
        return len(self._buffer)

    @property
    def bytes_needed(self) -> int:
        """How many more received bytes can complete the next event (at least 1).

        Inside a length-announced payload this is the rest of the payload:
        fewer bytes cannot produce an event, so an I/O layer may wait for all
        of them before calling :meth:`receive_data`. Elsewhere it is 1.
        """
        if self._mode is ParserMode.PAYLOAD:
            missing = self._payload_needed - len(self._buffer)
            if missing > 1:
                return missing
        return 1

    def __repr__(self) -> str:
        command = self._command.at_name if self._command is not None else None
        return f"<ModemConnection state={self._state.name} command={command} mode={self._mode.name}>"

    # ------------------------------------------------------------------
    # Host to module
    # ------------------------------------------------------------------

    def send(self, command: Command) -> bytes:
        """Start ``command`` and return the bytes to write.

        Raises:
            LocalProtocolError: if a command is in flight or abandoned, the
                connection is in ERROR or at EOF, or ``command`` is not a
                :class:`Command`.
        """
        if not isinstance(command, Command):
            raise LocalProtocolError(f"not a command: {type(command).__name__}")
        if self._state is not ConnectionState.IDLE:
            raise LocalProtocolError(f"cannot send {command.at_name} in state {self._state.name}")
        if self._eof:
            raise LocalProtocolError("the port reached EOF")
        data = command.encode()
        self._command = command
        self._echo_text = data[:-1].decode("ascii")
        if self._echo_probe == 2:
            self._echo_off, self._echo_probe = not self._echo_seen, 0
        elif self._echo_probe == 1:
            self._echo_probe = 2
        self._echo_unexpected, self._echo_seen = self._echo_off, False
        # Only ATE and raw lines can change the echo; the hot path skips the split.
        echo = echo_after(self._echo_text) if command.at_name == "ATE" or command.accepts_any_line else None
        if echo is not None:
            self._echo_off, self._echo_probe = False, 0 if echo else 1
        read = command.length if isinstance(command, SslRecv) else 0
        self._read_limit = (
            block_read_limit(self._echo_text, MAX_PAYLOAD_BLOCK) if command.accepts_any_line else read
        )
        self._lines = []
        self._held = None
        self._collected = 0
        self._stray_line = False
        self._payload_allowed = False
        self._state = (
            ConnectionState.AWAITING_PROMPT if command.expects_prompt else ConnectionState.AWAITING_RESPONSE
        )
        return data

    def send_payload(self, data: bytes | bytearray | memoryview) -> bytes:
        """Return the data-phase bytes of ``AT+QSSLSEND`` or ``AT+QFUPL``.

        Legal once after :class:`PromptReceived` / :class:`ConnectReceived`
        (or :class:`AbandonedPrompt`), with exactly the announced length.

        Raises:
            LocalProtocolError: if no data phase is open or the length differs.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise LocalProtocolError(f"payload must be bytes, not {type(data).__name__}")
        payload = bytes(data)
        command = self._command
        if not self._payload_allowed or command is None:
            raise LocalProtocolError(f"no data phase is open (state {self._state.name})")
        if isinstance(command, SslSend):
            expected = command.length
        elif isinstance(command, FileUpload):
            expected = command.size
        else:  # pragma: no cover - only these two commands open a data phase
            raise LocalProtocolError(f"{command.at_name} has no data phase")
        if len(payload) != expected:
            raise LocalProtocolError(f"{command.at_name} announced {expected} bytes, got {len(payload)}")
        self._payload_allowed = False
        if isinstance(command, SslSend):
            if self._payload_echo:
                self._echo_remaining = len(payload)
                self._echo_trailer = b" \r\n" if self._skip_prompt_space else b"\r\n"
            if self._state is ConnectionState.SENDING_PAYLOAD:
                self._state = ConnectionState.AWAITING_SEND_RESULT
        elif self._state is ConnectionState.DATA_PHASE:
            self._state = ConnectionState.AWAITING_RESPONSE
        return payload

    # ------------------------------------------------------------------
    # Module to host
    # ------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Store bytes received from the port; ``b""`` means EOF.

        Raises:
            LocalProtocolError: if data is fed after EOF.
        """
        if not data:
            self._eof = True
            return
        if self._eof:
            raise LocalProtocolError("data received after EOF")
        self._received_total += len(data)
        if self._discarding:
            self._buffer.append(data)
            self._discarding = not self._buffer.skip_through_lf()
            return
        self._buffer.append(data)

    def next_event(self) -> Event | NeedData:
        """Parse and return the next event, or :data:`NEED_DATA`.

        Raises:
            RemoteProtocolError: the module broke the grammar. The connection
                is in ERROR until :meth:`resync`.
        """
        if self._state is ConnectionState.ERROR:
            raise RemoteProtocolError("the connection is in ERROR; call resync()")
        if self._mode is ParserMode.LINE and not self._buffer and not self._eof:
            return NEED_DATA  # the common end of every batch: nothing left to parse
        try:
            while True:
                event = self._step()
                if event is not None:
                    return event
        except RemoteProtocolError:
            self._state_before_error = self._state
            self._state = ConnectionState.ERROR
            self._payload_allowed = False
            raise

    # ------------------------------------------------------------------
    # Parser
    # ------------------------------------------------------------------

    def _step(self) -> Event | NeedData | None:
        """One parsing step: an event, NEED_DATA, or None (progress, no event)."""
        buffer = self._buffer
        if self._mode is ParserMode.RAW:
            return self._raw_step()
        if self._mode is ParserMode.PAYLOAD:
            block = buffer.maybe_extract_exact(self._payload_needed)
            if block is None:
                if self._eof:
                    raise RemoteProtocolError(
                        f"EOF inside a {self._payload_needed}-byte data block", excerpt(self._payload_header)
                    )
                return NEED_DATA
            self._mode = ParserMode.LINE
            return self._payload_done(block)
        if self._discarding:
            return self._at_end()
        if self._block_trailer_due and not self._block_trailer_checked(buffer):
            return self._at_end()
        if self._echo_remaining:
            # The rest of the prompt (each byte optional) precedes the echo.
            while self._echo_trailer:
                if not buffer:
                    return self._at_end()
                if buffer.peek() == self._echo_trailer[:1]:
                    buffer.extract_at_most(1)
                self._echo_trailer = self._echo_trailer[1:]
            self._echo_remaining -= len(buffer.extract_at_most(self._echo_remaining))
            return None if not self._echo_remaining else self._at_end()
        # Blank lines carry nothing: skip them here rather than one step each.
        buffer.skip_line_endings()
        if self._prompt_expected() and buffer.peek() == b">":
            return self._prompt()
        line = buffer.maybe_extract_line()
        if line is None:
            if buffer.incomplete_line_too_long(MAX_LINE_LENGTH):
                raise RemoteProtocolError(
                    f"line longer than {MAX_LINE_LENGTH} bytes without LF", excerpt(buffer.peek(64))
                )
            return self._at_end()
        if len(line) > MAX_LINE_LENGTH:
            raise RemoteProtocolError(f"line longer than {MAX_LINE_LENGTH} bytes", excerpt(line))
        text = decode_line(line.replace(b"\r", b"")[:-1])
        if not text:
            return None
        return self._line(text)

    def _at_end(self) -> Event | NeedData | None:
        """Nothing complete is buffered: NEED_DATA, or the EOF handling."""
        if not self._eof:
            return NEED_DATA
        if self._buffer and not self._discarding:
            # A last line without LF: parse it as a line.
            rest = bytes(self._buffer)
            self._buffer.clear()
            self._echo_remaining = 0
            text = decode_line(rest.replace(b"\r", b"").replace(b"\n", b""))
            return self._line(text) if text else None
        self._buffer.clear()
        if self._eof_reported:
            return NEED_DATA
        self._eof_reported = True
        return EndOfStream()

    def _prompt_expected(self) -> bool:
        return self._state is ConnectionState.AWAITING_PROMPT or (
            self._state is ConnectionState.ABANDONED
            and self._abandoned_data_phase_pending
            and self._command is not None
            and self._command.expects_prompt
        )

    def _prompt(self) -> Event:
        buffer = self._buffer
        buffer.extract_at_most(1)
        if buffer.peek() == b" ":
            buffer.extract_at_most(1)
            self._skip_prompt_space = False
        else:
            self._skip_prompt_space = True
        command = self._command
        assert command is not None
        self._payload_allowed = True
        if self._state is ConnectionState.ABANDONED:
            self._abandoned_data_phase_pending = False
            return AbandonedPrompt(command)
        self._state = ConnectionState.SENDING_PAYLOAD
        return PromptReceived(command)

    def _line(self, text: str) -> Event | None:
        if text == self._echo_text:
            self._echo_seen = True
            if not self._echo_unexpected:
                return None
            self._echo_unexpected = self._echo_off = False
            return EchoReturned()
        first = text[0]
        if first == "+":
            head = text.partition(":")[0]
            if head == "+QSSLRECV":
                match = RECV_HEADER_RE.match(text)
                if match is not None:
                    return self._recv_header(text, parse_length(match.group(1), "+QSSLRECV"))
            elif head == "+QSSLURC":
                return self._qsslurc(text)
            elif head == "+QIURC":
                match = PDPDEACT_RE.match(text)
                return PdpDeactivated(int(match.group(1))) if match else UnknownUrc(text)
            elif head == "+QSSLOPEN":
                match = QSSLOPEN_RE.match(text)
                if match is not None:
                    return SslOpened(int(match.group(1)), int(match.group(2)))
            elif head in ("+CME ERROR", "+CMS ERROR"):
                return self._final(text)
            return self._info(text, head)
        if text == "RDY":
            self._echo_unexpected = self._echo_off = False
            self._echo_probe = 0
            in_band, self._rdy_in_band = self._rdy_in_band, False
            return ModemReady(in_band)
        if text in FINAL_SUCCESS or text in FINAL_FAILURE:
            return self._final(text)
        if text in PLAIN_URCS:
            return UnknownUrc(text)
        return self._info(text, None)

    def _info(self, text: str, head: str | None) -> Event | None:
        command = self._command
        state = self._state
        if command is None or state is ConnectionState.IDLE:
            return UnknownUrc(text)
        if self._read_limit and self._held is None and state is not ConnectionState.ABANDONED:
            damaged = DAMAGED_RECV_HEADER_RE.match(text)
            if damaged is not None:
                # A byte of the header was lost: its block follows, and must
                # not be read as lines. Skip it by its length when that is
                # known, else the largest the read could carry (decision 100).
                count = damaged.group(1)
                self._resync_skip = min(int(count), MAX_PAYLOAD_BLOCK) if count else self._read_limit
                self._resync_skip += 2
                raise RemoteProtocolError(
                    "a damaged +QSSLRECV header: a byte was lost", excerpt(text[: damaged.end()])
                )
        if not command.accepts_any_line and (head is None or head not in command.info_prefixes):
            # Only a raw command has unprefixed information lines; for the
            # others such a line is a URC (RING, a supply-voltage warning...).
            self._stray_line = True
            return UnknownUrc(text)
        if state is not ConnectionState.ABANDONED:
            self._collect(len(text))
            self._lines.append(text)
        return None

    def _collect(self, size: int) -> None:
        """Count ``size`` more bytes of the response of the command in flight.

        Raises:
            RemoteProtocolError: the response outgrew :data:`MAX_RESPONSE_SIZE`
                (a module that never ends it must not make the host hold it).
        """
        self._collected += size
        if self._collected > MAX_RESPONSE_SIZE:
            name = self._command.label if self._command is not None else "AT"
            raise RemoteProtocolError(f"the response of {name} is longer than {MAX_RESPONSE_SIZE} bytes")

    def _final(self, text: str) -> Event | None:
        command = self._command
        state = self._state
        if command is None or state is ConnectionState.IDLE:
            return UnknownUrc(text)
        transparent_client = command.transparent_client
        if text == "CONNECT" and transparent_client is not None:
            abandoned = state is ConnectionState.ABANDONED
            self._finish()
            self._enter_raw(transparent_client)
            if abandoned:
                return AbandonedTransparent(command)
            return CommandSucceeded(command, text, (), None)
        if text == "CONNECT" and command.expects_connect:
            if state is ConnectionState.ABANDONED:
                if not self._abandoned_data_phase_pending:
                    return None
                self._abandoned_data_phase_pending = False
                self._payload_allowed = True
                return AbandonedPrompt(command)
            if state is ConnectionState.AWAITING_RESPONSE:
                self._state = ConnectionState.DATA_PHASE
                self._payload_allowed = True
                return ConnectReceived(command)
        if text in DATA_PHASE_RESULTS and not command.expects_prompt and not command.accepts_any_line:
            # SEND OK / SEND FAIL end a data phase this command does not have:
            # the module took our bytes as a payload (decision 84). Not this
            # command's result; its own follows.
            return UnknownUrc(text)
        if text == "CONNECT" and not command.accepts_any_line:
            return UnknownUrc(text)  # neither a data phase nor transparent mode was asked for
        if state is ConnectionState.ABANDONED:
            self._finish()
            return None
        lines = tuple(self._lines)
        held = self._held
        stray = self._stray_line
        self._finish()
        if text in FINAL_SUCCESS:
            if held is None and isinstance(command, SslRecv) and (lines or stray):
                # No valid +QSSLRECV header, but lines that were not URCs we
                # know: the header was damaged (a lost byte) and its block
                # was read as lines. Taking the OK as "nothing to read" would
                # silently cut the block out of the stream (decision 100).
                raise RemoteProtocolError(
                    "AT+QSSLRECV ended without a valid +QSSLRECV header: its data was lost"
                )
            return CommandSucceeded(command, text, lines, held)
        match = CME_RE.match(text)
        if match is None:
            return CommandFailed(command, text, None, "", lines)
        detail = match.group(2).strip()
        result = f"+{match.group(1)} ERROR"
        if detail.isdigit() and detail.isascii() and len(detail) <= 6:
            return CommandFailed(command, result, int(detail), "", lines)
        return CommandFailed(command, result, None, detail, lines)

    def _finish(self) -> None:
        self._state = ConnectionState.IDLE
        self._command = None
        self._lines = []
        self._held = None
        self._collected = 0
        self._stray_line = False
        self._payload_allowed = False
        self._abandoned_data_phase_pending = False
        self._echo_remaining = 0
        self._skip_prompt_space = False
