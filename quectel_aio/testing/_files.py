"""The module's user file system (UFS) and the FILE commands.

Facts from the FILE application notes of sibling modules and captures on a
sibling Cat-1 module: ``AT+QFUPL`` answers ``CONNECT``, takes exactly
``<file_size>`` raw bytes (or what arrived before ``<timeout>`` seconds of
silence), then prints ``+QFUPL: <size>,<checksum>`` (16-bit XOR of big-endian
words, lowercase hex) and ``OK``. Names with and without ``UFS:`` are the same
file. Space is allocated in blocks.
"""

from __future__ import annotations

import fnmatch

from .._grammar import CommandKind, ParsedCommand, checksum_xor16
from ._emulator import ModemEmulator
from ._network import normalize_file_name
from ._registry import register
from ._wire import CONNECT, ERROR, OK, field_is_quoted, info, info_ok

__all__ = ["Ufs"]

ERR_DRIVE_FULL = 403
ERR_NOT_FOUND = 405
ERR_BAD_NAME = 406
ERR_EXISTS = 407
ERR_TIMEOUT = 421

_DEFAULT_UPLOAD_SIZE = 10240
_DEFAULT_UPLOAD_TIMEOUT = 5
_ACK_BLOCK = 1024


class Ufs:
    """Files by name (without ``UFS:``), with block-based space accounting."""

    def __init__(self, capacity: int, block_size: int) -> None:
        self.capacity = capacity
        self.block_size = block_size
        self.files: dict[str, bytes] = {}

    def allocated(self, size: int) -> int:
        """Bytes of space a file of ``size`` bytes occupies."""
        blocks = -(-size // self.block_size)
        return max(blocks, 1) * self.block_size

    def free(self) -> int:
        """Free space in bytes."""
        used = sum(self.allocated(len(data)) for data in self.files.values())
        return max(self.capacity - used, 0)


def _name_param(cmd: ParsedCommand, index: int = 0) -> str | None:
    if index >= len(cmd.params) or not field_is_quoted(cmd, index):
        return None
    raw = cmd.params[index]
    return raw if isinstance(raw, str) else None


def _opt_int(cmd: ParsedCommand, index: int, low: int, high: int, default: int) -> int | None:
    if index >= len(cmd.params):
        return default
    value = cmd.params[index]
    return value if isinstance(value, int) and low <= value <= high else None


@register("+QFUPL")
async def qfupl(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QFUPL: upload a file through a CONNECT data phase."""
    ufs = emu.ufs
    if cmd.kind is CommandKind.TEST:
        return info_ok([f'+QFUPL: "<filename>",(1-{ufs.free()}),(1-65535),(0,1)'])
    if cmd.kind is not CommandKind.WRITE or not 1 <= len(cmd.params) <= 4:
        return ERROR
    raw_name = _name_param(cmd)
    size = _opt_int(cmd, 1, 1, 1 << 31, _DEFAULT_UPLOAD_SIZE)
    timeout = _opt_int(cmd, 2, 1, 65535, _DEFAULT_UPLOAD_TIMEOUT)
    ackmode = _opt_int(cmd, 3, 0, 1, 0)
    if raw_name is None or size is None or timeout is None or ackmode is None:
        return emu.cme(50)
    name = normalize_file_name(raw_name)
    if name is None:
        return emu.cme(ERR_BAD_NAME)
    if name in ufs.files:
        return emu.cme(ERR_EXISTS)
    if ufs.allocated(size) > ufs.free():
        return emu.cme(ERR_DRIVE_FULL)
    emu.input.drop_leading_lf()
    emu.write_now(CONNECT)
    idle = emu.scaled(timeout)
    data = bytearray()
    timed_out = False
    while len(data) < size:
        want = size - len(data)
        if ackmode:
            want = min(want, _ACK_BLOCK - len(data) % _ACK_BLOCK)
        chunk = await emu.input.read_exact(want, idle)
        data += chunk
        if len(chunk) < want:
            timed_out = True
            break
        if ackmode and len(data) % _ACK_BLOCK == 0 and len(data) < size:
            emu.write_now(b"A")
    if data or not timed_out:
        ufs.files[name] = bytes(data)
    line = info([f"+QFUPL: {len(data)},{checksum_xor16(bytes(data)):x}"])
    if timed_out:
        # Observed on a sibling module: numeric 421 even in text CMEE mode.
        return line + (ERROR if emu.cmee == 0 else f"\r\n+CME ERROR: {ERR_TIMEOUT}\r\n".encode("ascii"))
    return line + OK


@register("+QFDWL")
async def qfdwl(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QFDWL: download a file (CONNECT, raw bytes, +QFDWL: size,checksum)."""
    if cmd.kind is CommandKind.TEST:
        return OK
    raw_name = _name_param(cmd)
    if cmd.kind is not CommandKind.WRITE or len(cmd.params) != 1 or raw_name is None:
        return emu.cme(50)
    name = normalize_file_name(raw_name)
    if name is None or name not in emu.ufs.files:
        return emu.cme(ERR_NOT_FOUND)
    data = emu.ufs.files[name]
    return CONNECT + data + info([f"+QFDWL: {len(data)},{checksum_xor16(data):x}"]) + OK


@register("+QFLST")
async def qflst(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QFLST: list files, optionally matching a pattern (``*`` wildcards)."""
    if cmd.kind is CommandKind.TEST:
        return OK
    pattern = "*"
    if cmd.kind is CommandKind.WRITE:
        raw = _name_param(cmd)
        if raw is None or len(cmd.params) != 1:
            return emu.cme(50)
        pattern = raw[4:] if raw[:4].upper() == "UFS:" else raw
    elif cmd.kind is not CommandKind.EXECUTE:
        return ERROR
    names = sorted(n for n in emu.ufs.files if fnmatch.fnmatchcase(n, pattern))
    if not names:
        return OK
    return info_ok([f'+QFLST: "UFS:{n}",{len(emu.ufs.files[n])}' for n in names])


@register("+QFDEL")
async def qfdel(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QFDEL: delete one file or ``"*"`` (all)."""
    if cmd.kind is CommandKind.TEST:
        return OK
    raw = _name_param(cmd)
    if cmd.kind is not CommandKind.WRITE or len(cmd.params) != 1 or raw is None:
        return emu.cme(50)
    if raw in ("*", "UFS:*"):
        emu.ufs.files.clear()
        return OK
    name = normalize_file_name(raw)
    if name is None or name not in emu.ufs.files:
        return emu.cme(ERR_NOT_FOUND)
    del emu.ufs.files[name]
    return OK


@register("+QFLDS")
async def qflds(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """AT+QFLDS: free/total space of UFS, or size/count of the files."""
    ufs = emu.ufs
    if cmd.kind is CommandKind.TEST:
        return OK
    if cmd.kind is CommandKind.EXECUTE:
        total = sum(len(d) for d in ufs.files.values())
        return info_ok([f"+QFLDS: {total},{len(ufs.files)}"])
    raw = _name_param(cmd)
    if cmd.kind is not CommandKind.WRITE or raw is None or raw.upper() != "UFS":
        return emu.cme(50)
    return info_ok([f"+QFLDS: {ufs.free()},{ufs.capacity}"])
