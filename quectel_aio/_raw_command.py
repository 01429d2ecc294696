"""The raw command line (``Modem.command``): what it may and may not start.

Theory of operation
-------------------
A raw line is sent as it is, so the core cannot know what each command in it
does. It refuses every line that would put the port into a state the core
does not track: a data phase (``AT+QSSLSEND``, ``AT+QISEND``, ``AT+QFUPL``,
``ATD``, and the prompts or ``CONNECT`` of the module's file, HTTP, MQTT and
SMS commands), raw bytes that would be read as response lines and URCs
(``AT+QFDWL``, ``AT+QFREAD``, ``AT+QHTTPREAD``, ``AT+QIRD``), transparent mode (``ATO``, an open or switch in access
mode 2), or result codes the parser would no longer recognise (``ATV0``
numeric codes, ``ATQ1`` none at all, ``ATS3``/``ATS4`` other line characters).
Basic commands are read as V.250 reads them: leading zeros are ignored and a
missing value is 0, so ``ATV``, ``ATV00`` and ``ATS03=10`` are refused too.

One line can hold several commands (V.250): extended commands are separated
by ``;`` and basic commands follow each other with no separator at all
(``ATE0O``). The line is therefore split into its commands first, honouring
quotes, and every command is checked, not only the first. Quotes are honoured
only where every reading agrees on them: each string opens right after ``=``
or ``,`` and closes before ``,``, ``;`` or the end of the line, so a parser that
knows quotes only in parameters splits the line the same way. Any other
quote refuses the line.

A line that passes these checks may still touch what a
:class:`~quectel_aio.Modem` keeps track of: a client ID its sockets hold, an
SSL context it configured, the PDP context its sockets use.
:func:`resource_uses` names those uses (the Modem decides what it allows);
queries (``AT+QSSLRECV=<id>,0``, ``AT+QSSLCFG="<item>",<ctx>``) are no use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import ClassVar

from ._command_base import Command, _str
from ._errors import LocalProtocolError

__all__ = [
    "Raw",
    "ResourceUse",
    "basic_value",
    "block_read_limit",
    "check_resource_uses",
    "command_name",
    "resource_uses",
    "split_commands",
]

#: Extended commands that start a phase the core must know about to stay in step:
#: a ``>`` prompt or ``CONNECT`` after which the module takes command lines as data.
_DATA_PHASE_PREFIXES = (
    "+QSSLSEND=",
    "+QISEND=",
    "+QFUPL=",
    "+QFWRITE=",
    "+QHTTPURL=",
    "+QHTTPPOST=",
    "+QHTTPPUT=",
    "+QMTPUB=",
    "+QMTPUBEX=",
    "+CMGS=",
    "+CMGW",
    "+CMGC=",
)
#: Extended commands that answer with raw bytes the core would read as lines.
_RAW_OUTPUT_PREFIXES = ("+QFDWL=", "+QFREAD=", "+QHTTPREAD", "+QIRD=")
#: ``AT+QIRD=<id>,0`` only asks how many bytes are waiting.
_LENGTH_QUERY = re.compile(r",0+\Z")
#: Extended commands whose last parameter is an access mode (2 = transparent).
_ACCESS_MODE_PREFIXES = ("+QSSLOPEN=", "+QIOPEN=", "+QISWTMD=")
#: Characters that start an extended command (``+`` in V.250; vendors also use others).
_EXTENDED_STARTS = ("+", "$", "^", "#", "*", "!")
#: One basic command: ``S<n>=<v>``/``S<n>?``, or a letter (``&``, ``\\`` or ``%`` optional) and digits.
_BASIC = re.compile(r"S\d+(?:=\d*|\?)|[&\\%]?[A-Z]\d*")


def split_commands(line: str) -> list[str]:
    """Split a command line into its commands, without ``AT``.

    Outside quotes, letters are upper-cased and spaces dropped; quoted text is
    kept as it is (a ``;`` inside quotes separates nothing). A character that starts no known basic command is skipped, so whatever
    follows it is still seen.
    """
    body = line[2:]
    segments: list[str] = []
    current: list[str] = []
    quoted = False
    for char in body:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "; ":
            if char == ";":
                segments.append("".join(current))
                current = []
            continue
        current.append(char if quoted else char.upper())
    segments.append("".join(current))
    commands: list[str] = []
    for segment in segments:
        rest = segment
        while rest and not rest.startswith(_EXTENDED_STARTS):
            if rest.startswith("D"):
                commands.append(rest)  # a dial string runs to the end of its command
                rest = ""
                break
            match = _BASIC.match(rest)
            if match is None:
                rest = rest[1:]  # not understood: skip it, and still check what follows
                continue
            commands.append(match.group())
            rest = rest[match.end() :]
        if rest:
            commands.append(rest)  # an extended command runs to the next ";"
    return commands


_NAME = re.compile(r'[^=,"]*')


def command_name(command: str) -> str:
    """One command (as :func:`split_commands` returns it) without its parameters.

    It stops at the first ``=``, ``,`` or quote, so a command whose ``=`` is
    missing (a typo the module answers with ``ERROR``) is not named by its
    parameters either.
    """
    match = _NAME.match(command)
    assert match is not None  # the pattern matches the empty string
    return match.group()


_BASIC_PARTS = re.compile(r"([&\\%]?[A-Z])(\d*)\Z|S(\d+)=")


def basic_value(command: str) -> tuple[str, int] | None:
    """A basic command (as :func:`split_commands` returns it) as its name and number.

    ``"V00"`` is ``("V", 0)`` and ``"V"`` too (V.250: leading zeros are
    ignored, a missing value is 0); an S-register write ``"S03=10"`` is
    ``("S=", 3)``. ``None`` for anything else (extended commands, dial
    strings, S-register queries).
    """
    match = _BASIC_PARTS.match(command)
    if match is None:
        return None
    name, digits, register = match.groups()
    if register is not None:
        return "S=", int(register)
    return name, int(digits or "0")


def _check_quotes(line: str) -> None:
    """Refuse a quote outside a parameter, or one left open (see the module docstring)."""
    index = line.find('"')
    while index != -1:
        before = line[:index].rstrip(" ")
        close = line.find('"', index + 1)
        if not before.endswith(("=", ",")) or close == -1:
            raise LocalProtocolError(f"a raw command line has a quote outside a parameter at index {index}")
        after = line[close + 1 :].lstrip(" ")
        if after and after[0] not in ",;":
            raise LocalProtocolError(f"a raw command line has a quote outside a parameter at index {close}")
        index = line.find('"', close + 1)


def _data_mode_reason(command: str) -> str | None:
    """Why one command (as :func:`split_commands` returns it) would desynchronise the core."""
    basic = basic_value(command)
    if basic is not None and basic[0] == "O":
        return "enter transparent mode (ATO)"
    if basic is not None and basic[0] == "A":
        return "answer a call into data mode (ATA)"
    if command.startswith("D"):
        return "start a data phase (ATD)"
    if command.startswith(_EXTENDED_STARTS) and command.endswith("=?"):
        return None  # a test command only lists the parameter ranges
    if command.startswith(_DATA_PHASE_PREFIXES):
        return f"start a data phase (AT{command.partition('=')[0]})"
    if basic in (("V", 0), ("Q", 1), ("S=", 3), ("S=", 4)):
        return f"change how result codes are framed (AT{command}), which the parser relies on"
    if command.startswith(_RAW_OUTPUT_PREFIXES) and not (
        command.startswith("+QIRD=") and _LENGTH_QUERY.search(command)
    ):
        name = command.partition("=")[0]
        return f"read raw bytes (AT{name}): they would be parsed as responses and URCs"
    if command.startswith(_ACCESS_MODE_PREFIXES):
        fields = _fields(command.partition("=")[2])
        if len(fields) > 1 and _number(fields[-1]) == 2:  # 2, 02 or "2"
            return "open a socket in transparent mode"
    return None


@dataclass(frozen=True, slots=True)
class ResourceUse:
    """One command of a raw line that reads, writes, closes or changes a tracked resource.

    Attributes:
        kind: ``"client"`` (a client ID: ``AT+QSSLRECV`` with a length,
            ``AT+QSSLCLOSE``, ``AT+QISWTMD``), ``"open"`` (``AT+QSSLOPEN``),
            ``"ssl_context"`` (an ``AT+QSSLCFG`` write), ``"pdp"`` (a PDP
            context deactivated: ``AT+QIDEACT``, ``AT+QIDEACTEX``, ``AT+CGACT=0``),
            ``"every_pdp"`` (``AT+CFUN`` other than 1, ``AT+CGATT`` other
            than 1: the radio or packet service goes, with every context),
            ``"payload_echo"`` (``AT+QISDE=<echo>``), ``"dtr"`` (``AT&D<n>``)
            or ``"flow_control"`` (``AT+IFC=<dce_by_dte>,<dte_by_dce>``);
            ``AT&F`` and ``ATZ`` are both a ``"dtr"`` and a ``"flow_control"``
            use of unknown value. ``"clock"`` is an ``AT+CCLK`` write (never
            refused: the Modem sets the clock again before it relies on it).
        ident: the ID (or, for ``"payload_echo"`` and ``"dtr"``, the value) it
            names; for ``"flow_control"`` the value both directions are set
            to. ``None`` when the line does not say which (unreadable, two
            different flow controls, or ``AT+CGACT=0`` without one: every context).
        name: the command, e.g. ``"AT+QSSLRECV"``.
    """

    kind: str
    ident: int | None
    name: str


_CLIENT_COMMANDS = ("+QSSLRECV", "+QSSLCLOSE", "+QISWTMD")
_PDP_COMMANDS = ("+QIDEACT", "+QIDEACTEX")


def _fields(params: str) -> list[str]:
    """The comma-separated parameters of one command, quotes honoured and kept."""
    fields = [""]
    quoted = False
    for char in params:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            fields.append("")
            continue
        fields[-1] += char
    return fields


def _number(field: str) -> int | None:
    bare = field[1:-1] if len(field) >= 2 and field[0] == field[-1] == '"' else field
    return int(bare) if bare.isdigit() and bare.isascii() else None


def resource_uses(line: str) -> list[ResourceUse]:
    """What each command of ``line`` does to client IDs, SSL and PDP contexts (see the module docstring)."""
    uses: list[ResourceUse] = []
    for command in split_commands(line):
        if command.startswith("&D"):
            uses.append(ResourceUse("dtr", _number(command[2:] or "0"), f"AT{command}"))
            continue
        if command.startswith(("&F", "Z")):
            # Factory settings (AT&F) or a stored profile (ATZ) set what DTR
            # does and the flow control too, to values the host cannot know.
            uses.append(ResourceUse("dtr", None, f"AT{command}"))
            uses.append(ResourceUse("flow_control", None, f"AT{command}"))
            continue
        name, equals, params = command.partition("=")
        if not equals or params == "?":
            continue  # a read (AT+QIACT?) or test command, or an action without parameters
        fields = _fields(params)
        at_name = f"AT{name}"
        if name in _CLIENT_COMMANDS:
            if name == "+QSSLRECV" and len(fields) == 2 and _number(fields[1]) == 0:
                continue  # AT+QSSLRECV=<id>,0 only asks how much was received and read
            uses.append(ResourceUse("client", _number(fields[0]), at_name))
        elif name == "+QSSLOPEN":
            uses.append(ResourceUse("open", _number(fields[2]) if len(fields) > 2 else None, at_name))
        elif name == "+QSSLCFG" and len(fields) > 2:
            uses.append(ResourceUse("ssl_context", _number(fields[1]), at_name))
        elif name in _PDP_COMMANDS:
            uses.append(ResourceUse("pdp", _number(fields[0]), at_name))
        elif name == "+QISDE":
            uses.append(
                ResourceUse("payload_echo", _number(fields[0]) if len(fields) == 1 else None, at_name)
            )
        elif name == "+IFC":
            directions = {_number(field) for field in fields}
            both = directions.pop() if len(fields) == 2 and len(directions) == 1 else None
            uses.append(ResourceUse("flow_control", both, at_name))
        elif name == "+CCLK":
            uses.append(ResourceUse("clock", None, at_name))
        elif name == "+CGACT" and _number(fields[0]) == 0:
            idents = [_number(field) for field in fields[1:]] or [None]
            uses.extend(ResourceUse("pdp", ident, at_name) for ident in idents)
        elif (name == "+CFUN" and _number(fields[0]) != 1) or (name == "+CGATT" and _number(fields[0]) != 1):
            # The radio off (AT+CFUN=0 or 4) or the packet service detached:
            # every PDP context goes, and the sockets on them.
            uses.append(ResourceUse("every_pdp", None, at_name))
    return uses


def block_read_limit(line: str, largest: int) -> int:
    """The most data one ``+QSSLRECV`` block of ``line`` can carry; 0 if it reads none.

    A read whose length is missing or unreadable may carry ``largest``. A line
    that also asks a length query (``AT+QSSLRECV=<id>,0``) counts as reading
    none: the query's answer looks like a header run into more data.
    """
    limit = 0
    for command in split_commands(line):
        name, equals, params = command.partition("=")
        if name != "+QSSLRECV" or not equals or params == "?":
            continue
        fields = _fields(params)
        length = _number(fields[1]) if len(fields) == 2 else None
        if length == 0:
            return 0
        limit = max(limit, largest if length is None else min(length, largest))
    return limit


def _what(use: ResourceUse, noun: str) -> str:
    return f"{noun} {use.ident}" if use.ident is not None else f"an unspecified {noun}"


def check_resource_uses(
    uses: Collection[ResourceUse],
    *,
    client_ids: Collection[int],
    pdp_contexts: Collection[int],
    ssl_context_in_use: Callable[[int | None], bool],
    payload_echo: bool,
    dtr_escape: bool,
    hardware_flow_control: bool = False,
) -> None:
    """Refuse a raw line that would act on what the Modem's sockets hold.

    Args:
        uses: from :func:`resource_uses`.
        client_ids: the client IDs the Modem holds (sockets open, opening or closing).
        pdp_contexts: the PDP contexts those sockets use.
        ssl_context_in_use: whether a socket uses an SSL context (``None``: any).
        payload_echo: the ``AT+QISDE`` setting the parser expects.
        dtr_escape: the Modem leaves transparent mode by DTR (``AT&D1``).
        hardware_flow_control: the port paces both ways with RTS/CTS, and the
            module was told to (``AT+IFC=2,2``).

    Raises:
        LocalProtocolError: the first use that is refused, and the API to use instead.
    """
    for use in uses:
        if use.kind == "open":
            raise LocalProtocolError(
                f"a raw command line cannot open an SSL socket ({use.name}): the modem closes every "
                "open it did not start itself; use Modem.open_connection or Modem.create_connection"
            )
        if use.kind == "client" and (use.ident in client_ids if use.ident is not None else client_ids):
            raise LocalProtocolError(
                f"a raw command line cannot send {use.name} to {_what(use, 'client ID')}: a socket of this "
                "modem holds it, and its stream would lose data or end unseen; use the socket itself "
                "(its reader, writer.close(), transport.switch_mode())"
            )
        if use.kind == "pdp" and (use.ident in pdp_contexts if use.ident is not None else pdp_contexts):
            raise LocalProtocolError(
                f"a raw command line cannot deactivate {_what(use, 'PDP context')} ({use.name}): sockets of "
                "this modem use it; close them first, or use Modem.deactivate_pdp"
            )
        if use.kind == "every_pdp" and pdp_contexts:
            raise LocalProtocolError(
                f"a raw command line cannot send {use.name} while sockets of this modem are open: "
                "it drops every PDP context and the sockets on them; close them first"
            )
        if use.kind == "payload_echo" and use.ident != int(payload_echo):
            raise LocalProtocolError(
                f"a raw command line cannot set the payload echo to anything but {int(payload_echo)} "
                f"({use.name}): the parser would read echoed payloads as module output; choose it "
                "with Modem.open(payload_echo=...)"
            )
        if use.kind == "dtr" and dtr_escape and use.ident != 1:
            raise LocalProtocolError(
                f"a raw command line cannot change what DTR does ({use.name}): the modem leaves "
                "transparent mode by dropping DTR (AT&D1); open it without dtr_escape instead"
            )
        if use.kind == "flow_control" and hardware_flow_control and use.ident != 2:
            raise LocalProtocolError(
                f"a raw command line cannot turn RTS/CTS flow control off ({use.name}): the port was "
                "opened with rtscts=True and the modem set AT+IFC=2,2; without it the module "
                "ignores RTS and bytes the host cannot take in time are lost; open the port "
                "without rtscts instead"
            )
        if use.kind == "ssl_context" and ssl_context_in_use(use.ident):
            raise LocalProtocolError(
                f"a raw command line cannot change {_what(use, 'SSL context')} ({use.name}): a socket of "
                "this modem uses it, and the module reads it at every open on it; describe the settings "
                "in an SSLConfig instead"
            )


@dataclass(frozen=True, slots=True)
class Raw(Command):
    """Any command line (escape hatch). Every non-URC line is its information.

    The line must start with ``AT`` and contain printable ASCII only; no
    command in it may start a data phase, a download or transparent mode, or
    change the framing of result codes.
    """

    line: str
    timeout: float = 5.0

    at_name: ClassVar[str] = "AT"
    accepts_any_line: ClassVar[bool] = True

    def __post_init__(self) -> None:
        line = _str(self.line, "raw command line")
        if line[:2].upper() != "AT":
            raise LocalProtocolError("a raw command line must start with AT")
        # Printable ASCII is exactly what isascii() and isprintable() both accept.
        printable = line.isascii() and line.isprintable()
        for index, char in enumerate(() if printable else line):
            if not 0x20 <= ord(char) <= 0x7E:
                raise LocalProtocolError(
                    f"raw command line contains a control or non-ASCII character "
                    f"(U+{ord(char):04X}) at index {index}"
                )
        timeout = self.timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout < 1e6:
            raise LocalProtocolError("timeout must be a positive number of seconds")
        _check_quotes(line)
        for command in split_commands(line):
            reason = _data_mode_reason(command)
            if reason is not None:
                raise LocalProtocolError(f"a raw command line cannot {reason}; use the Modem API")

    @property
    def label(self) -> str:
        """The line's commands without their parameters (``"AT+QSSLCFG"``), never secrets."""
        return "AT" + ";".join(command_name(command) for command in split_commands(self.line))

    def encode(self) -> bytes:
        return self.line.encode("ascii") + b"\r"
