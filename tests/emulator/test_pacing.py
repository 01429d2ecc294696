"""Link pacing: a strict serializer at the configured baud rate, both directions."""

from __future__ import annotations

import asyncio

import pytest

from quectel_aio.testing import EmulatorConfig, SinkTarget
from quectel_aio.testing._pacing import LinkPacer

from .helpers import echo_off, memory_host, pty_host, upload, xor16


async def test_pacer_rate_and_no_idle_credit() -> None:
    loop = asyncio.get_running_loop()
    arrivals: list[tuple[float, int]] = []
    pacer = LinkPacer(20_000, 0.002, lambda data: arrivals.append((loop.time(), len(data))))
    try:
        await asyncio.sleep(0.1)  # idle: must not build credit
        start = loop.time()
        pacer.write(b"x" * 2000)
        await pacer.wait_below(0)
        elapsed = arrivals[-1][0] - start
        assert 0.095 <= elapsed < 0.3
        assert sum(n for _t, n in arrivals) == 2000
        assert max(n for _t, n in arrivals) <= 2000 // 2  # delivered in slices
    finally:
        pacer.close()


async def test_paced_download_and_upload_over_pty() -> None:
    data = bytes(i % 256 for i in range(10_000))
    config = EmulatorConfig(emit_rdy_on_start=False, link_baudrate=1_000_000)  # 100 kB/s
    loop = asyncio.get_running_loop()
    async with pty_host(config) as (host, emu):
        await echo_off(host)
        start = loop.time()
        await upload(host, "f.bin", data)
        assert loop.time() - start >= 0.095  # host -> module paced
        host.send(b'AT+QFDWL="f.bin"\r')
        start = loop.time()
        await host.expect(b"\r\nCONNECT\r\n" + data, within=5)
        assert loop.time() - start >= 0.095  # module -> host paced
        await host.expect(f"\r\n+QFDWL: 10000,{xor16(data):x}\r\n\r\nOK\r\n".encode())
        assert emu.files["f.bin"] == data


async def test_paced_memory_host_keeps_bytes_exact() -> None:
    config = EmulatorConfig(emit_rdy_on_start=False, link_baudrate=115_200, link_granularity=0.016)
    async with memory_host(config) as host:
        host.send(b"AT\r")
        await host.expect(b"AT\r\r\nOK\r\n")


async def test_turnarounds_are_counted_from_the_modelled_arrival() -> None:
    # 100 kB/s: the 19-byte command arrives 0.19 ms after it was read, the
    # 5 payload bytes 0.05 ms; the prompt and SEND OK take 0.04 and 0.11 ms.
    config = EmulatorConfig(
        emit_rdy_on_start=False,
        link_baudrate=1_000_000,
        command_latency=0.02,
        prompt_latency=0.01,
        targets={"sink.test": SinkTarget()},
    )
    loop = asyncio.get_running_loop()
    async with memory_host(config) as host:
        await echo_off(host)
        await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")
        host.send(b'AT+QSSLOPEN=1,1,0,"sink.test",443,0\r')
        await host.expect(b"\r\nOK\r\n")
        await host.expect(b"\r\n+QSSLOPEN: 0,0\r\n")
        start = loop.time()
        host.send(b"AT+QSSLSEND=0,5\r")
        await host.expect(b"\r\n> ")
        prompt_after = loop.time() - start
        start = loop.time()
        host.send(b"hello")
        await host.expect(b"\r\nSEND OK\r\n")
        final_after = loop.time() - start
    assert 0.0102 <= prompt_after < 0.0195  # the prompt turnaround, not the command one
    assert 0.0201 <= final_after < 0.0295  # counted from the payload, not added to the prompt


def test_latencies_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="latency"):
        EmulatorConfig(prompt_latency=-0.001)
    with pytest.raises(ValueError, match="latency"):
        EmulatorConfig(command_latency=-1)
