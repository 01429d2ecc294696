"""Descriptors of the FILE (UFS) and clock commands (see ``_commands``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from ._command_base import Command, _int, _str
from ._errors import LocalProtocolError
from ._grammar import Quoted, format_command, validate_filename

__all__ = ["MAX_UPLOAD_SIZE", "FileDelete", "FileList", "FileSpace", "FileUpload", "QueryClock", "SetClock"]


# ---------------------------------------------------------------------------
# File system
# ---------------------------------------------------------------------------

#: Largest upload accepted by :class:`FileUpload`.
MAX_UPLOAD_SIZE = 10_000_000


@dataclass(frozen=True, slots=True)
class FileUpload(Command):
    """``AT+QFUPL="<name>",<size>,<input_timeout>,<ack_mode>``.

    ``CONNECT`` opens the data phase; after the ``size`` bytes the module
    answers ``+QFUPL: <size>,<checksum>`` and ``OK``. ``timeout`` is
    ``input_timeout``: how long the module waits for input, which bounds each
    phase of the exchange (the driver adds the transfer time itself).
    The connection does not interpret ACK-mode (``ack_mode=1``) bytes.
    """

    name: str
    size: int
    input_timeout: int = 5
    ack_mode: int = 0

    at_name: ClassVar[str] = "AT+QFUPL"
    info_prefixes: ClassVar[tuple[str, ...]] = ("+QFUPL",)
    expects_connect: ClassVar[bool] = True

    def __post_init__(self) -> None:
        validate_filename(_str(self.name, "name"))
        _int(self.size, "size", 1, MAX_UPLOAD_SIZE)
        _int(self.input_timeout, "input_timeout", 1, 65535)
        _int(self.ack_mode, "ack_mode", 0, 1)

    @property
    def timeout(self) -> float:
        return float(self.input_timeout)

    def encode(self) -> bytes:
        return format_command("+QFUPL", [Quoted(self.name), self.size, self.input_timeout, self.ack_mode])


@dataclass(frozen=True, slots=True)
class FileList(Command):
    """``AT+QFLST="<pattern>"``; ``pattern`` is ``"*"`` or a file name."""

    pattern: str = "*"

    at_name: ClassVar[str] = "AT+QFLST"
    info_prefixes: ClassVar[tuple[str, ...]] = ("+QFLST",)

    def __post_init__(self) -> None:
        if _str(self.pattern, "pattern") != "*":
            validate_filename(self.pattern)

    def encode(self) -> bytes:
        # "*" is not a valid file name but is safe inside quotes.
        return format_command("+QFLST", [Quoted(self.pattern)])


@dataclass(frozen=True, slots=True)
class FileDelete(Command):
    """``AT+QFDEL="<name>"`` (one file; the ``"*"`` wildcard is refused)."""

    name: str

    at_name: ClassVar[str] = "AT+QFDEL"

    def __post_init__(self) -> None:
        validate_filename(_str(self.name, "name"))

    def encode(self) -> bytes:
        return format_command("+QFDEL", [Quoted(self.name)])


@dataclass(frozen=True, slots=True)
class FileSpace(Command):
    """``AT+QFLDS="UFS"`` → ``+QFLDS: <free>,<total>``."""

    at_name: ClassVar[str] = "AT+QFLDS"
    info_prefixes: ClassVar[tuple[str, ...]] = ("+QFLDS",)

    def encode(self) -> bytes:
        return format_command("+QFLDS", [Quoted("UFS")])


# ---------------------------------------------------------------------------
# Clock
# ---------------------------------------------------------------------------

_CLOCK_RE = re.compile(r"^(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-])(\d\d)$")


def _check_clock(text: str) -> str:
    match = _CLOCK_RE.match(text) if text.isascii() else None
    if match is None:
        raise LocalProtocolError(f"clock text {text!r} is not in the form yy/MM/dd,hh:mm:ss±zz")
    _, month, day, hour, minute, second, _, zone = (int(g) if g.isdigit() else 0 for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 59):
        raise LocalProtocolError(f"clock text {text!r} is out of range")
    if zone > 96:
        raise LocalProtocolError(f"clock time zone in {text!r} is out of range (quarter hours)")
    return text


@dataclass(frozen=True, slots=True)
class SetClock(Command):
    """``AT+CCLK="yy/MM/dd,hh:mm:ss±zz"`` (zz in quarter hours)."""

    text: str

    at_name: ClassVar[str] = "AT+CCLK"

    def __post_init__(self) -> None:
        _check_clock(_str(self.text, "clock text"))

    def encode(self) -> bytes:
        # The generic Quoted path refuses commas; this value is fully matched by
        # _CLOCK_RE (digits, "/", ",", ":", "+", "-"), so it is quoted here.
        return format_command("+CCLK")[:-1] + b'="' + _check_clock(self.text).encode("ascii") + b'"\r'


@dataclass(frozen=True, slots=True)
class QueryClock(Command):
    """``AT+CCLK?`` → ``+CCLK: "yy/MM/dd,hh:mm:ss±zz"``."""

    at_name: ClassVar[str] = "AT+CCLK"
    info_prefixes: ClassVar[tuple[str, ...]] = ("+CCLK",)

    def encode(self) -> bytes:
        return format_command("+CCLK", query=True)
