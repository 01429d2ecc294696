"""Handlers of the general commands: V.250 basics, identification, serial
settings, clock, and the PDP context commands of the TCP/IP note."""

from __future__ import annotations

import datetime as _dt
import re

from .._grammar import ERROR_TEXTS, MAX_PDP_CONTEXT_ID, CommandKind, ParsedCommand
from ._config import URC_PORTS as _URC_PORTS
from ._emulator import ModemEmulator
from ._registry import register
from ._sockets import ERR_INVALID_PARAM, ERR_PDP_NOT_ACTIVE
from ._wire import ERROR, OK, field_is_quoted, info_ok

__all__ = ["SUPPORTED_RATES"]

SUPPORTED_RATES = (4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)
_CCLK_RE = re.compile(r"^(\d\d)/(\d\d)/(\d\d),(\d\d):(\d\d):(\d\d)([+-])(\d\d)$")


def _flag(raw: str, allowed: str) -> str | None:
    value = raw or "0"
    return value if len(value) == 1 and value in allowed else None


@register("")
async def at(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT: attention."""
    return OK


@register("E")
async def ate(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """ATE0/ATE1: command echo."""
    value = _flag(cmd.raw_args, "01")
    if value is None:
        return ERROR
    emu.echo = value == "1"
    return OK


@register("V")
async def atv(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """ATV1 (verbose results); ATV0 numeric results are not emulated."""
    return OK if cmd.raw_args == "1" else ERROR


@register("I")
async def ati(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """ATI: manufacturer, model, revision."""
    if cmd.raw_args not in ("", "0"):
        return ERROR
    cfg = emu.config
    return info_ok([cfg.manufacturer, cfg.model, f"Revision: {cfg.firmware}"])


@register("Z")
async def atz(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """ATZ: restore the stored profile."""
    if _flag(cmd.raw_args, "0") is None:
        return ERROR
    emu.echo = emu._profile.echo
    return OK


@register("&F")
async def at_f(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT&F: factory settings (echo back on, no flow control, AT&D2); the baud rate is kept."""
    if _flag(cmd.raw_args, "0") is None:
        return ERROR
    emu.echo = emu.config.echo
    emu.cmee = emu.config.cmee
    emu.ifc = (0, 0)
    emu.dtr_mode = 2
    return OK


@register("&W")
async def at_w(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT&W: store echo and baud rate for the next restart."""
    if _flag(cmd.raw_args, "0") is None:
        return ERROR
    emu._profile.echo = emu.echo
    emu._profile.ipr = emu.ipr
    return OK


@register("&D")
async def at_d(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT&D0-2: what a DTR drop does (see :meth:`ModemEmulator.set_dtr`)."""
    value = _flag(cmd.raw_args, "012")
    if value is None:
        return ERROR
    emu.dtr_mode = int(value)
    return OK


def _identity(value: str) -> bytes:
    return info_ok([value])


@register("+CGMI", "+GMI")
async def cgmi(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+CGMI: manufacturer."""
    return _identity(emu.config.manufacturer) if cmd.kind is CommandKind.EXECUTE else OK


@register("+CGMM", "+GMM")
async def cgmm(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+CGMM: model."""
    return _identity(emu.config.model) if cmd.kind is CommandKind.EXECUTE else OK


@register("+CGMR", "+GMR")
async def cgmr(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+CGMR: firmware revision."""
    return _identity(emu.config.firmware) if cmd.kind is CommandKind.EXECUTE else OK


@register("+GSN", "+CGSN")
async def gsn(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+GSN: IMEI."""
    return _identity(emu.config.imei) if cmd.kind is CommandKind.EXECUTE else OK


def _single_int(cmd: ParsedCommand, allowed: range | tuple[int, ...]) -> int | None:
    if cmd.kind is not CommandKind.WRITE or len(cmd.params) != 1:
        return None
    value = cmd.params[0]
    return value if isinstance(value, int) and value in allowed else None


@register("+CMEE")
async def cmee(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+CMEE: error result format."""
    if cmd.kind is CommandKind.READ:
        return info_ok([f"+CMEE: {emu.cmee}"])
    if cmd.kind is CommandKind.TEST:
        return info_ok(["+CMEE: (0-2)"])
    value = _single_int(cmd, range(3))
    if value is None:
        return ERROR
    emu.cmee = value
    return OK


@register("+IPR")
async def ipr(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+IPR: UART rate (stored only; a pty has no rate)."""
    if cmd.kind is CommandKind.READ:
        return info_ok([f"+IPR: {emu.ipr}"])
    if cmd.kind is CommandKind.TEST:
        return info_ok(["+IPR: (),(" + ",".join(str(r) for r in SUPPORTED_RATES) + ")"])
    value = _single_int(cmd, SUPPORTED_RATES)
    if value is None:
        return ERROR
    emu.ipr = value
    return OK


@register("+IFC")
async def ifc(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+IFC: flow control (stored only)."""
    if cmd.kind is CommandKind.READ:
        return info_ok([f"+IFC: {emu.ifc[0]},{emu.ifc[1]}"])
    if cmd.kind is CommandKind.TEST:
        return info_ok(["+IFC: (0,2),(0,2)"])
    params = cmd.params
    if cmd.kind is not CommandKind.WRITE or len(params) != 2 or not all(p in (0, 2) for p in params):
        return ERROR
    emu.ifc = (int(params[0]), int(params[1]))
    return OK


@register("+QURCCFG")
async def qurccfg(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QURCCFG="urcport"[,<port>]."""
    if cmd.kind is CommandKind.TEST:
        return info_ok(['+QURCCFG: "urcport",(' + ",".join(f'"{p}"' for p in _URC_PORTS) + ")"])
    params = cmd.params
    if cmd.kind is not CommandKind.WRITE or not params or params[0] != "urcport" or len(params) > 2:
        return ERROR
    if len(params) == 1:
        return info_ok([f'+QURCCFG: "urcport","{emu.urcport}"'])
    if params[1] not in _URC_PORTS or not field_is_quoted(cmd, 1):
        return ERROR
    emu.urcport = emu._profile.urcport = str(params[1])
    return OK


@register("+CCLK")
async def cclk(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+CCLK: the module clock, ``"yy/MM/dd,hh:mm:ss+zz"`` (zz in quarter hours)."""
    if cmd.kind is CommandKind.TEST:
        return OK
    if cmd.kind is CommandKind.READ:
        quarters = emu._clock_tz_quarters
        local = emu.now() + _dt.timedelta(minutes=15 * quarters)
        sign = "+" if quarters >= 0 else "-"
        return info_ok([f'+CCLK: "{local:%y/%m/%d,%H:%M:%S}{sign}{abs(quarters):02d}"'])
    if cmd.kind is not CommandKind.WRITE or len(cmd.params) != 1 or not field_is_quoted(cmd, 0):
        return ERROR
    match = _CCLK_RE.match(str(cmd.params[0]))
    if match is None:
        return ERROR
    yy, mo, dd, hh, mi, ss, sign, zz = match.groups()
    quarters = int(zz) * (1 if sign == "+" else -1)
    if not -48 <= quarters <= 56:
        return ERROR
    try:
        local = _dt.datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), tzinfo=_dt.UTC)
    except ValueError:
        return ERROR
    emu.set_clock(local - _dt.timedelta(minutes=15 * quarters), quarters)
    return OK


@register("+CFUN")
async def cfun(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+CFUN: functionality; ``AT+CFUN=1,1`` restarts the module after OK."""
    if cmd.kind is CommandKind.READ:
        return info_ok([f"+CFUN: {emu.cfun}"])
    if cmd.kind is CommandKind.TEST:
        return info_ok(["+CFUN: (0,1,4),(0-1)"])
    params = cmd.params
    if cmd.kind is not CommandKind.WRITE or not 1 <= len(params) <= 2:
        return ERROR
    if params[0] not in (0, 1, 4) or (len(params) == 2 and params[1] not in (0, 1)):
        return ERROR
    emu.cfun = int(params[0])
    if len(params) == 2 and params[1] == 1:
        emu.after_response(emu.restart)
    return OK


@register("+CPIN")
async def cpin(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+CPIN?: the SIM is always ready."""
    return info_ok(["+CPIN: READY"]) if cmd.kind is CommandKind.READ else ERROR


@register("+CSQ")
async def csq(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+CSQ: a fixed, good signal."""
    return info_ok(["+CSQ: 24,99"]) if cmd.kind is CommandKind.EXECUTE else OK


@register("+CREG", "+CGREG", "+CEREG")
async def creg(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+CREG?/CGREG?/CEREG?: registered, home network."""
    if cmd.kind is CommandKind.READ:
        return info_ok([f"{cmd.name}: 0,1"])
    return OK


@register("+QISDE")
async def qisde(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QISDE: echo of QSSLSEND payloads."""
    if cmd.kind is CommandKind.READ:
        return info_ok([f"+QISDE: {int(emu.payload_echo)}"])
    if cmd.kind is CommandKind.TEST:
        return info_ok(["+QISDE: (0,1)"])
    value = _single_int(cmd, (0, 1))
    if value is None:
        return ERROR
    emu.payload_echo = bool(value)
    return OK


@register("+QICSGP")
async def qicsgp(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QICSGP: configure or query a PDP context."""
    if cmd.kind is CommandKind.TEST:
        return info_ok([f"+QICSGP: (1-{MAX_PDP_CONTEXT_ID}),(1-3),<APN>,<username>,<password>,(0-3)"])
    params = cmd.params
    if cmd.kind is not CommandKind.WRITE or len(params) not in (1, 3, 5, 6):
        return _fail(emu)
    cid = params[0]
    if not isinstance(cid, int) or cid not in emu.pdp:
        return _fail(emu)
    ctx = emu.pdp[cid]
    if len(params) == 1:
        emu.last_error = 0
        line = f'+QICSGP: {ctx.context_type},"{ctx.apn}","{ctx.username}","{ctx.password}"'
        return info_ok([f"{line},{ctx.authentication}"])
    context_type = params[1]
    strings = params[2:5]
    auth = params[5] if len(params) == 6 else 0
    if (
        context_type not in (1, 2, 3)
        or auth not in (0, 1, 2, 3)
        or not all(isinstance(s, str) and len(s) <= 127 for s in strings)
        or not all(field_is_quoted(cmd, i) for i in range(2, 2 + len(strings)))
    ):
        return _fail(emu)
    ctx.context_type = int(context_type)
    ctx.apn = str(strings[0])
    if len(strings) == 3:
        ctx.username, ctx.password = str(strings[1]), str(strings[2])
    ctx.authentication = int(auth)
    emu.last_error = 0
    return OK


def _fail(emu: ModemEmulator, code: int = ERR_INVALID_PARAM) -> bytes:
    emu.last_error = code
    return ERROR


@register("+QIACT")
async def qiact(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QIACT: activate a PDP context (any APN; refused after a network deactivation until AT+QIDEACT)."""
    if cmd.kind is CommandKind.TEST:
        return info_ok([f"+QIACT: (1-{MAX_PDP_CONTEXT_ID})"])
    if cmd.kind is CommandKind.READ:
        lines = [
            f'+QIACT: {cid},1,{ctx.context_type},"10.7.157.{cid}"'
            for cid, ctx in sorted(emu.pdp.items())
            if ctx.active
        ]
        return info_ok(lines) if lines else OK
    cid = _single_int(cmd, range(1, MAX_PDP_CONTEXT_ID + 1))
    if cid is None:
        return _fail(emu)
    if emu.pdp[cid].lost:
        return _fail(emu, ERR_PDP_NOT_ACTIVE)
    emu.pdp[cid].active = True
    emu.last_error = 0
    return OK


@register("+QIDEACT")
async def qideact(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QIDEACT: deactivate a PDP context; its SSL sockets get closed URCs."""
    if cmd.kind is CommandKind.TEST:
        return info_ok([f"+QIDEACT: (1-{MAX_PDP_CONTEXT_ID})"])
    cid = _single_int(cmd, range(1, MAX_PDP_CONTEXT_ID + 1))
    if cid is None:
        return _fail(emu)
    emu.pdp[cid].active = False
    emu.pdp[cid].lost = False
    for client_id in emu.close_context_sockets(cid):
        emu.emit_urc(f'\r\n+QSSLURC: "closed",{client_id}\r\n'.encode("ascii"))
    emu.last_error = 0
    return OK


@register("+QIGETERROR")
async def qigeterror(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QIGETERROR: the error code of the last TCP/IP or SSL command."""
    if cmd.kind is not CommandKind.EXECUTE:
        return OK if cmd.kind is CommandKind.TEST else ERROR
    code = emu.last_error
    return info_ok([f"+QIGETERROR: {code},{ERROR_TEXTS.get(code, 'unknown error')}"])
