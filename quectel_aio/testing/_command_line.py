"""How the emulated module cuts one command line into its commands (V.250 §5.2).

A line holds one or more commands after its ``AT``: basic commands follow each
other with no separator (``ATE0V1``, ``ATE0&W``: a letter, or ``&`` and a
letter, then an optional number; ``S<n>=<v>`` and ``S<n>?``), an extended
command (``+NAME...``) runs to the next ``;`` outside quotes or to the end of
the line (``AT+IPR=921600;&W``, ``AT+CSQ;+CREG?``), and ``D`` (dial) likewise.
A ``;`` inside a quoted parameter separates nothing. Spaces outside quoted
strings are ignored (V.250 §5.2.1: ``AT+CSQ; +CREG?``, ``AT+CMEE = 2``), except
one inside a number (``1 0``), which makes the command malformed. A basic command followed
by anything else (``ATE=1``, ``ATI?``) and text that starts no command are kept,
up to the next ``;``, as one command the parser or its handler then refuses, so
nothing of a malformed command runs.

This is the module's reading of the line, written for the emulator alone.
"""

from __future__ import annotations

import re

from .._grammar import CommandKind, ParsedCommand, parse_command_line

__all__ = ["parse_command", "split_command_line"]

_TWO_NUMBERS_RE = re.compile(r"(\+[A-Z]+)=([1-9][0-9]{0,4}|0),([1-9][0-9]{0,4}|0)")

_BASIC = re.compile(r"&[A-Za-z]\d*|[Ss]\d+(?:=\d*|\?)?|[A-Za-z]\d*")
#: What may follow a basic command: the next command, a ``;`` or the end.
_NEXT_BASIC = frozenset("&;+ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _segment_end(body: str, pos: int) -> int:
    """Index of the first ``;`` at or after ``pos`` outside quotes (or the end)."""
    quoted = False
    for index in range(pos, len(body)):
        char = body[index]
        if char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            return index
    return len(body)


def _drop_spaces(body: str) -> str:
    """``body`` without the spaces V.250 ignores (outside quotes, not inside a number)."""
    kept: list[str] = []
    quoted = False
    for index, char in enumerate(body):
        if char == '"':
            quoted = not quoted
        elif char == " " and not quoted:
            in_number = bool(kept) and kept[-1].isdigit() and body[index:].lstrip(" ")[:1].isdigit()
            if not in_number:
                continue  # one space is kept inside a number: "1 0" is no number
        kept.append(char)
    return "".join(kept)


def split_command_line(body: str) -> list[str]:
    """The commands of one line, in order, each without ``AT``.

    Args:
        body: the line after its ``AT`` (without the CR).

    Returns:
        At least one command: ``[""]`` for a bare ``AT``.
    """
    if " " in body:
        body = _drop_spaces(body)
    if body[:1] == "+" and ";" not in body:
        return [body]  # the usual line: one extended command
    commands: list[str] = []
    pos = 0
    length = len(body)
    while pos < length:
        char = body[pos]
        if char == ";":
            pos += 1
            continue
        basic = None if char in "+Dd" else _BASIC.match(body, pos)
        if basic is not None and (basic.end() == length or body[basic.end()] in _NEXT_BASIC):
            commands.append(basic.group())
            pos = basic.end()
            continue
        end = _segment_end(body, pos)
        commands.append(body[pos:end])
        pos = end
    return commands or [""]


def parse_command(command: str) -> ParsedCommand:
    """Parse one command of a line (without ``AT``) as the module does.

    Raises:
        RemoteProtocolError: the command is not understood.
    """
    fast = _TWO_NUMBERS_RE.fullmatch(command)
    if fast is not None:
        # The data commands (AT+QSSLRECV=0,1500, AT+QSSLSEND=0,1460) in one step.
        name, first, second = fast.groups()
        return ParsedCommand(name, CommandKind.WRITE, (int(first), int(second)), f"{first},{second}")
    if command.startswith("&") and len(command) >= 2 and command[1].isalpha():
        return ParsedCommand("&" + command[1].upper(), CommandKind.EXECUTE, (), command[2:])
    return parse_command_line("AT" + command)
