"""Flow control on a UART: ``AT+IFC=2,2`` with RTS/CTS, no push or transparent mode without it.

Transparent mode has no framing at all, and a direct push no trailer: on a
UART without RTS/CTS, a byte the host misses is gone and the stream shifts
with nothing to tell. Both are refused there unless the caller opts in. The emulator's pty stands in for the UART:
the test marks the port as what the port layer would find on real hardware.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import AsyncIterator
from typing import Literal

import pytest

from quectel_aio import LocalProtocolError, Modem, SecurityWarning, SSLConfig
from quectel_aio._ports import Port, open_port
from quectel_aio.testing import ModemEmulator, TlsTestServer

from .conftest import ECHO_HOST
from .helpers import commands, eventually

Mode = Literal["push", "transparent"]


@pytest.fixture
async def uart(device: str) -> AsyncIterator[Port]:
    """The emulator's pty, flagged as a UART opened without RTS/CTS."""
    port = await open_port(device)
    port.unprotected_uart = True
    try:
        yield port
    finally:
        await port.aclose()


@pytest.mark.parametrize("mode", ["push", "transparent"])
async def test_unframed_modes_are_refused_on_a_uart_without_flow_control(
    uart: Port, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig, mode: Mode
) -> None:
    async with Modem.open(uart, margin=3.0) as modem:
        await modem.activate_pdp(1, apn="internet")
        before = len(emulator.command_log)
        with pytest.raises(LocalProtocolError, match=f"{mode} mode .* needs hardware flow control"):
            await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode=mode)
        assert len(emulator.command_log) == before  # refused before any byte went out

        # Buffer mode works, and switching it is refused the same way.
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        with pytest.raises(LocalProtocolError, match="rtscts=True"):
            await writer.transport.switch_mode(mode)  # type: ignore[attr-defined]
        assert commands(emulator, "+QISWTMD") == []
        writer.write(b"still here")
        async with asyncio.timeout(5):
            assert await reader.readexactly(10) == b"still here"
        writer.close()
        await writer.wait_closed()


@pytest.mark.parametrize("mode", ["push", "transparent"])
async def test_unframed_modes_without_flow_control_are_a_warned_opt_in(
    uart: Port, echo_server: TlsTestServer, ssl_config: SSLConfig, mode: Mode
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        with pytest.warns(SecurityWarning, match="no RTS/CTS"):
            modem = await stack.enter_async_context(Modem.open(uart, margin=3.0, unprotected_uart_ok=True))
        await modem.activate_pdp(1, apn="internet")
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode=mode)
        writer.write(b"raw pipe")
        async with asyncio.timeout(5):
            assert await reader.readexactly(8) == b"raw pipe"
        writer.close()
        await writer.wait_closed()


async def test_the_opt_in_is_silent_where_the_link_loses_nothing(device: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async with Modem.open(device, unprotected_uart_ok=True):
            pass


async def test_rts_cts_is_switched_on_in_the_module_at_start_and_after_a_restart(
    device: str, emulator: ModemEmulator
) -> None:
    port = await open_port(device)
    port.hardware_flow_control = True
    async with Modem.open(port, margin=3.0) as modem:
        assert emulator.ifc == (2, 2)
        emulator.restart()
        await eventually(lambda: modem.boot_epoch == 1 and len(commands(emulator, "+IFC")) == 2)
        await modem.command("AT")
        assert emulator.ifc == (2, 2)


async def test_no_flow_control_setting_is_sent_without_rts_cts(modem: Modem, emulator: ModemEmulator) -> None:
    assert commands(emulator, "+IFC") == []
    assert emulator.ifc == (0, 0)


async def test_a_raw_line_cannot_turn_the_modules_flow_control_off(
    device: str, emulator: ModemEmulator
) -> None:
    port = await open_port(device)
    port.hardware_flow_control = True
    async with Modem.open(port, margin=3.0) as modem:
        # AT&F and ATZ set the flow control too (factory: none), in any spelling.
        for line in (
            "AT+IFC=0,0",
            "AT+CSQ;+IFC=2,0",
            "AT+IFC=0",
            "AT&F",
            "AT&F0",
            "ATZ",
            "ate1 &f",
            "AT+CSQ;Z",
        ):
            with pytest.raises(LocalProtocolError, match="RTS/CTS"):
                await modem.command(line)
        assert commands(emulator, "+IFC") == [(2, 2)]  # only the modem's own, nothing else went out
        assert await modem.command("AT+IFC?") == ["+IFC: 2,2"]
        await modem.command("AT+IFC=2,2")
        assert emulator.ifc == (2, 2)


@pytest.mark.parametrize("uart", [True, False], ids=["uart", "usb"])
async def test_a_uart_whose_module_refuses_flow_control_counts_as_unprotected(
    device: str, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig, uart: bool
) -> None:
    # The host's RTS does nothing while the module ignores it: on a UART the
    # module's bytes can overrun the host as if RTS/CTS were not wired.
    port = await open_port(device)
    port.hardware_flow_control = True
    port.uart = uart
    emulator.fail_next_command("AT+IFC")
    async with Modem.open(port, margin=3.0) as modem:
        assert port.unprotected_uart is uart
        await modem.activate_pdp(1, apn="internet")
        if uart:
            with pytest.raises(LocalProtocolError, match="needs hardware flow control"):
                await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push")
        else:
            _, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push")
            writer.close()
            await writer.wait_closed()
