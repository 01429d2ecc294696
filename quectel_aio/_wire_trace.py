"""The opt-in wire trace of the AT channel (logger ``quectel_aio.wire``).

Command lines are logged with secrets (the APN password, also inside a raw
``AT+QICSGP`` line, and a SIM PIN in a raw ``AT+CPIN`` line) masked; payload
bytes appear only as their size unless payload tracing was asked for
explicitly.
"""

from __future__ import annotations

from typing import Any

import structlog

from . import _commands as cmd
from . import _events as ev
from ._raw_command import command_name, split_commands

__all__ = ["redacted_line", "show", "trace_event", "wire_log"]

wire_log = structlog.get_logger("quectel_aio.wire")


#: Commands whose parameters hold a secret: the APN password (``AT+QICSGP``,
#: ``AT+CGAUTH``) or a SIM PIN, PUK or facility password (``AT+CPIN``,
#: ``AT+CLCK``, ``AT+CPWD``).
_SECRET_COMMANDS = ("+QICSGP", "+CGAUTH", "+CPIN", "+CLCK", "+CPWD")


def redacted_line(command: cmd.Command) -> str:
    """The command line as text, with the APN password masked (raw lines included).

    A raw line is read as the module reads it (any case, spaces anywhere
    outside quotes, several commands): when one of its commands can carry a
    secret, the line is shown as its commands, with every parameter of those
    commands masked.
    """
    text = command.encode()[:-1].decode("ascii")
    if isinstance(command, cmd.ConfigurePdp) and command.password:
        text = text.replace(f'"{command.password}"', '"***"')
    elif isinstance(command, cmd.Raw):
        commands = split_commands(text)
        secret = [command_name(part).startswith(_SECRET_COMMANDS) for part in commands]
        if any(secret):
            shown = [
                f"{command_name(part)}=***" if hidden else part
                for part, hidden in zip(commands, secret, strict=True)
            ]
            text = "AT" + ";".join(shown)
    return text


def show(data: bytes, trace_payloads: bool) -> str:
    """Payload bytes as hex when payload tracing is on, else only their size."""
    return data.hex() if trace_payloads else f"<{len(data)} bytes redacted>"


def trace_event(event: ev.Event, trace_payloads: bool) -> None:
    """Log one received event."""
    fields: dict[str, Any] = {"kind": type(event).__name__}
    if isinstance(event, ev.CommandSucceeded):
        fields.update(result=event.result, lines=len(event.lines))
        if event.payload is not None:
            fields["payload"] = show(event.payload, trace_payloads)
    elif isinstance(event, ev.CommandFailed):
        fields.update(result=event.result, code=event.code)
    elif isinstance(event, ev.SslDataPushed | ev.TransparentData):
        fields.update(client_id=event.client_id, payload=show(event.data, trace_payloads))
    elif isinstance(event, ev.UnknownUrc):
        fields["line"] = event.line.encode("ascii", "backslashreplace").decode("ascii")[:120]
    else:
        for name in ("client_id", "error", "context_id", "reason"):
            if hasattr(event, name):
                fields[name] = getattr(event, name)
    wire_log.debug("rx", **fields)
