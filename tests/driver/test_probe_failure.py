"""A module that never answers ``AT`` at start: the error says what came back."""

from __future__ import annotations

import asyncio

import pytest

from quectel_aio import Modem, ModemUnavailable
from quectel_aio._memory_ports import memory_port_pair

#: What "AT\r" sent at 115200 Bd looks like to a UART set to another rate.
WRONG_RATE_NOISE = b"\x00\xf8\x80\xfe\x1c\xe0"


async def _open_against(answer: bytes) -> str:
    host_port, module_port = memory_port_pair()

    async def module() -> None:
        while await module_port.read():
            if answer:
                module_port.write(answer)

    task = asyncio.create_task(module())
    try:
        with pytest.raises(ModemUnavailable) as info:
            async with Modem.open(host_port, probe_attempts=1, escape_guard_time=0.05, margin=0.1):
                pass
    finally:
        await module_port.aclose()
        await task
    return str(info.value)


async def test_garbage_at_every_probe_points_at_the_baud_rate() -> None:
    message = await _open_against(WRONG_RATE_NOISE)
    assert "no answer to AT" in message
    assert "baud rate" in message


async def test_silence_at_every_probe_points_at_the_device() -> None:
    message = await _open_against(b"")
    assert "nothing came back" in message
    assert "baud rate" not in message
