"""A switch in progress when its socket closes or breaks ends with SocketBroken, never a hang or a stray cancel."""

from __future__ import annotations

import asyncio

import pytest

from quectel_aio import Modem, ModemSocketTransport, SocketBroken, SSLConfig
from quectel_aio._grammar import ParsedCommand
from quectel_aio.testing import ModemEmulator, TlsTestServer
from quectel_aio.testing._registry import HANDLERS

from ..conftest import ECHO_HOST


def _slow_handler(monkeypatch: pytest.MonkeyPatch, name: str, started: asyncio.Event | None = None) -> None:
    original = HANDLERS[name]

    async def slow(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        if started is not None:
            started.set()
        await asyncio.sleep(0.3)
        return await original(emu, command)

    monkeypatch.setitem(HANDLERS, name, slow)


async def test_a_restart_while_a_switch_waits_for_the_receive_pump(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    transport = writer.transport
    assert isinstance(transport, ModemSocketTransport)
    reading = asyncio.Event()
    _slow_handler(monkeypatch, "+QSSLRECV", reading)
    transport._doorbell.set()  # the pump is busy in AT+QSSLRECV ...
    async with asyncio.timeout(2):
        await reading.wait()
    switch = asyncio.create_task(transport.switch_mode("push"))  # ... so the switch waits for it
    for _ in range(5):
        await asyncio.sleep(0)
    assert transport._pending_switch is not None
    emulator.restart()  # RDY breaks the socket and stops its pump
    async with asyncio.timeout(3):
        with pytest.raises(SocketBroken, match="restarted"):
            await switch
    assert not transport._mode_lock.locked()
    assert not [task for task in asyncio.all_tasks() if "switch" in task.get_name()]


async def test_closing_during_a_switch_is_not_a_cancellation_of_its_caller(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    transport = writer.transport
    assert isinstance(transport, ModemSocketTransport)
    _slow_handler(monkeypatch, "+QISWTMD")
    asyncio.get_running_loop().call_later(0.1, writer.close)
    with pytest.raises(SocketBroken, match="closed"):
        await transport.switch_mode("push")
    current = asyncio.current_task()
    assert current is not None
    assert current.cancelling() == 0
    await writer.wait_closed()
