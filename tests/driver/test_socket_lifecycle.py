"""Socket lifecycle against URCs that belong to an earlier use of the same client ID."""

from __future__ import annotations

import os

import pytest

from quectel_aio import Modem, SSLConfig
from quectel_aio._grammar import ParsedCommand
from quectel_aio.testing import ModemEmulator, TlsTestServer
from quectel_aio.testing._registry import HANDLERS

from .conftest import ECHO_HOST
from .helpers import count

STALE_URCS = {
    "closed": b'\r\n+QSSLURC: "closed",0\r\n',
    "pushed data": b'\r\n+QSSLURC: "recv",0,5\r\nstale\r\n',
}


@pytest.mark.parametrize("urc", list(STALE_URCS))
async def test_a_urc_before_the_open_result_belongs_to_the_previous_user_of_the_id(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
    urc: str,
) -> None:
    # Between the OK to AT+QSSLOPEN and +QSSLOPEN: 0,0 the new socket cannot
    # have closed or received anything: such a URC is left over from before.
    original = HANDLERS["+QSSLOPEN"]

    async def handler(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        response = await original(emu, command)
        emu.after_response(lambda: emu.emit_urc(STALE_URCS[urc]))
        return response

    monkeypatch.setitem(HANDLERS, "+QSSLOPEN", handler)
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert writer.get_extra_info("client_id") == 0
    data = os.urandom(2000)
    writer.write(data)
    await writer.drain()
    assert await reader.readexactly(len(data)) == data
    writer.close()
    await writer.wait_closed()
    assert count(emulator, "+QSSLCLOSE") == 1
