"""The AT commands the library sends, one frozen dataclass each.

Theory of operation
-------------------
A command object is a *validated request*: ``__post_init__`` checks every
field (types, ranges, strings through the :mod:`._grammar` validators) and
raises :class:`LocalProtocolError` before any byte could be produced. ``bool``
is never accepted where an ``int`` is expected. :meth:`Command.encode` then
builds the exact command line through :func:`._grammar.format_command`.

Each class also carries the metadata that :class:`ModemConnection` and the
driver need to run the exchange:

* ``at_name`` - the AT name, for errors and logs (``"AT+QSSLOPEN"``);
* ``info_prefixes`` - the ``+CMD`` prefixes of information lines that belong
  to the command; any other ``+CMD:`` line is unsolicited;
* ``accepts_any_line`` - :class:`Raw` claims every non-URC line;
* ``expects_prompt`` / ``expects_connect`` - the exchange has a data phase
  opened by ``>`` (``AT+QSSLSEND``) or ``CONNECT`` (``AT+QFUPL``);
* ``timeout`` - the maximum response time from the application notes, in
  seconds. It is the module's figure; the driver adds its own margins.

The parse helpers for information lines live in :mod:`._replies` and are
re-exported here.

This module performs no I/O.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar

from ._command_base import _SHORT, Command, _int, _str
from ._errors import LocalProtocolError
from ._file_commands import (
    MAX_UPLOAD_SIZE,
    FileDelete,
    FileList,
    FileSpace,
    FileUpload,
    QueryClock,
    SetClock,
)
from ._grammar import (
    MAX_CLIENT_ID,
    MAX_PDP_CONTEXT_ID,
    MAX_READ_LENGTH,
    MAX_SEND_LENGTH,
    MAX_SSL_CONTEXT_ID,
    Hex,
    Param,
    Quoted,
    format_command,
    validate_apn_text,
    validate_filename,
    validate_hostname,
)
from ._raw_command import Raw
from ._replies import (
    PdpInfo,
    SslStateInfo,
    parse_cfg_line,
    parse_clock_line,
    parse_file_list_line,
    parse_file_space_line,
    parse_pdp_line,
    parse_qfupl_line,
    parse_qiget_error,
    parse_recv_query,
    parse_ssl_state_line,
)

__all__ = [
    "MAX_UPLOAD_SIZE",
    "SSL_CONFIG_ITEMS",
    "ActivatePdp",
    "Attention",
    "Command",
    "ConfigurePdp",
    "DeactivatePdp",
    "FileDelete",
    "FileList",
    "FileSpace",
    "FileUpload",
    "PdpInfo",
    "QueryClock",
    "QueryError",
    "QueryPdp",
    "Raw",
    "SetClock",
    "SetEcho",
    "SetErrorFormat",
    "SslClose",
    "SslConfigure",
    "SslOpen",
    "SslRecv",
    "SslRecvQuery",
    "SslSend",
    "SslState",
    "SslStateInfo",
    "ReturnOnline",
    "SwitchAccessMode",
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

# ---------------------------------------------------------------------------
# General commands
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _data_command_line(name: str, client_id: int, length: int) -> bytes:
    """The line of a data command (hot path: the same few lines over and over)."""
    return format_command(name, [client_id, length])


@dataclass(frozen=True, slots=True)
class Attention(Command):
    """``AT``: is the module listening?"""

    at_name: ClassVar[str] = "AT"
    max_response_time: ClassVar[float] = _SHORT

    def encode(self) -> bytes:
        return format_command("")


@dataclass(frozen=True, slots=True)
class SetEcho(Command):
    """``ATE0`` / ``ATE1``: command echo off / on."""

    enabled: bool

    at_name: ClassVar[str] = "ATE"

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise LocalProtocolError("enabled must be a bool")

    def encode(self) -> bytes:
        return format_command("E1" if self.enabled else "E0")


@dataclass(frozen=True, slots=True)
class SetErrorFormat(Command):
    """``AT+CMEE=<mode>``: 0 plain ERROR, 1 numeric, 2 text ``+CME ERROR``."""

    mode: int

    at_name: ClassVar[str] = "AT+CMEE"

    def __post_init__(self) -> None:
        _int(self.mode, "mode", 0, 2)

    def encode(self) -> bytes:
        return format_command("+CMEE", [self.mode])


@dataclass(frozen=True, slots=True)
class QueryError(Command):
    """``AT+QIGETERROR``: the error code of the last TCP/IP or SSL command."""

    at_name: ClassVar[str] = "AT+QIGETERROR"
    max_response_time: ClassVar[float] = _SHORT
    info_prefixes: ClassVar[tuple[str, ...]] = ("+QIGETERROR",)

    def encode(self) -> bytes:
        return format_command("+QIGETERROR")


# ---------------------------------------------------------------------------
# PDP context
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigurePdp(Command):
    """``AT+QICSGP=<cid>,<type>,"<apn>","<user>","<pass>",<auth>``.

    The password is left out of the repr.
    """

    context_id: int
    apn: str
    username: str = ""
    password: str = field(default="", repr=False)
    authentication: int = 0
    context_type: int = 1

    at_name: ClassVar[str] = "AT+QICSGP"
    info_prefixes: ClassVar[tuple[str, ...]] = ("+QICSGP",)

    def __post_init__(self) -> None:
        _int(self.context_id, "context_id", 1, MAX_PDP_CONTEXT_ID)
        _int(self.context_type, "context_type", 1, 3)
        _int(self.authentication, "authentication", 0, 2)
        validate_apn_text(_str(self.apn, "apn"), "apn")
        validate_apn_text(_str(self.username, "username"), "username")
        validate_apn_text(_str(self.password, "password"), "password")

    def encode(self) -> bytes:
        return format_command(
            "+QICSGP",
            [
                self.context_id,
                self.context_type,
                Quoted(self.apn, allow_empty=True),
                Quoted(self.username, allow_empty=True),
                Quoted(self.password, allow_empty=True),
                self.authentication,
            ],
        )


@dataclass(frozen=True, slots=True)
class ActivatePdp(Command):
    """``AT+QIACT=<cid>`` (up to 150 s)."""

    context_id: int

    at_name: ClassVar[str] = "AT+QIACT"
    max_response_time: ClassVar[float] = 150.0

    def __post_init__(self) -> None:
        _int(self.context_id, "context_id", 1, MAX_PDP_CONTEXT_ID)

    def encode(self) -> bytes:
        return format_command("+QIACT", [self.context_id])


@dataclass(frozen=True, slots=True)
class QueryPdp(Command):
    """``AT+QIACT?``: one ``+QIACT:`` line per active context."""

    at_name: ClassVar[str] = "AT+QIACT"
    info_prefixes: ClassVar[tuple[str, ...]] = ("+QIACT",)

    def encode(self) -> bytes:
        return format_command("+QIACT", query=True)


@dataclass(frozen=True, slots=True)
class DeactivatePdp(Command):
    """``AT+QIDEACT=<cid>`` (up to 40 s)."""

    context_id: int

    at_name: ClassVar[str] = "AT+QIDEACT"
    max_response_time: ClassVar[float] = 40.0

    def __post_init__(self) -> None:
        _int(self.context_id, "context_id", 1, MAX_PDP_CONTEXT_ID)

    def encode(self) -> bytes:
        return format_command("+QIDEACT", [self.context_id])


# ---------------------------------------------------------------------------
# SSL
# ---------------------------------------------------------------------------

_FLAG = (0, 1)
#: ``AT+QSSLCFG`` items and the values they take: an inclusive int range,
#: ``"path"`` (a module file name) or ``"hex"`` (a cipher suite code).
SSL_CONFIG_ITEMS: dict[str, tuple[int, int] | str] = {
    "sslversion": (0, 4),
    "dtls": _FLAG,
    "dtlsversion": (0, 1),
    "ciphersuite": "hex",
    "seclevel": (0, 2),
    "cacert": "path",
    "clientcert": "path",
    "clientkey": "path",
    "sni": _FLAG,
    "ignorelocaltime": _FLAG,
    "negotiatetime": (10, 300),
    "ignoreinvalidcertsign": _FLAG,
    "ignorecertitem": (0, 1048575),
    "ignoremulticertchainverify": _FLAG,
    "session_cache": _FLAG,
}


@dataclass(frozen=True, slots=True)
class SslConfigure(Command):
    """``AT+QSSLCFG="<item>",<ctx>[,<value>]``; ``value=None`` queries."""

    item: str
    ssl_context_id: int
    value: int | str | None = None

    at_name: ClassVar[str] = "AT+QSSLCFG"
    max_response_time: ClassVar[float] = _SHORT
    info_prefixes: ClassVar[tuple[str, ...]] = ("+QSSLCFG",)

    def __post_init__(self) -> None:
        item = _str(self.item, "item")
        kind = SSL_CONFIG_ITEMS.get(item)
        if kind is None:
            raise LocalProtocolError(f"unknown AT+QSSLCFG item {item!r}")
        _int(self.ssl_context_id, "ssl_context_id", 0, MAX_SSL_CONTEXT_ID)
        value = self.value
        if value is None:
            return
        if kind == "path":
            validate_filename(_str(value, f"{item} value"))
        elif kind == "hex":
            _int(value, f"{item} value", 0, 0xFFFF)
        else:
            assert isinstance(kind, tuple)
            _int(value, f"{item} value", kind[0], kind[1])

    def encode(self) -> bytes:
        params: list[Param] = [Quoted(self.item), self.ssl_context_id]
        value = self.value
        if isinstance(value, str):
            params.append(Quoted(value))
        elif isinstance(value, int):
            params.append(Hex(value) if self.item == "ciphersuite" else value)
        return format_command("+QSSLCFG", params)


@dataclass(frozen=True, slots=True)
class SslOpen(Command):
    """``AT+QSSLOPEN=<cid>,<ctx>,<id>,"<host>",<port>,<mode>``.

    ``timeout`` is 150 s + ``negotiate_time``: the bound on the
    ``+QSSLOPEN: <id>,<err>`` URC, which arrives after the command's ``OK``.
    ``negotiate_time`` must equal the context's ``negotiatetime`` setting.
    """

    pdp_context_id: int
    ssl_context_id: int
    client_id: int
    host: str
    port: int
    access_mode: int = 0
    negotiate_time: int = 300

    at_name: ClassVar[str] = "AT+QSSLOPEN"

    def __post_init__(self) -> None:
        _int(self.pdp_context_id, "pdp_context_id", 1, MAX_PDP_CONTEXT_ID)
        _int(self.ssl_context_id, "ssl_context_id", 0, MAX_SSL_CONTEXT_ID)
        _int(self.client_id, "client_id", 0, MAX_CLIENT_ID)
        validate_hostname(_str(self.host, "host"))
        _int(self.port, "port", 1, 65535)
        _int(self.access_mode, "access_mode", 0, 2)
        _int(self.negotiate_time, "negotiate_time", 10, 300)

    @property
    def timeout(self) -> float:
        return 150.0 + self.negotiate_time

    @property
    def transparent_client(self) -> int | None:
        return self.client_id if self.access_mode == 2 else None

    def encode(self) -> bytes:
        return format_command(
            "+QSSLOPEN",
            [
                self.pdp_context_id,
                self.ssl_context_id,
                self.client_id,
                Quoted(validate_hostname(self.host)),
                self.port,
                self.access_mode,
            ],
        )


@dataclass(frozen=True, slots=True)
class SslSend(Command):
    """``AT+QSSLSEND=<id>,<len>`` (fixed length only; never the Ctrl+Z form)."""

    client_id: int
    length: int

    at_name: ClassVar[str] = "AT+QSSLSEND"
    max_response_time: ClassVar[float] = _SHORT
    expects_prompt: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _int(self.client_id, "client_id", 0, MAX_CLIENT_ID)
        _int(self.length, "length", 1, MAX_SEND_LENGTH)

    def encode(self) -> bytes:
        return _data_command_line("+QSSLSEND", self.client_id, self.length)


@dataclass(frozen=True, slots=True)
class SslRecv(Command):
    """``AT+QSSLRECV=<id>,<len>``: read up to ``length`` buffered bytes."""

    client_id: int
    length: int

    at_name: ClassVar[str] = "AT+QSSLRECV"
    max_response_time: ClassVar[float] = _SHORT
    info_prefixes: ClassVar[tuple[str, ...]] = ("+QSSLRECV",)

    def __post_init__(self) -> None:
        _int(self.client_id, "client_id", 0, MAX_CLIENT_ID)
        _int(self.length, "length", 1, MAX_READ_LENGTH)

    def encode(self) -> bytes:
        return _data_command_line("+QSSLRECV", self.client_id, self.length)


@dataclass(frozen=True, slots=True)
class SslRecvQuery(Command):
    """``AT+QSSLRECV=<id>,0`` → ``+QSSLRECV: <total>,<read>,<unread>``."""

    client_id: int

    at_name: ClassVar[str] = "AT+QSSLRECV"
    max_response_time: ClassVar[float] = _SHORT
    info_prefixes: ClassVar[tuple[str, ...]] = ("+QSSLRECV",)

    def __post_init__(self) -> None:
        _int(self.client_id, "client_id", 0, MAX_CLIENT_ID)

    def encode(self) -> bytes:
        return format_command("+QSSLRECV", [self.client_id, 0])


@dataclass(frozen=True, slots=True)
class SslClose(Command):
    """``AT+QSSLCLOSE=<id>,<close_timeout>``; the module answers within ``close_timeout``."""

    client_id: int
    close_timeout: int = 10

    at_name: ClassVar[str] = "AT+QSSLCLOSE"

    def __post_init__(self) -> None:
        _int(self.client_id, "client_id", 0, MAX_CLIENT_ID)
        _int(self.close_timeout, "close_timeout", 0, 65535)

    @property
    def timeout(self) -> float:
        return max(float(self.close_timeout), _SHORT)

    def encode(self) -> bytes:
        return format_command("+QSSLCLOSE", [self.client_id, self.close_timeout])


@dataclass(frozen=True, slots=True)
class SslState(Command):
    """``AT+QSSLSTATE[=<id>]``: one ``+QSSLSTATE:`` line per existing connection."""

    client_id: int | None = None

    at_name: ClassVar[str] = "AT+QSSLSTATE"
    max_response_time: ClassVar[float] = _SHORT
    info_prefixes: ClassVar[tuple[str, ...]] = ("+QSSLSTATE",)

    def __post_init__(self) -> None:
        if self.client_id is not None:
            _int(self.client_id, "client_id", 0, MAX_CLIENT_ID)

    def encode(self) -> bytes:
        if self.client_id is None:
            return format_command("+QSSLSTATE")
        return format_command("+QSSLSTATE", [self.client_id])


@dataclass(frozen=True, slots=True)
class SwitchAccessMode(Command):
    """``AT+QISWTMD=<id>,<mode>``; mode 2 (transparent) answers ``CONNECT``."""

    client_id: int
    access_mode: int

    at_name: ClassVar[str] = "AT+QISWTMD"

    def __post_init__(self) -> None:
        _int(self.client_id, "client_id", 0, MAX_CLIENT_ID)
        _int(self.access_mode, "access_mode", 0, 2)

    @property
    def transparent_client(self) -> int | None:
        return self.client_id if self.access_mode == 2 else None

    def encode(self) -> bytes:
        return format_command("+QISWTMD", [self.client_id, self.access_mode])


@dataclass(frozen=True, slots=True)
class ReturnOnline(Command):
    """``ATO``: return to the connection that left transparent mode last.

    The module answers ``CONNECT`` (the port is transparent again) or
    ``NO CARRIER``. ``client_id`` is that connection, as the driver knows it;
    it is not part of the command line.
    """

    client_id: int

    at_name: ClassVar[str] = "ATO"
    max_response_time: ClassVar[float] = _SHORT

    def __post_init__(self) -> None:
        _int(self.client_id, "client_id", 0, MAX_CLIENT_ID)

    @property
    def transparent_client(self) -> int | None:
        return self.client_id

    def encode(self) -> bytes:
        return b"ATO\r"
