"""Response builders shared by the emulator's command handlers."""

from __future__ import annotations

from collections.abc import Iterable

from .._grammar import CRLF, CommandKind, ParsedCommand

__all__ = [
    "CME_TEXTS",
    "CONNECT",
    "ERROR",
    "OK",
    "cme_error",
    "field_is_quoted",
    "info",
    "info_ok",
]

OK = b"\r\nOK\r\n"
ERROR = b"\r\nERROR\r\n"
CONNECT = b"\r\nCONNECT\r\n"

#: Texts of the ``+CME ERROR`` codes the emulator produces (AT+CMEE=2).
CME_TEXTS: dict[int, str] = {
    3: "operation not allowed",
    4: "operation not supported",
    50: "incorrect parameters",
    403: "drive full",
    405: "file not found",
    406: "invalid file name",
    407: "file already exist",
    421: "time out",
}


def info(lines: Iterable[str | bytes]) -> bytes:
    """One information block: ``CR LF line CR LF line ... CR LF``.

    Consecutive lines of one block are separated by a single ``CR LF``, as a
    Quectel module prints ``ATI`` or a list of ``+QFLST`` lines.
    """
    parts = [line.encode("ascii") if isinstance(line, str) else line for line in lines]
    if not parts:
        return b""
    return CRLF + CRLF.join(parts) + CRLF


def info_ok(lines: Iterable[str | bytes]) -> bytes:
    """Information block followed by ``OK``."""
    return info(lines) + OK


def cme_error(cmee: int, code: int) -> bytes:
    """``+CME ERROR`` in the form selected by ``AT+CMEE`` (0 -> plain ERROR)."""
    if cmee == 0:
        return ERROR
    if cmee == 2 and code in CME_TEXTS:
        return f"\r\n+CME ERROR: {CME_TEXTS[code]}\r\n".encode("ascii")
    return f"\r\n+CME ERROR: {code}\r\n".encode("ascii")


def field_is_quoted(cmd: ParsedCommand, index: int) -> bool:
    """Whether parameter ``index`` of a WRITE command was written in quotes."""
    if cmd.kind is not CommandKind.WRITE:
        return False
    text = cmd.raw_args
    pos = 0
    current = 0
    length = len(text)
    while pos <= length:
        while pos < length and text[pos] == " ":
            pos += 1
        quoted = pos < length and text[pos] == '"'
        if current == index:
            return quoted
        if quoted:
            end = text.find('"', pos + 1)
            if end < 0:
                return False
            pos = end + 1
        comma = text.find(",", pos)
        if comma < 0:
            return False
        pos = comma + 1
        current += 1
    return False
