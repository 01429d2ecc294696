"""Command deadlines: one watchdog timer serves every exchange, and each exchange keeps its own deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from quectel_aio import CommandTimeout
from quectel_aio import _commands as cmd
from quectel_aio._channel import AtChannel
from quectel_aio._memory_ports import memory_port_pair
from quectel_aio._ports import Port


async def _answer_all_but_csq(port: Port) -> None:
    """The module end: ``OK`` to every command line except ``AT+CSQ``, which gets no answer."""
    pending = b""
    while chunk := await port.read():
        pending += chunk
        while b"\r" in pending:
            line, _, pending = pending.partition(b"\r")
            if line.strip() != b"AT+CSQ":
                port.write(b"\r\nOK\r\n")


@pytest.fixture
async def channel() -> AsyncIterator[AtChannel]:
    host_port, module_port = memory_port_pair()
    failures: list[BaseException] = []
    channel = AtChannel(host_port, lambda event: None, failures.append, margin=0.0)
    channel.start()
    module = asyncio.create_task(_answer_all_but_csq(module_port))
    try:
        yield channel
    finally:
        await channel.aclose()
        module.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await module
        await module_port.aclose()
    assert not failures


async def test_a_short_deadline_after_long_ones_fires_on_time(channel: AtChannel) -> None:
    for _ in range(5):
        assert (await channel.execute(cmd.Raw("AT", 30.0), timeout=30.0)).result == "OK"
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(CommandTimeout):
        await channel.execute(cmd.Raw("AT+CSQ", 0.2), timeout=0.2)
    assert 0.2 <= loop.time() - started < 1.0


async def test_a_long_deadline_after_a_short_one_is_not_cut_short(channel: AtChannel) -> None:
    assert (await channel.execute(cmd.Raw("AT", 0.05), timeout=0.05)).result == "OK"
    loop = asyncio.get_running_loop()
    started = loop.time()
    # The watchdog armed for the first exchange fires during this one and re-arms itself.
    with pytest.raises(CommandTimeout):
        await channel.execute(cmd.Raw("AT+CSQ", 0.4), timeout=0.4)
    assert loop.time() - started >= 0.4


async def test_many_exchanges_arm_one_timer(channel: AtChannel, monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    armed: list[float] = []
    call_at = loop.call_at

    def counting_call_at(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        armed.append(when)
        return call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting_call_at)
    for _ in range(200):
        await channel.execute(cmd.Attention())
    assert len(armed) <= 1
