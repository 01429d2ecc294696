"""The opt-in wire trace of the AT channel (logger ``quectel_aio.wire``).

Command lines are logged with secrets (the APN password, also inside a raw
``AT+QICSGP`` line) masked; payload
bytes appear only as their size unless payload tracing was asked for
explicitly.
"""

from __future__ import annotations

import re
from typing import Any

import structlog

from . import _commands as cmd
from . import _events as ev

__all__ = ["redacted_line", "show", "trace_event", "wire_log"]

wire_log = structlog.get_logger("quectel_aio.wire")


#: ``+QICSGP=<cid>,<type>,"<apn>","<user>",`` and the password after it, in a raw line.
_RAW_PDP_PASSWORD = re.compile(r'(\+QICSGP=\s*\d+\s*,\s*\d+\s*,\s*"[^"]*"\s*,\s*"[^"]*"\s*,\s*)"[^"]*"', re.I)
_RAW_PDP = re.compile(r"\+QICSGP=", re.I)


def redacted_line(command: cmd.Command) -> str:
    """The command line as text, with the APN password masked (raw lines included)."""
    text = command.encode()[:-1].decode("ascii")
    if isinstance(command, cmd.ConfigurePdp) and command.password:
        text = text.replace(f'"{command.password}"', '"***"')
    elif isinstance(command, cmd.Raw) and _RAW_PDP.search(text):
        masked = _RAW_PDP_PASSWORD.sub(r'\1"***"', text)
        # A form the pattern does not know (an unquoted password): mask all its parameters.
        text = masked if masked != text else _RAW_PDP.split(text, 1)[0] + "+QICSGP=***"
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
