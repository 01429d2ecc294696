"""Length-announced data blocks: the part of the sans-IO core that reads bytes by count.

This is the part of :class:`~quectel_aio._connection.ModemConnection` that
turns a ``+QSSLRECV: <n>`` header (the answer to ``AT+QSSLRECV``) or a
``+QSSLURC: "recv",<id>,<n>`` header (direct push) into PAYLOAD(n) mode, and
a completed block into its outcome: held for the command's ``OK``, pushed to
its socket, or dropped.
"""

from __future__ import annotations

from collections.abc import Callable

from ._commands import Command
from ._core_states import QSSLURC_RE, ConnectionState, ParserMode, parse_length
from ._events import Event, SslClosed, SslDataAvailable, SslDataPushed, UnknownUrc

__all__ = ["BlockParsing"]


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
        count = parse_length(extra, "direct-push")
        if count == 0:
            return SslDataPushed(client, b"")
        self._start_payload("push", count, text)
        self._push_client = client
        return None
