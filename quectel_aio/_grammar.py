"""The AT wire grammar of the EC200U / EG91xU SSL dialect, in both directions.

Theory of operation
-------------------
This module is shared by the client core and by the emulator, and it is the
*only* thing they share: how bytes map to tokens. It holds no state.

Host to module (command lines):

* A command line is ``AT`` + body + ``CR`` (SSL Application Note §2.1.2).
* Parameters are decimal integers, hexadecimal literals such as ``0XC02F``
  (the ``ciphersuite`` value, §2.2.1) or double-quoted strings.
* Strings are never escaped. A string that contains a quote, a backslash, a
  comma, a semicolon, a control character (CR, LF, Ctrl+Z, ESC, NUL...) or a
  non-ASCII character is *rejected* with :class:`LocalProtocolError` before a
  byte is produced: V.250 ``\\hh`` escapes are not known to work on the module,
  and anything that slips through could end a parameter, add one, chain a
  second command (``;``) or end a data phase (Ctrl+Z / ESC).

Module to host (response lines):

* Every information line, final result code and URC is wrapped as
  ``CR LF <text> CR LF``; a line is therefore "text up to LF, CRs stripped".
* Final result codes are :data:`FINAL_SUCCESS` and :data:`FINAL_FAILURE`
  (plus ``+CME ERROR: <err>``); ``CONNECT`` starts a data phase.
* :func:`split_fields` tokenises the parameter part of an information line.

The functions :func:`parse_command_line` and :func:`format_line` are the
module side of the same grammar, used by the emulator.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "CRLF",
    "CTRL_Z",
    "ERROR_TEXTS",
    "ESC",
    "FINAL_FAILURE",
    "FINAL_SUCCESS",
    "MAX_CLIENT_ID",
    "MAX_LINE_LENGTH",
    "MAX_PDP_CONTEXT_ID",
    "MAX_READ_LENGTH",
    "MAX_SEND_LENGTH",
    "MAX_SSL_CONTEXT_ID",
    "CommandKind",
    "Hex",
    "ParsedCommand",
    "Quoted",
    "checksum_xor16",
    "error_text",
    "format_command",
    "format_line",
    "parse_command_line",
    "parse_int",
    "split_fields",
    "split_info_line",
    "validate_apn_text",
    "validate_filename",
    "validate_hostname",
]

CR = b"\r"
LF = b"\n"
CRLF = b"\r\n"
#: Ctrl+Z ends the variable-length QSSLSEND data phase (never used by the client).
CTRL_Z = b"\x1a"
#: ESC cancels a data phase.
ESC = b"\x1b"

#: SSL Application Note §2.2.3: at most 1460 bytes per AT+QSSLSEND.
MAX_SEND_LENGTH = 1460
#: SSL Application Note §2.2.4: at most 1500 bytes per AT+QSSLRECV.
MAX_READ_LENGTH = 1500
#: SSL Application Note §2.2.2: clientID 0-11.
MAX_CLIENT_ID = 11
#: SSL Application Note §2.2.1: SSL_ctxID 0-5.
MAX_SSL_CONTEXT_ID = 5
#: SSL Application Note §2.2.2: PDP contextID 1-7.
MAX_PDP_CONTEXT_ID = 7
#: Longest response line accepted before the line is declared garbage.
MAX_LINE_LENGTH = 4096

#: Final result codes that end a command successfully.
FINAL_SUCCESS = frozenset({"OK", "SEND OK", "CONNECT"})
#: Final result codes that end a command with a failure (besides +CME ERROR).
FINAL_FAILURE = frozenset({"ERROR", "SEND FAIL", "NO CARRIER"})

#: SSL Application Note §5, Table 5 (and TCP/IP Application Note §4).
ERROR_TEXTS: dict[int, str] = {
    0: "Operation successful",
    550: "Unknown error",
    551: "Operation blocked",
    552: "Invalid parameter",
    553: "Memory not enough",
    554: "Create socket failed",
    555: "Operation not supported",
    556: "Socket bind failed",
    557: "Socket listen failed",
    558: "Socket write failed",
    559: "Socket read failed",
    560: "Socket accept failed",
    561: "Open PDP context failed",
    562: "Close PDP context failed",
    563: "Socket identity has been used",
    564: "DNS busy",
    565: "DNS parse failed",
    566: "Socket connection failed",
    567: "Socket has been closed",
    568: "Operation busy",
    569: "Operation timeout",
    570: "PDP context break down",
    571: "Cancel send",
    572: "Operation not allowed",
    573: "APN not configured",
    574: "Port busy",
    579: "SSL handshake fail",
}


def error_text(code: int) -> str:
    """Return the description of an SSL/TCP error code, or ``""`` if unknown."""
    return ERROR_TEXTS.get(code, "")


# ---------------------------------------------------------------------------
# Parameter values
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quoted:
    """A string parameter, written between double quotes.

    ``allow_empty=True`` lets ``""`` through (written as two quotes); every
    other check still applies.
    """

    value: str
    allow_empty: bool = False


@dataclass(frozen=True, slots=True)
class Hex:
    """An unquoted hexadecimal parameter written as ``0X%04X`` (cipher suites)."""

    value: int


Param = int | Quoted | Hex

_FORBIDDEN_IN_STRING = frozenset('"\\,;')


def _check_string(value: str, what: str, max_length: int) -> str:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a str, not {type(value).__name__}")
    if not value:
        raise LocalProtocolError(f"{what} must not be empty")
    if len(value) > max_length:
        raise LocalProtocolError(f"{what} is longer than {max_length} characters")
    for index, char in enumerate(value):
        code = ord(char)
        if code < 0x20 or code > 0x7E:
            raise LocalProtocolError(
                f"{what} contains a control or non-ASCII character "
                f"(U+{code:04X}) at index {index}; it is rejected, never escaped"
            )
        if char in _FORBIDDEN_IN_STRING:
            raise LocalProtocolError(
                f"{what} contains {char!r} at index {index}; quotes, backslashes, "
                "commas and semicolons could change the AT command and are rejected"
            )
    return value


def _encode_param(param: Param) -> str:
    if isinstance(param, bool):
        raise LocalProtocolError("a bool is not a valid AT parameter; pass an int")
    if isinstance(param, int):
        if param < 0:
            raise LocalProtocolError(f"negative integer parameter {param}")
        return str(param)
    if isinstance(param, Quoted):
        if param.allow_empty and param.value == "":
            return '""'
        _check_string(param.value, "string parameter", MAX_LINE_LENGTH)
        return f'"{param.value}"'
    if isinstance(param, Hex):
        if not 0 <= param.value <= 0xFFFF:
            raise LocalProtocolError(f"hex parameter {param.value:#x} out of range")
        return f"0X{param.value:04X}"
    raise LocalProtocolError(f"unsupported parameter type {type(param).__name__}")


# ``\Z``, not ``$``: ``$`` also matches before a trailing newline, which would let
# "name\n" through every validator below.
_NAME_RE = re.compile(r"^(AT)?([+&][A-Z]+|[A-Z&]\d*|)\Z")


def format_command(name: str, params: Sequence[Param] = (), *, query: bool = False) -> bytes:
    """Encode one command line.

    Args:
        name: the command, with or without ``AT`` (``"+QSSLOPEN"``,
            ``"AT+QSSLOPEN"``, ``"E0"``).
        params: the parameters of a write command, in order.
        query: build the read form ``AT<name>?`` (params must be empty).

    Returns:
        The bytes to write, ending in ``CR``.

    Raises:
        LocalProtocolError: if the name or a parameter is not encodable.
    """
    body = name[2:] if name.upper().startswith("AT") else name
    if not _NAME_RE.match(body.upper()):
        raise LocalProtocolError(f"invalid AT command name {name!r}")
    text = "AT" + body
    if query:
        if params:
            raise LocalProtocolError("a read command takes no parameters")
        text += "?"
    elif params:
        text += "=" + ",".join(_encode_param(p) for p in params)
    return text.encode("ascii") + CR


# ---------------------------------------------------------------------------
# Validators for strings that end up inside command lines
# ---------------------------------------------------------------------------

_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
#: Longest server address accepted (DNS limit; the module's own limit is unknown).
MAX_HOSTNAME_LENGTH = 253


def validate_hostname(host: str) -> str:
    """Check a server address for AT+QSSLOPEN and return its ASCII form.

    Accepts IPv4/IPv6 literals and DNS names (IDNA-encoded to A-labels,
    letters/digits/hyphens only). Everything else is rejected.

    Raises:
        LocalProtocolError: if ``host`` is not a valid address.
    """
    if not isinstance(host, str) or not host:
        raise LocalProtocolError("host must be a non-empty str")
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        pass
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            # A scope ID ("fe80::1%eth0") names a host interface, means nothing to
            # the module and may hold any character at all.
            raise LocalProtocolError(f"host {host!r}: IPv6 scope IDs are not accepted")
        return str(address)
    try:
        ascii_host = candidate.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise LocalProtocolError(f"host {host!r} is not a valid DNS name") from exc
    ascii_host = ascii_host.rstrip(".")
    try:
        round_trip = ascii_host.encode("ascii").decode("idna")
    except UnicodeError as exc:
        raise LocalProtocolError(f"host {host!r} is not a valid DNS name") from exc
    if not candidate.isascii() and round_trip.lower() != candidate.rstrip(".").lower():
        # IDNA 2003 silently maps some characters (zero-width space, full-width
        # letters); a name that does not survive the round trip could be a
        # look-alike of another, so it is refused rather than rewritten.
        raise LocalProtocolError(f"host {host!r} changes under IDNA mapping; give its exact A-label form")
    if not ascii_host or len(ascii_host) > MAX_HOSTNAME_LENGTH:
        raise LocalProtocolError(f"host {host!r} has an invalid length")
    labels = ascii_host.split(".")
    if not all(_LABEL_RE.match(label) for label in labels):
        raise LocalProtocolError(
            f"host {host!r} is not a valid DNS name (letters, digits, hyphens and dots only)"
        )
    return ascii_host


_FILENAME_RE = re.compile(r"^(?:(UFS|RAM):)?([A-Za-z0-9_.-]{1,80})\Z")


def validate_filename(name: str) -> str:
    """Check a module file name (``UFS:``/``RAM:`` prefix optional).

    Raises:
        LocalProtocolError: if the name has characters outside
            ``[A-Za-z0-9_.-]``, is longer than 80 characters or contains ``..``.
    """
    if not isinstance(name, str):
        raise LocalProtocolError("file name must be a str")
    match = _FILENAME_RE.match(name)
    if match is None or ".." in name or match.group(2) in {".", ".."}:
        raise LocalProtocolError(
            f"invalid module file name {name!r}: use [A-Za-z0-9_.-], at most 80 characters, "
            "optionally prefixed with UFS: or RAM:"
        )
    return name


def validate_apn_text(value: str, what: str, *, max_length: int = 127, allow_empty: bool = True) -> str:
    """Check an APN, user name or password for AT+QICSGP.

    Raises:
        LocalProtocolError: for quotes, backslashes, commas, semicolons, control
            or non-ASCII characters, or more than ``max_length`` characters.
    """
    if allow_empty and value == "":
        return value
    return _check_string(value, what, max_length)


# ---------------------------------------------------------------------------
# Response side
# ---------------------------------------------------------------------------


def split_info_line(line: str) -> tuple[str, str]:
    """Split ``"+QSSLRECV: 18"`` into ``("+QSSLRECV", "18")``.

    A line without ``": "``/``":"`` returns ``(line, "")``.
    """
    head, sep, rest = line.partition(":")
    if not sep or not head.startswith("+"):
        return line, ""
    return head, rest[1:] if rest.startswith(" ") else rest


def split_fields(text: str) -> list[str | int]:
    """Tokenise comma-separated fields.

    Quoted fields become ``str`` without their quotes (commas inside quotes are
    kept); bare decimal fields become ``int``; other bare fields (``0XFFFF``,
    ``(0-11)``) stay ``str`` with surrounding spaces stripped. Parentheses
    group commas, as in test-command ranges ``(0,1)``.

    Raises:
        RemoteProtocolError: on an unterminated quote.
    """
    fields: list[str | int] = []
    if text == "":
        return fields
    index = 0
    length = len(text)
    while True:
        while index < length and text[index] == " ":
            index += 1
        if index < length and text[index] == '"':
            end = text.find('"', index + 1)
            if end < 0:
                raise RemoteProtocolError("unterminated quoted field", text[:64].encode("ascii", "replace"))
            fields.append(text[index + 1 : end])
            index = end + 1
            while index < length and text[index] == " ":
                index += 1
            if index < length and text[index] != ",":
                raise RemoteProtocolError("garbage after quoted field", text[:64].encode("ascii", "replace"))
        else:
            depth = 0
            start = index
            while index < length and (text[index] != "," or depth):
                if text[index] == "(":
                    depth += 1
                elif text[index] == ")" and depth:
                    depth -= 1
                index += 1
            raw = text[start:index].strip()
            fields.append(int(raw) if raw.isdigit() and raw.isascii() else raw)
        if index >= length:
            return fields
        index += 1  # the comma


def parse_int(field: str | int, what: str = "field") -> int:
    """Return ``field`` as an int or raise :class:`RemoteProtocolError`."""
    if isinstance(field, int):
        return field
    raise RemoteProtocolError(f"{what} is not an integer", field[:32].encode("ascii", "replace"))


def checksum_xor16(data: bytes) -> int:
    """The FILE note's QFUPL checksum: XOR of big-endian 16-bit words.

    An odd trailing byte is the high byte of a final word whose low byte is 0.
    """
    padded = data + b"\x00" if len(data) % 2 else data
    value = 0
    for index in range(0, len(padded), 2):
        value ^= (padded[index] << 8) | padded[index + 1]
    return value


# ---------------------------------------------------------------------------
# Module side (used by the emulator)
# ---------------------------------------------------------------------------


class CommandKind(enum.Enum):
    """The four AT command forms (SSL Application Note Table 4)."""

    #: ``AT+CMD=?``
    TEST = "test"
    #: ``AT+CMD?``
    READ = "read"
    #: ``AT+CMD=<p1>[,<p2>...]``
    WRITE = "write"
    #: ``AT+CMD`` (also basic commands such as ``ATE0``)
    EXECUTE = "execute"


@dataclass(frozen=True, slots=True)
class ParsedCommand:
    """One command as the module sees it."""

    #: Upper-case name without ``AT``: ``"+QSSLOPEN"``, ``"E"``, ``""`` for bare ``AT``.
    name: str
    kind: CommandKind
    #: Parsed parameters of a WRITE command (quoted strings unquoted).
    params: tuple[str | int, ...]
    #: The raw text after the name (for basic commands such as ``E0``).
    raw_args: str


_EXT_RE = re.compile(r"^([+&][A-Za-z]+)(.*)$")
_BASIC_RE = re.compile(r"^([A-Za-z&])(.*)$")


def parse_command_line(line: str) -> ParsedCommand:
    """Parse one command line (without its CR) as the module would.

    Raises:
        RemoteProtocolError: if the line does not start with ``AT``.
    """
    if not line[:2].upper() == "AT":
        raise RemoteProtocolError("command line does not start with AT", line[:32].encode("ascii", "replace"))
    body = line[2:]
    if body == "":
        return ParsedCommand("", CommandKind.EXECUTE, (), "")
    match = _EXT_RE.match(body)
    if match is None:
        basic = _BASIC_RE.match(body)
        if basic is None:
            raise RemoteProtocolError("unparsable command", line[:32].encode("ascii", "replace"))
        return ParsedCommand(basic.group(1).upper(), CommandKind.EXECUTE, (), basic.group(2))
    name, rest = match.group(1).upper(), match.group(2)
    if rest == "=?":
        return ParsedCommand(name, CommandKind.TEST, (), rest)
    if rest == "?":
        return ParsedCommand(name, CommandKind.READ, (), rest)
    if rest.startswith("="):
        return ParsedCommand(name, CommandKind.WRITE, tuple(split_fields(rest[1:])), rest[1:])
    if rest == "":
        return ParsedCommand(name, CommandKind.EXECUTE, (), "")
    raise RemoteProtocolError("unparsable command", line[:32].encode("ascii", "replace"))


def format_line(text: str | bytes) -> bytes:
    """Wrap one response line as ``CR LF text CR LF``."""
    raw = text.encode("ascii") if isinstance(text, str) else text
    return CRLF + raw + CRLF


def format_fields(values: Iterable[str | int]) -> str:
    """Join response fields: ints bare, strs quoted."""
    return ",".join(str(v) if isinstance(v, int) else f'"{v}"' for v in values)
