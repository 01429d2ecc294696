"""Allocating a client ID while all twelve are taken: waiting ends when no ID is being freed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from quectel_aio import LocalProtocolError, Modem, QuectelError, SSLConfig
from quectel_aio._grammar import ParsedCommand
from quectel_aio.testing import ModemEmulator, TlsTestServer
from quectel_aio.testing._registry import HANDLERS

from .conftest import ECHO_HOST
from .helpers import eventually


async def test_an_allocation_waiting_for_a_closing_id_fails_once_that_id_is_quarantined(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every ID is taken and one socket is closing, so a new open waits. The
    # module then refuses to close that socket and still lists it: the ID
    # stays reserved, nothing is being freed any more, and the wait must end.
    original = HANDLERS["+QSSLCLOSE"]
    gate = asyncio.Event()

    async def handler(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        if command.params and command.params[0] == 0:
            await gate.wait()
            emu.last_error = 568  # operation busy
            return b"\r\nERROR\r\n"
        return await original(emu, command)

    monkeypatch.setitem(HANDLERS, "+QSSLCLOSE", handler)
    writers = []
    for client_id in range(1, 12):
        _, writer = await modem.open_connection(
            ECHO_HOST, echo_server.port, ssl=ssl_config, client_id=client_id
        )
        writers.append(writer)
    _, doomed = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert doomed.get_extra_info("client_id") == 0
    doomed.transport.abort()
    waiting = asyncio.create_task(modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config))
    released = modem._ids._released
    await eventually(lambda: bool(getattr(released, "_waiters", None)), what="the open waiting for an ID")
    gate.set()
    try:
        with pytest.raises(LocalProtocolError, match="all 12 client IDs are in use"):
            async with asyncio.timeout(5):
                await waiting
        assert 0 in modem._quarantined
    finally:
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError, QuectelError):
            await waiting
        for writer in writers:
            writer.close()
            await writer.wait_closed()


async def test_a_socket_whose_close_the_module_refused_is_closed_again_when_ids_run_out(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The module refuses to close a socket twice (busy), so its ID stays
    # reserved; no late +QSSLOPEN will ever come for a socket that had opened.
    # When the other eleven are taken, the host asks the module again.
    original = HANDLERS["+QSSLCLOSE"]
    refusals = [2]

    async def handler(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        if command.params and command.params[0] == 0 and refusals[0]:
            refusals[0] -= 1
            emu.last_error = 568  # operation busy
            return b"\r\nERROR\r\n"
        return await original(emu, command)

    monkeypatch.setitem(HANDLERS, "+QSSLCLOSE", handler)
    _, doomed = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert doomed.get_extra_info("client_id") == 0
    doomed.transport.abort()
    await eventually(lambda: 0 in modem._quarantined, what="the ID kept after two refused closes")
    writers = []
    try:
        for client_id in range(1, 12):
            _, writer = await modem.open_connection(
                ECHO_HOST, echo_server.port, ssl=ssl_config, client_id=client_id
            )
            writers.append(writer)
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        writers.append(writer)
        assert writer.get_extra_info("client_id") == 0
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
    finally:
        for writer in writers:
            writer.close()
            await writer.wait_closed()
    assert await modem.ssl_state() == []
