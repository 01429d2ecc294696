"""Several commands on one line (V.250): run in order, one final result, quotes honoured."""

from __future__ import annotations

import asyncio

import pytest

from quectel_aio import CommandError, Modem
from quectel_aio.testing import EmulatorConfig, ModemEmulator
from quectel_aio.testing._command_line import split_command_line

from .helpers import echo_off, memory_host, xor16


@pytest.mark.parametrize(
    ("body", "commands"),
    [
        ("", [""]),
        (";", [""]),
        ("+CSQ", ["+CSQ"]),
        ("+IPR=921600;&W", ["+IPR=921600", "&W"]),
        ("+CSQ;+CREG?", ["+CSQ", "+CREG?"]),
        ("+CSQ;+CREG?;", ["+CSQ", "+CREG?"]),
        ("E0V1", ["E0", "V1"]),
        ("E0&W", ["E0", "&W"]),
        ("&FE0+CMEE=2", ["&F", "E0", "+CMEE=2"]),
        ("e0v1", ["e0", "v1"]),
        ("I;+CSQ", ["I", "+CSQ"]),
        ('+QICSGP=1,1,"a;b","",""', ['+QICSGP=1,1,"a;b","",""']),
        ('+QICSGP=1,1,"a;b","","";+QICSGP=1', ['+QICSGP=1,1,"a;b","",""', "+QICSGP=1"]),
        ("+CSQE0", ["+CSQE0"]),  # an extended command runs to the next ";"
        ("E=1;+CSQ", ["E=1", "+CSQ"]),  # a malformed basic command is kept whole
        ("I?", ["I?"]),
        ("E0?V1", ["E0?V1"]),
        ("S0=1V1", ["S0=1", "V1"]),
        ("D123;", ["D123"]),
        ("?;+CSQ", ["?", "+CSQ"]),
        # V.250: spaces outside quoted strings are ignored, except inside a number.
        (" ", [""]),
        ("+CSQ ", ["+CSQ"]),
        ("+CSQ; +CREG?", ["+CSQ", "+CREG?"]),
        (" +CMEE = 2 ; +CMEE ?", ["+CMEE=2", "+CMEE?"]),
        ("E0 V1", ["E0", "V1"]),
        ("E 0 &W", ["E0", "&W"]),
        ('+QICSGP=1, 1, "a b; c", "", ""', ['+QICSGP=1,1,"a b; c","",""']),
        ("+QSSLRECV=0, 1500", ["+QSSLRECV=0,1500"]),
        ("+CMEE=1 0", ["+CMEE=1 0"]),
        ("+CMEE=1   0;+CSQ", ["+CMEE=1 0", "+CSQ"]),
    ],
)
def test_split_command_line(body: str, commands: list[str]) -> None:
    assert split_command_line(body) == commands


COMPOUND_SCRIPT = (
    b"ATE0V1\r"
    b"AT+IPR=921600;&W\r"
    b"AT+CSQ;+CREG?\r"
    b'AT+QICSGP=1,1,"a;b","","";+QICSGP=1\r'
    b"AT+CMEE=2;+QSSLSTATE=99;+CSQ\r"
    b"AT+CSQ;+NOSUCH;+CMEE=0\r"
    b"AT+CMEE?\r"
)
COMPOUND_EXPECTED = (
    b"ATE0V1\r\r\nOK\r\n"  # the echo is decided before the line runs
    b"\r\nOK\r\n"
    b"\r\n+CSQ: 24,99\r\n\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    b'\r\n+QICSGP: 1,"a;b","","",0\r\n\r\nOK\r\n'
    b"\r\nERROR\r\n"
    b"\r\n+CSQ: 24,99\r\n\r\nERROR\r\n"  # the first failure ends the line
    b"\r\n+CMEE: 2\r\n\r\nOK\r\n"
)


SPACED_SCRIPT = (
    b"ATE0\r"
    b"AT+CSQ; +CREG?\r"
    b"AT +CMEE = 2 ; +CMEE ?\r"
    b"at+csq \r"
    b"AT \r"
    b'AT+QICSGP=1, 1, "a b; c", "", ""; +QICSGP=1\r'
    b"AT+CMEE=1 0\r"
    b"AT E 1 V1 ; +IPR = 921600 ; &W\r"
)
SPACED_EXPECTED = (
    b"ATE0\r\r\nOK\r\n"
    b"\r\n+CSQ: 24,99\r\n\r\n+CREG: 0,1\r\n\r\nOK\r\n"
    b"\r\n+CMEE: 2\r\n\r\nOK\r\n"
    b"\r\n+CSQ: 24,99\r\n\r\nOK\r\n"
    b"\r\nOK\r\n"
    b'\r\n+QICSGP: 1,"a b; c","","",0\r\n\r\nOK\r\n'  # spaces inside quotes are kept
    b"\r\nERROR\r\n"  # a space inside a number is not ignored
    b"\r\nOK\r\n"
)


async def _run_script(pieces: list[bytes], expected: bytes = COMPOUND_EXPECTED, echo: bool = False) -> bytes:
    out = bytearray()
    complete = asyncio.Event()

    def sink(data: bytes) -> None:
        out.extend(data)
        if len(out) >= len(expected):
            complete.set()

    emu = ModemEmulator(EmulatorConfig(emit_rdy_on_start=False))
    emu.attach(sink)
    try:
        for piece in pieces:
            emu.feed(piece)
            await asyncio.sleep(0)
        async with asyncio.timeout(5):
            await complete.wait()
        assert emu.ipr == 921600
        assert emu._profile.ipr == 921600  # AT&W stored it
        assert emu.echo is echo
        return bytes(out)
    finally:
        await emu.aclose()


@pytest.mark.parametrize(
    ("script", "expected", "echo"),
    [(COMPOUND_SCRIPT, COMPOUND_EXPECTED, False), (SPACED_SCRIPT, SPACED_EXPECTED, True)],
    ids=["compound", "spaced"],
)
async def test_compound_lines_whole_and_byte_by_byte(script: bytes, expected: bytes, echo: bool) -> None:
    assert await _run_script([script], expected, echo) == expected
    single = [script[i : i + 1] for i in range(len(script))]
    assert await _run_script(single, expected, echo) == expected


@pytest.mark.parametrize(
    ("script", "expected", "echo"),
    [(COMPOUND_SCRIPT, COMPOUND_EXPECTED, False), (SPACED_SCRIPT, SPACED_EXPECTED, True)],
    ids=["compound", "spaced"],
)
async def test_compound_lines_split_at_every_index(script: bytes, expected: bytes, echo: bool) -> None:
    for cut in range(1, len(script)):
        pieces = [script[:cut], script[cut:]]
        assert await _run_script(pieces, expected, echo) == expected, cut


async def test_a_data_phase_as_the_last_command_of_a_line() -> None:
    async with memory_host() as host:
        await echo_off(host)
        data = b"a;b\r\nOK"
        host.send(f'AT+CSQ;+QFUPL="x.bin",{len(data)}\r'.encode())
        await host.expect(b"\r\n+CSQ: 24,99\r\n\r\nCONNECT\r\n")
        host.send(data)
        await host.expect(f"\r\n+QFUPL: {len(data)},{xor16(data):x}\r\n\r\nOK\r\n".encode())
        assert host.emu.files["x.bin"] == data
        # A data phase ends the line: what follows it on the line is not run.
        host.send(b'AT+QFUPL="y.bin",2;+CMEE=0\r')
        await host.expect(b"\r\nCONNECT\r\n")
        host.send(b"yy")
        await host.expect(f"\r\n+QFUPL: 2,{xor16(b'yy'):x}\r\n\r\nOK\r\n".encode())
        await host.command(b"AT+CMEE?", b"\r\n+CMEE: 1\r\n\r\nOK\r\n")


async def test_faults_match_each_command_of_a_line() -> None:
    async with memory_host() as host:
        await echo_off(host)
        host.emu.fail_next_command("+CREG", b"\r\n+CME ERROR: 3\r\n")
        await host.command(b"AT+CSQ;+CREG?;+CMEE=0", b"\r\n+CSQ: 24,99\r\n\r\n+CME ERROR: 3\r\n")
        await host.command(b"AT+CMEE?", b"\r\n+CMEE: 1\r\n\r\nOK\r\n")


async def test_raw_compound_commands_through_the_pty() -> None:
    emu = ModemEmulator(EmulatorConfig(emit_rdy_on_start=False))
    try:
        async with emu.serve_pty() as path, Modem.open(path, margin=3.0) as modem:
            assert await modem.command("AT+IPR=921600;&W") == []
            assert emu._profile.ipr == 921600
            assert await modem.command("AT+CSQ;+CREG?") == ["+CSQ: 24,99", "+CREG: 0,1"]
            assert await modem.command("AT+CSQ; +CREG?") == ["+CSQ: 24,99", "+CREG: 0,1"]
            assert await modem.command('AT+QICSGP=1,1,"a;b","","";+QICSGP=1') == ['+QICSGP: 1,"a;b","","",0']
            with pytest.raises(CommandError):
                await modem.command("AT+CSQ;+QSSLSTATE=99")
            assert await modem.command("AT") == []
    finally:
        await emu.aclose()
