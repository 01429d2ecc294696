"""A switch out of transparent mode whose caller is cancelled still owns the socket until it ends (decision 83)."""

from __future__ import annotations

import asyncio

import pytest

from quectel_aio import Modem, ModemSocketTransport, SSLConfig
from quectel_aio.testing import EmulatorConfig, TlsTestServer

from ..conftest import ECHO_HOST
from ..helpers import eventually


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    # The module's guard equals the host's: a byte written in the host's
    # silence before "+++" would make the module take "+++" as data.
    return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, escape_guard_time=0.1)


@pytest.mark.parametrize("cancel_after", [0.05, 0.1, 0.2])
async def test_a_write_after_a_cancelled_switch_waits_for_the_escape(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig, cancel_after: float
) -> None:
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    transport = writer.transport
    assert isinstance(transport, ModemSocketTransport)
    switch = asyncio.create_task(transport.switch_mode("buffer"))
    await asyncio.sleep(cancel_after)  # 0.05: in the silence before "+++"; 0.2: "+++" is out
    switch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await switch
    writer.write(b"hello")  # the application carries on writing
    await eventually(lambda: modem.transparent_client is None, timeout=8)
    async with asyncio.timeout(5):
        assert await reader.readexactly(5) == b"hello"
    assert transport.access_mode == 0
    assert not transport.is_closing()
    writer.close()
    await writer.wait_closed()
