"""Shared helpers for the driver fault tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from quectel_aio.testing import ModemEmulator

#: A margin small enough that timeouts and abandoned commands resolve fast.
FAST_MARGIN = 0.2


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds (for emulator state that has no event to await)."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 (emulator state has no event to await)
            await asyncio.sleep(0.005)
    assert predicate(), what


def count(emulator: ModemEmulator, name: str) -> int:
    """How many commands named ``name`` (e.g. ``"+QSSLCLOSE"``) the emulator received."""
    return sum(1 for entry in emulator.command_log if entry.name == name)


def commands(emulator: ModemEmulator, name: str) -> list[tuple[str | int, ...]]:
    """The parameters of every command named ``name`` the emulator received."""
    return [tuple(entry.params) for entry in emulator.command_log if entry.name == name]


async def pump(writer: asyncio.StreamWriter, data: bytes, chunk: int) -> None:
    """Write ``data`` in ``chunk``-sized pieces, draining after each."""
    for offset in range(0, len(data), chunk):
        writer.write(data[offset : offset + chunk])
        await writer.drain()


__all__ = ["FAST_MARGIN", "commands", "count", "eventually", "pump"]
