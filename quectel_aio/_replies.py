"""Parsers for the information lines the driver reads.

Theory of operation
-------------------
Commands (:mod:`._commands`) hand their information lines back verbatim in
:class:`~._events.CommandSucceeded`; the driver turns the ones it needs into
values with the helpers below. Each helper checks the ``+CMD`` prefix and the
field count and raises :class:`RemoteProtocolError` on anything malformed, so
a surprising module answer is an error, never a silently wrong value.

The helpers are re-exported by :mod:`._commands`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._errors import RemoteProtocolError
from ._grammar import parse_int, split_fields, split_info_line

__all__ = [
    "PdpInfo",
    "SslStateInfo",
    "parse_cfg_line",
    "parse_clock_line",
    "parse_file_list_line",
    "parse_file_space_line",
    "parse_pdp_line",
    "parse_qfupl_line",
    "parse_qiget_error",
    "parse_recv_query",
    "parse_ssl_state_line",
]


def _fields(line: str, prefix: str, count: int | None = None) -> list[str | int]:
    head, rest = split_info_line(line)
    if head != prefix:
        raise RemoteProtocolError(f"expected a {prefix} line", line[:64].encode("ascii", "replace"))
    fields = split_fields(rest)
    if count is not None and len(fields) != count:
        raise RemoteProtocolError(
            f"{prefix} line has {len(fields)} fields, expected {count}",
            line[:64].encode("ascii", "replace"),
        )
    return fields


def _text(field_: str | int, what: str) -> str:
    if isinstance(field_, int):
        return str(field_)
    return field_


@dataclass(frozen=True, slots=True)
class SslStateInfo:
    """One ``+QSSLSTATE:`` line."""

    client_id: int
    service_type: str
    remote_address: str
    remote_port: int
    local_port: int
    socket_state: int
    pdp_context_id: int
    server_id: int
    access_mode: int
    at_port: str
    ssl_context_id: int


def parse_ssl_state_line(line: str) -> SslStateInfo:
    """Parse ``+QSSLSTATE: <id>,"SSLClient","<ip>",<rport>,<lport>,<state>,...``."""
    f = _fields(line, "+QSSLSTATE", 11)
    return SslStateInfo(
        client_id=parse_int(f[0], "clientID"),
        service_type=_text(f[1], "service type"),
        remote_address=_text(f[2], "remote address"),
        remote_port=parse_int(f[3], "remote port"),
        local_port=parse_int(f[4], "local port"),
        socket_state=parse_int(f[5], "socket state"),
        pdp_context_id=parse_int(f[6], "contextID"),
        server_id=parse_int(f[7], "serverID"),
        access_mode=parse_int(f[8], "access mode"),
        at_port=_text(f[9], "AT port"),
        ssl_context_id=parse_int(f[10], "SSL_ctxID"),
    )


@dataclass(frozen=True, slots=True)
class PdpInfo:
    """One ``+QIACT:`` line."""

    context_id: int
    state: int
    context_type: int
    addresses: tuple[str, ...]


def parse_pdp_line(line: str) -> PdpInfo:
    """Parse ``+QIACT: <cid>,<state>,<type>[,"<ipv4>"][,"<ipv6>"]``."""
    f = _fields(line, "+QIACT")
    if len(f) < 3:
        raise RemoteProtocolError("+QIACT line has too few fields", line[:64].encode("ascii", "replace"))
    return PdpInfo(
        context_id=parse_int(f[0], "contextID"),
        state=parse_int(f[1], "context state"),
        context_type=parse_int(f[2], "context type"),
        addresses=tuple(_text(a, "address") for a in f[3:]),
    )


_HEX_RE = re.compile(r"^(?:0[xX])?([0-9A-Fa-f]{1,8})$")


def _hex(field_: str | int, what: str) -> int:
    text = str(field_)
    match = _HEX_RE.match(text)
    if match is None:
        raise RemoteProtocolError(f"{what} is not hexadecimal", text[:32].encode("ascii", "replace"))
    return int(match.group(1), 16)


def parse_qfupl_line(line: str) -> tuple[int, int]:
    """Parse ``+QFUPL: <size>,<checksum>`` (checksum in hex without ``0x``)."""
    f = _fields(line, "+QFUPL", 2)
    return parse_int(f[0], "upload size"), _hex(f[1], "checksum")


_QIGETERROR_RE = re.compile(r"^\+QIGETERROR: ?(\d{1,6})(?:, ?(.*))?$")


def parse_qiget_error(line: str) -> tuple[int, str]:
    """Parse ``+QIGETERROR: <err>,<description>`` (a space after the comma is tolerated)."""
    match = _QIGETERROR_RE.match(line.strip())
    if match is None:
        raise RemoteProtocolError("malformed +QIGETERROR line", line[:64].encode("ascii", "replace"))
    return int(match.group(1)), (match.group(2) or "").strip()


def parse_recv_query(line: str) -> tuple[int, int, int]:
    """Parse ``+QSSLRECV: <total>,<read>,<unread>``."""
    f = _fields(line, "+QSSLRECV", 3)
    return parse_int(f[0], "total"), parse_int(f[1], "read"), parse_int(f[2], "unread")


def parse_file_list_line(line: str) -> tuple[str, int]:
    """Parse ``+QFLST: "<name>",<size>``."""
    f = _fields(line, "+QFLST", 2)
    return _text(f[0], "file name"), parse_int(f[1], "file size")


def parse_file_space_line(line: str) -> tuple[int, int]:
    """Parse ``+QFLDS: <free>,<total>``."""
    f = _fields(line, "+QFLDS", 2)
    return parse_int(f[0], "free"), parse_int(f[1], "total")


def parse_cfg_line(line: str) -> tuple[str, int, int | str]:
    """Parse ``+QSSLCFG: "<item>",<ctx>,<value>``.

    Returns ``(item, ssl_context_id, value)``: the value is an int for numeric
    items (``0XFFFF`` hex literals included) and a str for paths.
    """
    f = _fields(line, "+QSSLCFG", 3)
    item = f[0]
    if not isinstance(item, str):
        raise RemoteProtocolError("+QSSLCFG item is not a string", line[:64].encode("ascii", "replace"))
    value = f[2]
    if isinstance(value, str) and value[:2] in ("0x", "0X"):
        value = _hex(value, f"{item} value")
    return item, parse_int(f[1], "SSL_ctxID"), value


def parse_clock_line(line: str) -> str:
    """Parse ``+CCLK: "<yy/MM/dd,hh:mm:ss±zz>"`` and return the quoted text."""
    head, rest = split_info_line(line)
    rest = rest.strip()
    if head != "+CCLK" or len(rest) < 2 or rest[0] != '"' or rest[-1] != '"':
        raise RemoteProtocolError("malformed +CCLK line", line[:64].encode("ascii", "replace"))
    return rest[1:-1]
