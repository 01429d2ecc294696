"""States, constants and line helpers of the sans-IO core (:mod:`._connection`)."""

from __future__ import annotations

import enum
import re

from ._errors import RemoteProtocolError
from ._raw_command import basic_value, split_commands

__all__ = [
    "CME_RE",
    "DAMAGED_RECV_HEADER_RE",
    "FINAL_FAILURE",
    "FINAL_SUCCESS",
    "MAX_PAYLOAD_BLOCK",
    "MAX_RESPONSE_SIZE",
    "PDPDEACT_RE",
    "PLAIN_URCS",
    "BLOCK_ENDS",
    "QSSLOPEN_RE",
    "QSSLURC_RE",
    "RECV_HEADER_RE",
    "ConnectionState",
    "ParserMode",
    "decode_line",
    "echo_after",
    "excerpt",
    "parse_length",
]


def echo_after(line: str) -> bool | None:
    """The command echo a command line leaves on: ``ATE0`` False; ``ATE``, ``ATE1``, ``ATZ``, ``AT&F`` True.

    The line is split into its commands as the module reads it (basic
    commands run together or spaced, S-registers, extended commands between
    ``;``, leading zeros ignored); the last command that sets the echo decides. ``None`` means the
    line does not change the echo.
    """
    setting = None
    for command in split_commands(line):
        basic = basic_value(command)
        if command == "E" or basic == ("E", 1) or (basic is not None and basic[0] in ("Z", "&F")):
            setting = True
        elif basic == ("E", 0):
            setting = False
    return setting


#: Largest data block accepted after a length header. The notes allow 1500
#: bytes; a little slack tolerates firmware differences while bounding memory.
MAX_PAYLOAD_BLOCK = 4096
_MAX_LENGTH_DIGITS = 4
#: Most bytes of information lines and data blocks one command may collect
#: before its final result: far above any real answer (a full ``AT+QSSLRECV``
#: block is 1500 bytes), and what a module that never ends a response can make
#: the core hold.
MAX_RESPONSE_SIZE = 65536


class ConnectionState(enum.Enum):
    """The command state of a :class:`ModemConnection`."""

    #: No command in flight; ``send`` is allowed.
    IDLE = "idle"
    #: A command was sent; waiting for its final result.
    AWAITING_RESPONSE = "awaiting_response"
    #: ``AT+QSSLSEND`` was sent; waiting for ``>``.
    AWAITING_PROMPT = "awaiting_prompt"
    #: The prompt arrived; the driver must call ``send_payload``.
    SENDING_PAYLOAD = "sending_payload"
    #: The payload was sent; waiting for ``SEND OK`` / ``SEND FAIL`` / ``ERROR``.
    AWAITING_SEND_RESULT = "awaiting_send_result"
    #: ``CONNECT`` of ``AT+QFUPL`` arrived; the driver must call ``send_payload``.
    DATA_PHASE = "data_phase"
    #: The command was abandoned; its late replies are swallowed.
    ABANDONED = "abandoned"
    #: The module broke the grammar; call ``resync``.
    ERROR = "error"
    #: ``CONNECT`` of a transparent-mode command: the port is a raw pipe.
    TRANSPARENT = "transparent"
    #: ``+++`` was sent; waiting for ``OK`` (or ``NO CARRIER``).
    ESCAPING = "escaping"


class ParserMode(enum.Enum):
    """What the parser expects next: lines, a counted block, or raw data."""

    LINE = "line"
    PAYLOAD = "payload"
    RAW = "raw"


FINAL_SUCCESS = frozenset({"OK", "SEND OK", "CONNECT"})
FINAL_FAILURE = frozenset({"ERROR", "SEND FAIL", "NO CARRIER"})
#: Results that only end a data phase (``AT+QSSLSEND``).
DATA_PHASE_RESULTS = frozenset({"SEND OK", "SEND FAIL"})
#: Non-``+`` lines that are never information lines.
PLAIN_URCS = frozenset({"POWERED DOWN", "NORMAL POWER DOWN", "APP RDY"})

#: How the bytes after a ``+QSSLRECV`` data block may start: its CR LF, then the
#: CR LF opening the next line, or that line itself (``OK`` or a ``+`` URC).
BLOCK_ENDS = (b"\r\n\r\n", b"\r\nOK", b"\r\n+")

RECV_HEADER_RE = re.compile(r"^\+QSSLRECV:\s*(\d+)\s*$")
_RECV_PREFIX = "+QSSLRECV:"
#: A ``+QSSLRECV: <n>`` header with one byte of its prefix lost, or whole
#: but run into its data (its LF lost). Group 1: ``n``, if nothing follows it.
DAMAGED_RECV_HEADER_RE = re.compile(
    "(?:"
    + "|".join(re.escape(_RECV_PREFIX[:i] + _RECV_PREFIX[i + 1 :]) for i in range(len(_RECV_PREFIX)))
    + r"|\+QSSLRECV:)\s*(?:(\d{1,4})\s*$|\d)"
)
CME_RE = re.compile(r"^\+(CME|CMS) ERROR:\s*(.*)$")
QSSLURC_RE = re.compile(r'^\+QSSLURC:\s*"(recv|closed)",\s*(\d{1,5})(?:,\s*([^,]*))?\s*$')
QSSLOPEN_RE = re.compile(r"^\+QSSLOPEN:\s*(\d{1,5}),\s*(\d{1,5})\s*$")
PDPDEACT_RE = re.compile(r'^\+QIURC:\s*"pdpdeact",\s*(\d{1,5})\s*$')


def excerpt(data: bytes | str) -> bytes:
    raw = data.encode("ascii", "backslashreplace") if isinstance(data, str) else data
    return raw[:64]


def decode_line(raw: bytes) -> str:
    """Decode a line for classification: printable ASCII kept, other bytes escaped."""
    if raw.isascii():
        text = raw.decode("ascii")
        if text.isprintable():
            return text.strip()
    return "".join(chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}" for b in raw).strip()


def parse_length(text: str, what: str) -> int:
    text = text.strip()
    if not text.isdigit() or not text.isascii() or len(text) > _MAX_LENGTH_DIGITS:
        raise RemoteProtocolError(f"invalid {what} length", excerpt(text))
    value = int(text)
    if value > MAX_PAYLOAD_BLOCK:
        raise RemoteProtocolError(f"{what} length {value} exceeds {MAX_PAYLOAD_BLOCK}", excerpt(text))
    return value
