"""General commands, byte framing and echo, driven with raw bytes."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from quectel_aio.testing import EmulatorConfig, ModemEmulator

from .helpers import echo_off, memory_host, pty_host

QUIET = EmulatorConfig(emit_rdy_on_start=False)


async def test_rdy_then_echo_over_pty() -> None:
    async with pty_host(EmulatorConfig()) as (host, _emu):
        await host.expect(b"\r\nRDY\r\n")
        host.send(b"AT\r")
        await host.expect(b"AT\r\r\nOK\r\n")


async def test_echo_on_and_off_exact_bytes() -> None:
    async with memory_host() as host:
        host.send(b"AT\r")
        await host.expect(b"AT\r\r\nOK\r\n")
        host.send(b"ATE0\r")
        await host.expect(b"ATE0\r\r\nOK\r\n")
        host.send(b"AT\r")
        await host.expect(b"\r\nOK\r\n")
        host.send(b"ATE1\r")
        await host.expect(b"\r\nOK\r\n")
        host.send(b"AT\r")
        await host.expect(b"AT\r\r\nOK\r\n")


async def test_crlf_terminator_and_lf_only_lines() -> None:
    async with memory_host() as host:
        await echo_off(host)
        host.send(b"AT\r\n")
        await host.expect(b"\r\nOK\r\n")
        host.send(b"AT\n")
        await host.expect_silence()
        host.send(b"at\r")
        await host.expect(b"\r\nOK\r\n")


async def test_byte_by_byte_input() -> None:
    async with memory_host() as host:
        for byte in b"ATI\r":
            host.send(bytes([byte]))
            await asyncio.sleep(0)
        await host.expect(b"ATI\r\r\nQuectel\r\nEC200U\r\nRevision: EC200UEUAAR03A03M08\r\n\r\nOK\r\n")


async def test_unknown_and_garbage_lines() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b"AT+NOSUCH", b"\r\nERROR\r\n")
        await host.command(b'AT+QSSLCFG="sni', b"\r\nERROR\r\n")  # unterminated quote
        host.send(b"HELLO\r")
        await host.expect_silence()
        host.send(b"A" * 5000 + b"\r")
        await host.expect(b"\r\nERROR\r\n")
        await host.command(b"AT", b"\r\nOK\r\n")


@pytest.mark.parametrize(
    ("command", "response"),
    [
        (b"AT+CGMI", b"\r\nQuectel\r\n\r\nOK\r\n"),
        (b"AT+CGMM", b"\r\nEC200U\r\n\r\nOK\r\n"),
        (b"AT+CGMR", b"\r\nEC200UEUAAR03A03M08\r\n\r\nOK\r\n"),
        (b"AT+GSN", b"\r\n864000000000009\r\n\r\nOK\r\n"),
        (b"AT+CMEE?", b"\r\n+CMEE: 1\r\n\r\nOK\r\n"),
        (b"AT+CMEE=3", b"\r\nERROR\r\n"),
        (b"AT+IPR?", b"\r\n+IPR: 115200\r\n\r\nOK\r\n"),
        (b"AT+IPR=921600", b"\r\nOK\r\n"),
        (b"AT+IPR=12345", b"\r\nERROR\r\n"),
        (b"AT+IFC=?", b"\r\n+IFC: (0,2),(0,2)\r\n\r\nOK\r\n"),
        (b"AT+IFC?", b"\r\n+IFC: 0,0\r\n\r\nOK\r\n"),
        (b"AT+IFC=2,2", b"\r\nOK\r\n"),
        (b"AT+IFC=1,1", b"\r\nERROR\r\n"),
        (b"AT&D1", b"\r\nOK\r\n"),
        (b"AT&D3", b"\r\nERROR\r\n"),
        (b"ATV1", b"\r\nOK\r\n"),
        (b"ATV0", b"\r\nERROR\r\n"),
        (b"ATO", b"\r\nNO CARRIER\r\n"),
        (b'AT+QURCCFG="urcport"', b'\r\n+QURCCFG: "urcport","uart1"\r\n\r\nOK\r\n'),
        (b'AT+QURCCFG="urcport","usbmodem"', b"\r\nOK\r\n"),
        (b'AT+QURCCFG="urcport","com9"', b"\r\nERROR\r\n"),
        (b"AT+CPIN?", b"\r\n+CPIN: READY\r\n\r\nOK\r\n"),
        (b"AT+CEREG?", b"\r\n+CEREG: 0,1\r\n\r\nOK\r\n"),
        (b"AT+QIACT?", b"\r\nOK\r\n"),
        (b"AT+QICSGP=1", b'\r\n+QICSGP: 1,"","","",0\r\n\r\nOK\r\n'),
        (b"AT+QICSGP=8", b"\r\nERROR\r\n"),
        (b"AT+QIGETERROR", b"\r\n+QIGETERROR: 0,Operation successful\r\n\r\nOK\r\n"),
        (b"AT+QSSLSTATE=?", b"\r\nOK\r\n"),
        (b"AT+QSSLSTATE=1,0", b"\r\nERROR\r\n"),
    ],
)
async def test_simple_commands(command: bytes, response: bytes) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(command, response)


async def test_pdp_context_commands() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b'AT+QICSGP=1,1,"UNINET","","",1', b"\r\nOK\r\n")
        await host.command(b"AT+QICSGP=1", b'\r\n+QICSGP: 1,"UNINET","","",1\r\n\r\nOK\r\n')
        await host.command(b"AT+QICSGP=1,1,UNINET", b"\r\nERROR\r\n")
        await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")
        await host.command(b"AT+QIACT=3", b"\r\nOK\r\n")
        await host.command(
            b"AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n+QIACT: 3,1,1,"10.7.157.3"\r\n\r\nOK\r\n'
        )
        await host.command(b"AT+QIDEACT=3", b"\r\nOK\r\n")
        await host.command(b"AT+QIACT?", b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n')
        await host.command(b"AT+QIACT=0", b"\r\nERROR\r\n")
        await host.command(b"AT+QIGETERROR", b"\r\n+QIGETERROR: 552,Invalid parameter\r\n\r\nOK\r\n")


async def test_factory_clock_and_cclk() -> None:
    async with memory_host() as host:
        await echo_off(host)
        host.send(b"AT+CCLK?\r")
        assert (await host.read_until(b"OK\r\n")).startswith(b'\r\n+CCLK: "00/01/01,00:00:0')
        await host.command(b'AT+CCLK="24/02/29,23:59:30+08"', b"\r\nOK\r\n")
        host.send(b"AT+CCLK?\r")
        line = await host.read_until(b"OK\r\n")
        assert line.startswith(b'\r\n+CCLK: "24/02/29,23:59:3')
        assert line.endswith(b'+08"\r\n\r\nOK\r\n')
        # +08 quarters = UTC+2
        assert host.emu.now().replace(microsecond=0) >= dt.datetime(2024, 2, 29, 21, 59, 30, tzinfo=dt.UTC)
        await host.command(b'AT+CCLK="24/13/01,00:00:00+00"', b"\r\nERROR\r\n")
        await host.command(b"AT+CCLK=24", b"\r\nERROR\r\n")


async def test_host_clock_when_initial_clock_is_none() -> None:
    async with memory_host(EmulatorConfig(emit_rdy_on_start=False, initial_clock=None)) as host:
        assert abs((host.emu.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 5


async def test_cmee_forms_for_file_errors() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b'AT+QFDEL="missing.pem"', b"\r\n+CME ERROR: 405\r\n")
        await host.command(b"AT+CMEE=2", b"\r\nOK\r\n")
        await host.command(b'AT+QFDEL="missing.pem"', b"\r\n+CME ERROR: file not found\r\n")
        await host.command(b"AT+CMEE=0", b"\r\nOK\r\n")
        await host.command(b'AT+QFDEL="missing.pem"', b"\r\nERROR\r\n")


async def test_at_and_f_turns_echo_on_and_and_w_survives_restart() -> None:
    async with memory_host() as host:
        await echo_off(host)
        host.send(b"AT&F\r")
        await host.expect(b"\r\nOK\r\n")
        host.send(b"AT\r")
        await host.expect(b"AT\r\r\nOK\r\n")
        await echo_off(host)
        await host.command(b"AT&W", b"\r\nOK\r\n")
        host.emu.restart()
        await host.expect(b"\r\nRDY\r\n")
        await host.command(b"AT", b"\r\nOK\r\n")


async def test_urcport_elsewhere_hides_general_urcs() -> None:
    async with memory_host(EmulatorConfig(emit_rdy_on_start=True, urcport="usbat")) as host:
        await host.expect_silence(0.05)
        host.emu.inject_urc("+QIND: SMS DONE")  # injected URCs are always written
        await host.expect(b"\r\n+QIND: SMS DONE\r\n")


async def test_write_chunking_splits_every_write() -> None:
    pieces: list[bytes] = []

    def one_byte(data: bytes) -> list[bytes]:
        return [data[i : i + 1] for i in range(len(data))]

    emu = ModemEmulator(EmulatorConfig(emit_rdy_on_start=False, write_chunking=one_byte))
    emu.attach(pieces.append)
    try:
        emu.feed(b"AT\r")
        for _ in range(100):
            if b"".join(pieces) == b"AT\r\r\nOK\r\n":
                break
            await asyncio.sleep(0.01)
        assert b"".join(pieces) == b"AT\r\r\nOK\r\n"
        assert all(len(p) == 1 for p in pieces)
    finally:
        await emu.aclose()


async def test_command_latency_delays_the_final_response() -> None:
    async with memory_host(EmulatorConfig(emit_rdy_on_start=False, command_latency=0.2)) as host:
        loop = asyncio.get_running_loop()
        start = loop.time()
        host.send(b"AT\r")
        await host.expect(b"AT\r")
        await host.expect(b"\r\nOK\r\n")
        assert loop.time() - start >= 0.19


async def test_serve_socket() -> None:
    emu = ModemEmulator(EmulatorConfig())
    async with emu.serve_socket() as (address, port):
        reader, writer = await asyncio.open_connection(address, port)
        try:
            writer.write(b"AT\r")
            assert await asyncio.wait_for(reader.readexactly(9), 5) == b"AT\r\r\nOK\r\n"
        finally:
            writer.close()
            await writer.wait_closed()


async def test_cfun_reset_restarts_after_ok() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b'AT+QSSLCFG="seclevel",0,1', b"\r\nOK\r\n")
        await host.command(b"AT+CFUN=1,1", b"\r\nOK\r\n\r\nRDY\r\n")
        assert host.emu.restarts == 1
        host.send(b'AT+QSSLCFG="seclevel",0\r')
        await host.expect(b'AT+QSSLCFG="seclevel",0\r\r\n+QSSLCFG: "seclevel",0,0\r\n\r\nOK\r\n')


async def test_urcport_survives_restart() -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b'AT+QURCCFG="urcport","usbat"', b"\r\nOK\r\n")
        host.emu.restart()
        await host.expect_silence(0.05)  # RDY goes to the USB AT port
        host.send(b'AT+QURCCFG="urcport"\r')
        await host.expect(b'AT+QURCCFG="urcport"\r\r\n+QURCCFG: "urcport","usbat"\r\n\r\nOK\r\n')


async def test_output_tap_sees_exactly_what_the_host_receives() -> None:
    tapped = bytearray()
    ati = b"ATI\r\r\nQuectel\r\nEC200U\r\nRevision: EC200UEUAAR03A03M08\r\n\r\nOK\r\n"
    async with pty_host(EmulatorConfig(emit_rdy_on_start=False, link_baudrate=1_000_000)) as (host, emu):
        emu.output_tap = tapped.extend
        host.send(b"ATI\r")
        await host.expect(ati)
        emu.output_tap = None
        host.send(b"AT\r")
        await host.expect(b"AT\r\r\nOK\r\n")
    assert bytes(tapped) == ati
