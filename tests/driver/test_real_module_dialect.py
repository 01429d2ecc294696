"""Real-module behaviours the emulator does not show by default, met through the driver."""

from __future__ import annotations

from quectel_aio import Modem, SSLConfig
from quectel_aio.testing import ModemEmulator, TlsTestServer

from .conftest import ECHO_HOST


async def test_plain_vendor_urcs_inside_responses_are_not_taken_as_information(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    # A voice-capable module rings ("RING") and warns about its supply
    # ("UNDER_VOLTAGE WARNING") without a "+" prefix, between any two lines.
    emulator.inject_urc("RING", before_next_response=True)
    assert await modem.ssl_state() == []
    answers = 0

    def before_every_answer() -> None:  # of every command of the open, read-backs included
        nonlocal answers
        answers += 1
        emulator.inject_urc("UNDER_VOLTAGE WARNING", before_next_response=True)
        emulator.after_response(before_every_answer)

    before_every_answer()
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert answers > 20  # the QSSLCFG writes and read-backs among them
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    emulator.inject_urc("RING", before_next_response=True)
    [state] = await modem.ssl_state()
    assert state.client_id == writer.get_extra_info("client_id")
    writer.close()
    await writer.wait_closed()
