"""A SEND FAIL streak ends when bytes go through in any mode."""

from __future__ import annotations

import asyncio

from quectel_aio import Modem, ModemSocketTransport, SSLConfig
from quectel_aio.testing import ModemEmulator, TlsTestServer

from ..conftest import ECHO_HOST
from ..helpers import commands, eventually


async def test_a_send_fail_after_a_long_transparent_session_starts_a_new_back_off(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push")
    transport = writer.transport
    assert isinstance(transport, ModemSocketTransport)
    transport._send_fail_timeout = 1.0  # instead of 30 s
    emulator.fail_next_sends(1)
    writer.write(b"one")
    await eventually(lambda: len(commands(emulator, "+QSSLSEND")) == 1)
    await transport.switch_mode("transparent")  # during the back-off
    async with asyncio.timeout(5):
        assert await reader.readexactly(3) == b"one"  # sent in transparent mode
    await asyncio.sleep(1.5)  # longer than send_fail_timeout
    await transport.switch_mode("buffer")
    emulator.fail_next_sends(1)  # one passing SEND FAIL, much later
    writer.write(b"two")
    async with asyncio.timeout(5):
        assert await reader.readexactly(3) == b"two"
    writer.close()
    await writer.wait_closed()
