"""Property: how the host's bytes are split into writes never changes the answer."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from quectel_aio.testing import EmulatorConfig, ModemEmulator

SCRIPT = (
    b"AT\r\n"
    b"ATE0\r"
    b'AT+QSSLCFG="seclevel",2,1\r'
    b'AT+QFUPL="x.bin",13\r'
    b'AT+QFDEL="*"\r'  # 13 bytes of file content, never a command
    b'AT+QSSLCFG="seclevel",2\r'
    b"AT+NOSUCH\r"
    b"AT+QFLST\r"
)
EXPECTED = (
    b"AT\r\r\nOK\r\n"
    b"ATE0\r\r\nOK\r\n"
    b"\r\nOK\r\n"
    b"\r\nCONNECT\r\n"
    b"\r\n+QFUPL: 13,730d\r\n\r\nOK\r\n"
    b'\r\n+QSSLCFG: "seclevel",2,1\r\n\r\nOK\r\n'
    b"\r\nERROR\r\n"
    b'\r\n+QFLST: "UFS:x.bin",13\r\n\r\nOK\r\n'
)


async def _run(cuts: list[int]) -> bytes:
    out = bytearray()
    emu = ModemEmulator(EmulatorConfig(emit_rdy_on_start=False))
    emu.attach(out.extend)
    try:
        previous = 0
        for cut in [*sorted(set(cuts)), len(SCRIPT)]:
            emu.feed(SCRIPT[previous:cut])
            previous = cut
            await asyncio.sleep(0)
        for _ in range(200):
            if len(out) >= len(EXPECTED):
                break
            await asyncio.sleep(0.001)
        return bytes(out)
    finally:
        await emu.aclose()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(SCRIPT)), max_size=20))
def test_any_split_gives_the_same_bytes(cuts: list[int]) -> None:
    assert asyncio.run(_run(cuts)) == EXPECTED
