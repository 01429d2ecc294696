"""Handlers of the SSL commands: QSSLCFG, QSSLOPEN, QSSLSEND, QSSLRECV,
QSSLCLOSE, QSSLSTATE and QISWTMD (SSL Application Note §2.2, TCP/IP note for
QISWTMD)."""

from __future__ import annotations

from .._grammar import (
    MAX_CLIENT_ID,
    MAX_PDP_CONTEXT_ID,
    MAX_READ_LENGTH,
    MAX_SEND_LENGTH,
    MAX_SSL_CONTEXT_ID,
    CommandKind,
    ParsedCommand,
)
from ._emulator import ModemEmulator
from ._network import SocketState, TlsSocket
from ._registry import register
from ._ssl_state import handle_qsslcfg
from ._transparent import enter_transparent
from ._wire import ERROR, OK, field_is_quoted, info_ok

__all__: list[str] = []

ERR_INVALID_PARAM = 552
ERR_NOT_SUPPORTED = 555
ERR_PDP_NOT_ACTIVE = 561
ERR_ID_IN_USE = 563
ERR_CLOSED = 567
ERR_TIMEOUT = 569

_CTRL_Z = 0x1A
_ESC = 0x1B


def _int_param(cmd: ParsedCommand, index: int, low: int, high: int, default: int | None = None) -> int | None:
    if index >= len(cmd.params):
        return default
    value = cmd.params[index]
    if isinstance(value, int) and low <= value <= high:
        return value
    return None


def _fail(emu: ModemEmulator, code: int = ERR_INVALID_PARAM) -> bytes:
    emu.last_error = code
    return ERROR


def _ok(emu: ModemEmulator, body: bytes = OK) -> bytes:
    emu.last_error = 0
    return body


@register("+QSSLCFG")
async def qsslcfg(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QSSLCFG: configure or query one item of an SSL context."""
    lines, ok = handle_qsslcfg(emu._ssl_contexts, cmd)
    if not ok:
        return _fail(emu)
    return _ok(emu, info_ok(lines) if lines else OK)


@register("+QSSLOPEN")
async def qsslopen(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QSSLOPEN: OK now, ``+QSSLOPEN: <id>,<err>`` after the handshake."""
    if cmd.kind is CommandKind.TEST:
        return info_ok(
            [
                f"+QSSLOPEN: (1-{MAX_PDP_CONTEXT_ID}),(0-{MAX_SSL_CONTEXT_ID}),(0-{MAX_CLIENT_ID}),"
                "<serveraddr>,(1-65535),(0-2)"
            ]
        )
    if cmd.kind is not CommandKind.WRITE or len(cmd.params) not in (5, 6):
        return _fail(emu)
    cid = _int_param(cmd, 0, 1, MAX_PDP_CONTEXT_ID)
    ctx_id = _int_param(cmd, 1, 0, MAX_SSL_CONTEXT_ID)
    client_id = _int_param(cmd, 2, 0, MAX_CLIENT_ID)
    host = cmd.params[3]
    port = _int_param(cmd, 4, 0, 65535)
    mode = _int_param(cmd, 5, 0, 2, default=0)
    if (
        cid is None
        or ctx_id is None
        or client_id is None
        or port is None
        or mode is None
        or not isinstance(host, str)
        or not host
        or not field_is_quoted(cmd, 3)
    ):
        return _fail(emu)
    emu.last_error = 0
    if client_id in emu.sockets:
        if mode == 2:
            return _fail(emu, ERR_ID_IN_USE)
        emu.last_error = ERR_ID_IN_USE
        emu.emit_urc(f"\r\n+QSSLOPEN: {client_id},{ERR_ID_IN_USE}\r\n".encode("ascii"))
        return OK
    if not emu.pdp[cid].active:
        if mode == 2:
            return _fail(emu, ERR_PDP_NOT_ACTIVE)
        emu.last_error = ERR_PDP_NOT_ACTIVE
        emu.emit_urc(f"\r\n+QSSLOPEN: {client_id},{ERR_PDP_NOT_ACTIVE}\r\n".encode("ascii"))
        return OK
    settings = emu._ssl_contexts[ctx_id]
    emu.opened_with.append((client_id, settings))
    sock = TlsSocket(
        emu,
        emu.config,
        client_id=client_id,
        cid=cid,
        ctx_id=ctx_id,
        host=host,
        port=port,
        mode=mode,
        settings=settings,
        files=emu.ufs.files,
        clock=emu.now,
    )
    emu.track_socket(sock)
    if mode != 2:
        return OK
    err = await sock.open_result
    if err:
        return ERROR  # socket_opened() has set the last error
    return await enter_transparent(emu, sock)


def _connected(emu: ModemEmulator, client_id: int | None) -> TlsSocket | None:
    if client_id is None:
        return None
    sock = emu.sockets.get(client_id)
    if sock is None or sock.state is not SocketState.CONNECTED:
        return None
    return sock


@register("+QSSLSEND")
async def qsslsend(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QSSLSEND: prompt, payload (fixed length or up to Ctrl+Z), SEND OK/FAIL."""
    if cmd.kind is CommandKind.TEST:
        return info_ok([f"+QSSLSEND: (0-{MAX_CLIENT_ID}),(1-{MAX_SEND_LENGTH})"])
    if cmd.kind is not CommandKind.WRITE or len(cmd.params) not in (1, 2):
        return _fail(emu)
    client_id = _int_param(cmd, 0, 0, MAX_CLIENT_ID)
    low = 0 if emu.config.send_length_query else 1
    length = _int_param(cmd, 1, low, MAX_SEND_LENGTH, default=-1)
    if client_id is None or length is None:
        return _fail(emu)
    if length == 0:
        return _send_totals(emu, client_id)
    sock = _connected(emu, client_id)
    if sock is None:
        return _fail(emu, ERR_CLOSED)
    emu.input.drop_leading_lf()
    await emu.write_prompt()
    timeout = emu.config.send_input_timeout
    if length > 0:
        data = await emu.input.read_exact(length, timeout)
        if len(data) < length:
            return _fail(emu, ERR_TIMEOUT)
    else:
        data, stop = await emu.input.read_until(bytes((_CTRL_Z, _ESC)), MAX_SEND_LENGTH, timeout)
        if stop == _ESC:
            emu.last_error = emu.config.esc_cancel_error_code
            return emu.config.esc_cancel_response
        if stop is None:
            return _fail(emu, ERR_INVALID_PARAM if len(data) >= MAX_SEND_LENGTH else ERR_TIMEOUT)
    echo = data if emu.payload_echo else b""
    if emu.sockets.get(client_id) is not sock or sock.state is not SocketState.CONNECTED:
        return echo + _fail(emu, ERR_CLOSED)
    if emu.take_send_failure() or sock.backlog() + len(data) > emu.config.send_buffer_size:
        emu.last_error = 0
        return echo + b"\r\nSEND FAIL\r\n"
    if data:
        sock.send(data)
    return _ok(emu, echo + b"\r\nSEND OK\r\n")


def _send_totals(emu: ModemEmulator, client_id: int) -> bytes:
    sock = emu.sockets.get(client_id)
    if sock is None or sock.state is SocketState.OPENING:
        return _fail(emu, ERR_CLOSED)
    unacked = sock.backlog()
    return _ok(emu, info_ok([f"+QSSLSEND: {sock.total_sent},{sock.total_sent - unacked},{unacked}"]))


@register("+QSSLRECV")
async def qsslrecv(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QSSLRECV: read from the module receive buffer (buffer access mode)."""
    if cmd.kind is CommandKind.TEST:
        return info_ok([f"+QSSLRECV: (0-{MAX_CLIENT_ID}),(0-{MAX_READ_LENGTH})"])
    if cmd.kind is not CommandKind.WRITE or len(cmd.params) != 2:
        return _fail(emu)
    client_id = _int_param(cmd, 0, 0, MAX_CLIENT_ID)
    length = _int_param(cmd, 1, 0, MAX_READ_LENGTH)
    if client_id is None or length is None:
        return _fail(emu)
    sock = emu.sockets.get(client_id)
    if sock is None or sock.state is SocketState.OPENING:
        return _fail(emu, ERR_CLOSED)
    if length == 0:  # the length query answers for every existing connection (note §2.2.4)
        unread = len(sock.recv_buffer)
        return _ok(emu, info_ok([f"+QSSLRECV: {sock.total_received},{sock.total_read},{unread}"]))
    if sock.mode != 0:
        return _fail(emu, ERR_NOT_SUPPORTED)
    data = sock.consume(length)
    if not data:
        return _ok(emu, OK if emu.config.recv_empty_bare_ok else info_ok(["+QSSLRECV: 0"]))
    return _ok(emu, f"\r\n+QSSLRECV: {len(data)}\r\n".encode("ascii") + data + b"\r\n" + OK)


@register("+QSSLCLOSE")
async def qsslclose(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QSSLCLOSE: close (gracefully, bounded by close_timeout) and free the ID."""
    if cmd.kind is CommandKind.TEST:
        return info_ok([f"+QSSLCLOSE: (0-{MAX_CLIENT_ID}),(0-65535)"])
    if cmd.kind is not CommandKind.WRITE or len(cmd.params) not in (1, 2):
        return _fail(emu)
    client_id = _int_param(cmd, 0, 0, MAX_CLIENT_ID)
    timeout = _int_param(cmd, 1, 0, 65535, default=10)
    if client_id is None or timeout is None:
        return _fail(emu)
    sock = emu.sockets.pop(client_id, None)
    if sock is not None:
        await sock.close(emu.scaled(timeout))
        released = all(other.ctx_id != sock.ctx_id for other in emu.sockets.values())
        if released and emu.config.release_resets_context:
            emu._ssl_contexts[sock.ctx_id] = emu.config.ssl_defaults
    return _ok(emu)


def _state_line(emu: ModemEmulator, sock: TlsSocket) -> str:
    ip = sock.remote_ip or sock.host
    local_port = sock.local_port if emu.config.qsslstate_local_port else 0
    return (
        f'+QSSLSTATE: {sock.client_id},"SSLClient","{ip}",{sock.port},{local_port},'
        f'{int(sock.state)},{sock.cid},{sock.client_id},{sock.mode},"{emu.config.at_port}",{sock.ctx_id}'
    )


@register("+QSSLSTATE")
async def qsslstate(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QSSLSTATE: one line per existing connection (or the given one)."""
    if cmd.kind is CommandKind.TEST:
        return _ok(emu)
    if cmd.kind is CommandKind.EXECUTE:
        lines = [_state_line(emu, emu.sockets[k]) for k in sorted(emu.sockets)]
        return _ok(emu, info_ok(lines) if lines else OK)
    if cmd.kind is not CommandKind.WRITE:
        return _fail(emu)
    params = cmd.params
    if len(params) == 2 and emu.config.qsslstate_two_param and params[0] == 1:
        params = params[1:]
    if len(params) != 1 or not isinstance(params[0], int) or not 0 <= params[0] <= MAX_CLIENT_ID:
        return _fail(emu)
    sock = emu.sockets.get(params[0])
    return _ok(emu, info_ok([_state_line(emu, sock)]) if sock is not None else OK)


@register("+QISWTMD")
async def qiswtmd(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QISWTMD: switch a connection between buffer (0) and direct push (1)."""
    if cmd.kind is CommandKind.TEST:
        return info_ok([f"+QISWTMD: (0-{MAX_CLIENT_ID}),(0-2)"])
    if cmd.kind is not CommandKind.WRITE or len(cmd.params) != 2:
        return _fail(emu)
    client_id = _int_param(cmd, 0, 0, MAX_CLIENT_ID)
    mode = _int_param(cmd, 1, 0, 2)
    if client_id is None or mode is None:
        return _fail(emu)
    sock = emu.sockets.get(client_id)
    if sock is None or sock.state is SocketState.OPENING:
        return _fail(emu, ERR_CLOSED)
    if mode == 2:
        if sock.state is not SocketState.CONNECTED:
            return _fail(emu, ERR_CLOSED)
        emu.last_error = 0
        return await enter_transparent(emu, sock)
    previous = sock.mode
    sock.set_mode(mode)
    if mode == 1 and previous == 0 and sock.recv_buffer:
        emu.spawn(sock.push_buffered())
    return _ok(emu)
