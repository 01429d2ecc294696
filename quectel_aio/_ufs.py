"""Files on the module's UFS: upload (QFUPL, checksum verified), list, delete, free space.

Theory of operation
-------------------
``AT+QFUPL="<name>",<size>,<timeout>`` answers ``CONNECT``; the channel then
writes exactly ``size`` bytes and the module prints
``+QFUPL: <size>,<checksum>`` and ``OK``. The checksum is the FILE note's
16-bit XOR of big-endian words, printed in hex. Both values are compared with
what was sent; on any mismatch the file is deleted and
:class:`~quectel_aio.CommandError` is raised, so a corrupted certificate or key
never stays on the module.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from . import _commands as cmd
from ._channel import AtChannel
from ._errors import CommandError, QuectelError, RemoteProtocolError
from ._grammar import checksum_xor16, validate_filename

__all__ = ["FileSpace", "ModuleFile", "delete_file", "file_space", "list_files", "upload_file"]

#: Seconds the module waits for upload bytes before giving up (FILE note default 5).
UPLOAD_INPUT_TIMEOUT = 10


@dataclass(frozen=True, slots=True)
class ModuleFile:
    """One file on the module's file system."""

    #: The name as listed by the module, e.g. ``"UFS:ca.pem"``.
    name: str
    #: Size in bytes.
    size: int


@dataclass(frozen=True, slots=True)
class FileSpace:
    """Space on the module's UFS (``AT+QFLDS="UFS"``)."""

    #: Free bytes.
    free: int
    #: Total bytes.
    total: int


async def file_space(channel: AtChannel) -> FileSpace:
    """Query free and total UFS space.

    Raises:
        RemoteProtocolError: the module answered without a ``+QFLDS`` line.
    """
    result = await channel.execute(cmd.FileSpace())
    for line in result.lines:
        free, total = cmd.parse_file_space_line(line)
        return FileSpace(free, total)
    raise RemoteProtocolError("AT+QFLDS succeeded without a +QFLDS line")


def _bare(name: str) -> str:
    return name.split(":", 1)[1] if ":" in name else name


async def list_files(channel: AtChannel, pattern: str = "*") -> list[ModuleFile]:
    """List UFS files matching ``pattern`` (``"*"`` for all)."""
    try:
        result = await channel.execute(cmd.FileList(pattern))
    except CommandError as exc:
        if exc.code in (405, None) and pattern != "*":
            return []  # "file not found" for a pattern that matches nothing
        raise
    files = []
    for line in result.lines:
        name, size = cmd.parse_file_list_line(line)
        files.append(ModuleFile(name, size))
    return files


async def delete_file(channel: AtChannel, name: str) -> None:
    """Delete one file (a validated name, or ``"*"`` for every file)."""
    await channel.execute(cmd.FileDelete(name))


async def upload_file(channel: AtChannel, name: str, data: bytes, *, overwrite: bool = False) -> ModuleFile:
    """Upload ``data`` as ``name`` and verify the module's size and checksum.

    Args:
        channel: the AT channel.
        name: module file name (``UFS:`` prefix optional).
        data: the file content.
        overwrite: delete an existing file of that name first.

    Raises:
        CommandError: the module refused the upload, or its size/checksum did
            not match (the partial file is deleted).
        LocalProtocolError: invalid name or empty data.
    """
    validate_filename(name)
    command = cmd.FileUpload(name, len(data), UPLOAD_INPUT_TIMEOUT)
    if overwrite:
        existing = await list_files(channel, name)
        if any(_bare(f.name) == _bare(name) for f in existing):
            await delete_file(channel, name)
    result = await channel.execute(command, data)
    size = checksum = None
    for line in result.lines:
        if line.startswith("+QFUPL"):
            size, checksum = cmd.parse_qfupl_line(line)
    expected = checksum_xor16(data)
    if size != len(data) or checksum != expected:
        with contextlib.suppress(QuectelError):
            await delete_file(channel, name)
        if size is None:
            raise RemoteProtocolError("AT+QFUPL succeeded without a +QFUPL line")
        raise CommandError(
            "AT+QFUPL",
            "+QFUPL",
            None,
            f"upload of {name} corrupted: module has {size} bytes / checksum {checksum:04x}, "
            f"sent {len(data)} bytes / checksum {expected:04x}; the file was deleted",
        )
    return ModuleFile(name, size)
