"""A module restart the host learns of only from an SSL context that lost its settings.

``RDY`` went to another port (``urcport``) and an ``AT&W`` profile keeps the
echo off, so nothing but the read-back of a reused context shows that the
module restarted. The module then holds none of the host's connections: a
socket the host still thinks open must fail at once (a push-mode reader would
otherwise wait for data that never comes), and IDs the host remembered as
held by others or by an abandoned open are free again.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from quectel_aio import Modem, SocketBroken, SSLConfig
from quectel_aio.testing import EmulatorConfig, ModemEmulator, TlsTestServer

from .conftest import ECHO_HOST
from .helpers import count


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # The PDP context survives the restart, so the next open really reaches the server.
    return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, active_pdp_contexts=(1,))


@pytest.fixture
async def modem(device: str) -> AsyncIterator[Modem]:
    async with Modem.open(device, margin=0.5) as opened:
        await opened.command('AT+QURCCFG="urcport","usbat"')  # RDY goes elsewhere
        await opened.command("AT&W")  # the restart keeps the echo off: no returning echo
        yield opened


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"


async def test_a_restart_found_by_a_read_back_breaks_the_sockets_it_took(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
) -> None:
    # A push-mode socket sends no command while idle: nothing else would end its wait.
    old_reader, old_writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push"
    )
    await _roundtrip(old_reader, old_writer)
    emulator.restart()
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    await _roundtrip(reader, writer)
    async with asyncio.timeout(5):
        with pytest.raises(SocketBroken, match="restart"):
            await old_reader.read(100)
    assert modem.boot_epoch == 1
    old_writer.close()
    writer.close()
    await writer.wait_closed()
    assert await modem.ssl_state() == []


async def test_a_restart_found_by_a_read_back_frees_remembered_ids(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    await _roundtrip(reader, writer)
    # What the host remembered of the boot before: an ID refused with 563, and
    # one kept for an abandoned open the module would not close.
    modem._ids.foreign.add(5)
    modem._ids.reserved.add(7)
    modem._quarantined.add(7)
    emulator.restart()
    second_reader, second_writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    await _roundtrip(second_reader, second_writer)
    assert modem.boot_epoch == 1
    assert modem._ids.foreign == set()
    assert modem._quarantined == set()
    assert 7 not in modem._ids.reserved
    second_writer.close()
    await second_writer.wait_closed()
    writer.close()


async def test_a_context_another_program_rewrote_breaks_only_the_socket_the_module_lost(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
) -> None:
    # Another program on another port of the module closed client 0 and wrote
    # the context; the module did not restart and still holds client 1.
    lost_reader, lost_writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push"
    )
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push")
    assert (lost_writer.get_extra_info("client_id"), writer.get_extra_info("client_id")) == (0, 1)
    emulator.sockets.pop(0).drop()
    ctx = writer.get_extra_info("quectel_ssl_ctx")
    emulator._ssl_contexts[ctx] = dataclasses.replace(emulator.ssl_contexts[ctx], seclevel=0)
    modem._ids.foreign.add(5)  # refused with 563 earlier; its connection is gone too
    third_reader, third_writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert emulator.ssl_contexts[ctx].seclevel == 1  # written again and read back
    assert modem.boot_epoch == 0
    assert modem._ids.foreign == set()
    async with asyncio.timeout(5):
        with pytest.raises(SocketBroken, match="no longer holds client 0"):
            await lost_reader.read(100)
    await _roundtrip(reader, writer)
    await _roundtrip(third_reader, third_writer)
    lost_writer.close()
    for each in (writer, third_writer):
        each.close()
        await each.wait_closed()
    assert count(emulator, "+QSSLCLOSE") == 2
