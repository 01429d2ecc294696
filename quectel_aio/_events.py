"""Events produced by the sans-IO core.

Theory of operation
-------------------
:meth:`ModemConnection.next_event` turns the bytes received from the module
into a sequence of *events*. Every event is a past-tense fact ("the command
succeeded", "socket 4 was closed"), modelled as a frozen, slotted dataclass so
that events can be compared, hashed and logged, and never mutated by a
consumer.

Two base classes split the events by who is waiting for them:

* :class:`Response` is the outcome (or an intermediate step) of the command in
  flight. Each carries the :class:`~quectel_aio._commands.Command` it belongs
  to, so the driver resolves exactly one waiter.
* :class:`Unsolicited` is a URC: the module volunteered it, at any line
  boundary, whether or not a command was in flight.

:class:`AbandonedPrompt` and :class:`EndOfStream` are neither: they are
bookkeeping facts for the driver itself.

When no complete event can be produced yet, ``next_event`` returns the
sentinel :data:`NEED_DATA` (one member of the :class:`NeedData` enum, so that
``event is NEED_DATA`` narrows the type for mypy).

Payload bytes (``CommandSucceeded.payload``, ``SslDataPushed.data``) are
deliberately left out of the reprs: they are remote-controlled data and may be
secret.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ._commands import Command

__all__ = [
    "NEED_DATA",
    "AbandonedPrompt",
    "AbandonedTransparent",
    "CommandFailed",
    "CommandSucceeded",
    "ConnectReceived",
    "EndOfStream",
    "Event",
    "ModemReady",
    "EchoReturned",
    "NeedData",
    "PdpDeactivated",
    "PromptReceived",
    "Response",
    "SslClosed",
    "SslDataAvailable",
    "SslDataLost",
    "SslDataPushed",
    "SslOpened",
    "TransparentData",
    "TransparentEnded",
    "Unsolicited",
    "UnknownUrc",
]


class NeedData(enum.Enum):
    """The type of the :data:`NEED_DATA` sentinel."""

    NEED_DATA = "NEED_DATA"


#: Returned by ``next_event`` when more bytes are needed to make progress.
NEED_DATA = NeedData.NEED_DATA


class Event:
    """Base class of every event."""

    __slots__ = ()


# ---------------------------------------------------------------------------
# Responses to the command in flight
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response(Event):
    """Base class of the results of the command in flight."""

    command: Command


@dataclass(frozen=True, slots=True)
class CommandSucceeded(Response):
    """The command finished with a success result code.

    Attributes:
        result: ``"OK"``, ``"SEND OK"`` or ``"CONNECT"``.
        lines: the information lines that belong to the command, CR/LF
            stripped, in arrival order.
        payload: the data block of an ``AT+QSSLRECV`` (``b""`` for
            ``+QSSLRECV: 0``), else ``None``. Delivered only once the final
            ``OK`` arrived (commit-on-OK).
    """

    result: str = "OK"
    lines: tuple[str, ...] = ()
    payload: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CommandFailed(Response):
    """The command finished with a failure result code.

    Attributes:
        result: ``"ERROR"``, ``"+CME ERROR"``, ``"+CMS ERROR"``,
            ``"SEND FAIL"`` or ``"NO CARRIER"``.
        code: the numeric CME/CMS code, or ``None``.
        text: the text form of a CME/CMS error if the module sent text,
            else ``""``.
        lines: information lines received before the failure.
    """

    result: str = "ERROR"
    code: int | None = None
    text: str = ""
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PromptReceived(Response):
    """The ``>`` data prompt of ``AT+QSSLSEND`` arrived.

    The command is *not* finished: the driver must now call
    ``send_payload`` with exactly ``command.length`` bytes.
    """


@dataclass(frozen=True, slots=True)
class ConnectReceived(Response):
    """``CONNECT`` opened the data phase of ``AT+QFUPL``.

    The command is *not* finished: the driver must now call
    ``send_payload`` with exactly ``command.size`` bytes.
    """


# ---------------------------------------------------------------------------
# Driver bookkeeping
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AbandonedPrompt(Event):
    """An abandoned command's data phase started anyway.

    Emitted when the ``>`` prompt of an abandoned ``AT+QSSLSEND`` (or the
    ``CONNECT`` of an abandoned ``AT+QFUPL``) arrives. The module now waits
    for data: the driver should cancel the data phase (write ESC) or complete
    it with filler bytes (``send_payload`` is allowed once more). The
    command's final result is still swallowed.
    """

    command: Command


@dataclass(frozen=True, slots=True)
class AbandonedTransparent(Event):
    """An abandoned command's ``CONNECT`` arrived: the port is transparent.

    The module now forwards every host byte to the socket. The driver must
    leave transparent mode (``+++``) and close the socket; nothing else may be
    written until :class:`TransparentEnded`.
    """

    command: Command


@dataclass(frozen=True, slots=True)
class TransparentData(Event):
    """Raw bytes the module forwarded from a socket in transparent mode."""

    client_id: int
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class TransparentEnded(Event):
    """Transparent mode ended; the port carries AT commands again.

    ``reason`` is ``"OK"`` (the ``+++`` escape was accepted; the connection
    stays open in buffer access mode), ``"NO CARRIER"`` (the connection
    ended; it waits for ``AT+QSSLCLOSE``) or ``"RDY"`` (the module restarted;
    :class:`ModemReady` follows).
    """

    client_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class EndOfStream(Event):
    """The port reached EOF and every buffered byte has been parsed.

    Emitted once; ``next_event`` returns :data:`NEED_DATA` afterwards.
    """


# ---------------------------------------------------------------------------
# Unsolicited result codes
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unsolicited(Event):
    """Base class of unsolicited result codes (URCs)."""


@dataclass(frozen=True, slots=True)
class SslOpened(Unsolicited):
    """``+QSSLOPEN: <clientID>,<err>``: an open finished (``error`` 0 = success)."""

    client_id: int
    error: int


@dataclass(frozen=True, slots=True)
class SslDataAvailable(Unsolicited):
    """``+QSSLURC: "recv",<clientID>``: data waits in the module's buffer."""

    client_id: int


@dataclass(frozen=True, slots=True)
class SslDataPushed(Unsolicited):
    """``+QSSLURC: "recv",<clientID>,<len>`` followed by the data (direct push)."""

    client_id: int
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class SslDataLost(Unsolicited):
    """A direct-push header for ``client_id`` whose length cannot be read: its data is gone.

    The block is skipped by its announced length when that is a number, so
    nothing in it is read as module output; the socket's stream has a hole.
    """

    client_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class SslClosed(Unsolicited):
    """``+QSSLURC: "closed",<clientID>``: the connection broke or the peer closed."""

    client_id: int


@dataclass(frozen=True, slots=True)
class PdpDeactivated(Unsolicited):
    """``+QIURC: "pdpdeact",<contextID>``: the network dropped the PDP context."""

    context_id: int


@dataclass(frozen=True, slots=True)
class ModemReady(Unsolicited):
    """``RDY``: the module (re)started and its AT interface is ready.

    ``in_band`` is True when the line ended a transparent session or was
    found among the bytes of an abandoned data block: a peer may have sent it.
    """

    in_band: bool = False


@dataclass(frozen=True, slots=True)
class EchoReturned(Unsolicited):
    """The module echoed a command after ``ATE0``: it restarted, and its ``RDY`` went elsewhere."""


@dataclass(frozen=True, slots=True)
class UnknownUrc(Unsolicited):
    """Any other unsolicited line (``+CPIN: READY``, ``+QIND: ...``, garbage).

    ``line`` is the line decoded as ASCII with non-ASCII bytes escaped.
    """

    line: str
