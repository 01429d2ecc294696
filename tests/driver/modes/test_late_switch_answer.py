"""A switch answered after its deadline: the socket asks the module before it reads again (decision 83)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from quectel_aio import CommandTimeout, Modem, ModemSocketTransport, SSLConfig
from quectel_aio._grammar import ParsedCommand
from quectel_aio.testing import ModemEmulator, TlsTestServer
from quectel_aio.testing._registry import HANDLERS

from ..conftest import ECHO_HOST
from ..helpers import commands
from .conftest import HOST_GUARD


@pytest.fixture
async def modem(device: str) -> AsyncIterator[Modem]:
    async with Modem.open(device, margin=0.2, escape_guard_time=HOST_GUARD) as opened:
        await opened.activate_pdp(1, apn="internet")
        yield opened


async def test_a_late_ok_of_a_switch_to_push_mode(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="buffer")
    transport = writer.transport
    assert isinstance(transport, ModemSocketTransport)
    client_id = transport.get_extra_info("client_id")
    original = HANDLERS["+QISWTMD"]

    async def late(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        response = await original(emu, command)  # the module switches at once ...
        await asyncio.sleep(1.4)  # ... and answers after the host's deadline
        return response

    monkeypatch.setitem(HANDLERS, "+QISWTMD", late)
    with pytest.raises(CommandTimeout):
        await transport.switch_mode("push")
    assert commands(emulator, "+QSSLSTATE")[-1] == (client_id,)
    assert transport.access_mode == 1
    assert not transport.is_closing()
    writer.write(b"ping")
    async with asyncio.timeout(5):
        assert await reader.readexactly(4) == b"ping"
    writer.close()
    await writer.wait_closed()
