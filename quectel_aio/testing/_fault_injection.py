"""Fault injection of the EC200U emulator (part of :class:`ModemEmulator`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from .._grammar import format_line
from ._state import FaultPlan, PdpContext
from ._wire import ERROR

if TYPE_CHECKING:
    from ._config import EmulatorConfig
    from ._input import InputBuffer
    from ._network import TlsSocket

__all__ = ["FaultInjection", "command_key"]


def command_key(text: str) -> str:
    """The command text without ``AT``, upper-cased (what fault prefixes match)."""
    upper = text.upper()
    return upper[2:] if upper.startswith("AT") else upper


class _EmitUrc(Protocol):
    def __call__(self, data: bytes, *, general: bool = False, droppable: bool = True) -> None: ...


class FaultInjection:
    """Scripted faults: URCs at chosen moments, SEND FAIL, refused or silent commands."""

    _faults: FaultPlan
    config: EmulatorConfig
    pdp: dict[int, PdpContext]
    sockets: dict[int, TlsSocket]
    dtr_mode: int
    #: The host's DTR line (True: asserted); see :meth:`set_dtr`.
    dtr = True
    #: A DTR drop asked the transparent session to end (``"OK"`` or ``"NO CARRIER"``).
    dtr_exit: str | None = None

    # Provided by ModemEmulator.
    _input: InputBuffer
    emit_urc: _EmitUrc
    close_context_sockets: Callable[[int], list[int]]

    def inject_urc(self, line: str | bytes, *, before_next_response: bool = False) -> None:
        """Emit ``CR LF line CR LF`` as a URC at the next line boundary.

        Args:
            line: the URC text without framing.
            before_next_response: hold it until the next command and write it
                after that command's echo, right before its response.
        """
        blob = format_line(line)
        if before_next_response:
            self._faults.pre_response_urcs.append(blob)
        else:
            self.emit_urc(blob, droppable=False)

    def inject_raw(self, data: bytes) -> None:
        """Emit raw bytes at the next line boundary (no framing added).

        Args:
            data: the bytes to write, exactly as given.
        """
        self.emit_urc(data, droppable=False)

    def lose_next_recv_urcs(self, n: int = 1) -> None:
        """Lose the next ``n`` buffer-mode ``+QSSLURC: "recv"`` doorbells on the wire.

        The module believes it rang: like a real one, it rings again only
        after a read has found its buffer empty. A host that reads only on
        the doorbell stalls.

        Args:
            n: how many doorbells to lose (added to any still pending).
        """
        self._faults.lose_recv_urcs += n

    def fail_next_sends(self, n: int = 1) -> None:
        """Answer the next ``n`` complete QSSLSEND payloads with ``SEND FAIL``.

        The payload is taken and dropped, as when the module's send buffer is full.

        Args:
            n: how many sends fail (added to any still pending).
        """
        self._faults.fail_sends += n

    def take_send_failure(self) -> bool:
        """Consume one scripted SEND FAIL (used by the QSSLSEND handler)."""
        if self._faults.fail_sends > 0:
            self._faults.fail_sends -= 1
            return True
        return False

    def fail_next_command(self, prefix: str, response: bytes = ERROR) -> None:
        """Answer the next command starting with ``prefix`` with ``response``.

        Args:
            prefix: for example ``"AT+QSSLOPEN"`` or ``"+QSSLCFG=\\"seclevel\\""``
                (``AT`` optional, case-insensitive).
            response: the bytes written instead of running the command.
        """
        self._faults.fail_commands.append((command_key(prefix), response))

    def mute_next_command(self, prefix: str) -> None:
        """Swallow the next command starting with ``prefix`` (echo only, no response).

        Args:
            prefix: as for :meth:`fail_next_command`.
        """
        self._faults.mute_commands.append(command_key(prefix))

    def deactivate_pdp(self, cid: int) -> None:
        """The network drops PDP context ``cid``: ``+QIURC: "pdpdeact"`` and closed URCs.

        The order of the two follows ``EmulatorConfig.pdpdeact_first``.

        Its connections go to state closing (transparent mode ends with
        ``NO CARRIER``), opens still in progress on it are dropped, and
        ``AT+QIACT`` on it fails until the host sends ``AT+QIDEACT``.

        Args:
            cid: the PDP context ID (1-7).

        Raises:
            KeyError: ``cid`` is not a PDP context ID.
        """
        self.pdp[cid].active = False
        self.pdp[cid].lost = True
        ids = self.close_context_sockets(cid)
        closed = [format_line(f'+QSSLURC: "closed",{client_id}') for client_id in ids]
        if not self.config.pdpdeact_first:
            for blob in closed:
                self.emit_urc(blob)
        self.emit_urc(format_line(f'+QIURC: "pdpdeact",{cid}'), general=True)
        if self.config.pdpdeact_first:
            for blob in closed:
                self.emit_urc(blob)

    def close_from_peer(self, client_id: int) -> None:
        """The server side drops connection ``client_id`` (TCP reset).

        The socket then reports ``+QSSLURC: "closed"`` (``NO CARRIER`` in
        transparent mode) as for any peer close; an unknown ID is ignored.

        Args:
            client_id: the ``<clientID>`` of the connection.
        """
        sock = self.sockets.get(client_id)
        if sock is not None:
            sock.abort_transport()

    def set_dtr(self, asserted: bool) -> None:
        """The host drives DTR (ON: ``True``).

        An ON-to-OFF transition during transparent mode ends it as ``AT&D``
        says: ``&D1`` returns to command mode with ``OK`` and keeps the
        connection (in buffer access mode); ``&D2`` (the factory value) ends
        the connection with ``NO CARRIER``; ``&D0`` ignores DTR.

        Args:
            asserted: the new level of the line (``False``: OFF).
        """
        falling = self.dtr and not asserted
        self.dtr = asserted
        if falling and self.dtr_mode in (1, 2):
            self.dtr_exit = "OK" if self.dtr_mode == 1 else "NO CARRIER"
            self._input.wake()

    def take_dtr_exit(self) -> str | None:
        """The pending DTR exit of the transparent session, consumed."""
        result, self.dtr_exit = self.dtr_exit, None
        return result
