"""A ``RDY`` that ends a transparent session may have come from the peer.

Transparent mode has no framing: a peer that sends ``\\r\\nRDY\\r\\n`` makes
the host handle a module restart it cannot tell from a real one (README,
Limitations). Its sockets break; but the module still holds every
connection, and the host must not hand their client IDs out again nor leave
them open on the module.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from quectel_aio import Modem, SocketBroken, SSLConfig
from quectel_aio.testing import ModemEmulator, TlsTestServer

from ..conftest import ECHO_HOST
from ..helpers import FAST_MARGIN, eventually
from .conftest import HOST_GUARD


@pytest.fixture
async def modem(device: str) -> AsyncIterator[Modem]:
    # Short waits for the AT probes the module, still transparent, leaves unanswered.
    async with Modem.open(device, margin=FAST_MARGIN, escape_guard_time=HOST_GUARD) as opened:
        await opened.activate_pdp(1, apn="internet")
        yield opened


async def test_a_restart_a_transparent_peer_forged_leaves_no_connection_behind(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    buffered_reader, buffered_writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config
    )
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    assert (buffered_writer.get_extra_info("client_id"), writer.get_extra_info("client_id")) == (0, 1)
    writer.write(b"\r\nRDY\r\n")  # the echo server sends it back: the module never restarted
    async with asyncio.timeout(30):
        for each in (reader, buffered_reader):
            with pytest.raises(SocketBroken, match="restarted"):
                await each.read(100)  # the host cannot tell the peer's RDY from the module's
        # The host probes, takes the port back with +++, and then closes what
        # the module still holds instead of forgetting it.
        await eventually(lambda: not emulator.sockets, timeout=10, what="the module's connections closed")
        await eventually(lambda: not modem._ids.reserved, what="their client IDs free")
        assert emulator.restarts == 0
        again_reader, again_writer = await modem.open_connection(
            ECHO_HOST, echo_server.port, ssl=ssl_config, client_id=0
        )
        again_writer.write(b"ping")
        assert await again_reader.readexactly(4) == b"ping"
        again_writer.close()
        await again_writer.wait_closed()
    writer.close()
    buffered_writer.close()
    assert await modem.ssl_state() == []
