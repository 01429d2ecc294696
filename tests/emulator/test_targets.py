"""In-process source and sink targets: no TCP, no TLS, the module model unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest

from quectel_aio.testing import (
    REQUEST_HEADER,
    TICK_STAMP,
    EmulatorConfig,
    SinkTarget,
    SourceTarget,
    TickerTarget,
    pattern_bytes,
)

from .helpers import Host, echo_off, memory_host, pty_host


async def _activate(host: Host) -> None:
    await echo_off(host)
    await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")


async def _open(host: Host, name: str, mode: int = 0, client_id: int = 0) -> None:
    host.send(f'AT+QSSLOPEN=1,1,{client_id},"{name}",443,{mode}\r'.encode())
    if mode == 2:
        await host.expect(b"\r\nCONNECT\r\n")
    else:
        await host.expect(b"\r\nOK\r\n")
        await host.expect(f"\r\n+QSSLOPEN: {client_id},0\r\n".encode())


async def _recv_all(host: Host, total: int, urcs: list[bytes]) -> bytes:
    got = bytearray()
    while len(got) < total:
        host.send(b"AT+QSSLRECV=0,1500\r")
        header = b"\r\n"
        while header == b"\r\n" or header.startswith(b"+QSSLURC: "):
            if header != b"\r\n":
                urcs.append(header)
            header = await host.read_until(b"\r\n", within=5)
        if header == b"+QSSLRECV: 0\r\n":
            await host.expect(b"\r\nOK\r\n")
            await asyncio.sleep(0.01)
            continue
        assert header.startswith(b"+QSSLRECV: "), header
        n = int(header[11:-2])
        got += await host.read_exactly(n)
        await host.expect(b"\r\n\r\nOK\r\n")
    return bytes(got)


def test_pattern_is_deterministic_and_continuous() -> None:
    whole = pattern_bytes(0, 200_000)
    assert len(whole) == 200_000
    assert pattern_bytes(70_000, 1000) == whole[70_000:71_000]
    assert pattern_bytes(65_000, 70_000) == whole[65_000:135_000]
    assert len(set(whole[:4096])) > 200  # not a trivial pattern


async def test_fixed_size_source_in_buffer_mode_then_peer_close() -> None:
    source = SourceTarget(5000, close_when_done=True)
    config = EmulatorConfig(emit_rdy_on_start=False, targets={"src.test": source})
    async with memory_host(config) as host:
        await _activate(host)
        await _open(host, "src.test")
        urcs: list[bytes] = []
        data = await _recv_all(host, 5000, urcs)
        assert data == pattern_bytes(0, 5000)
        if b'+QSSLURC: "closed",0\r\n' not in urcs:
            await host.read_until(b'\r\n+QSSLURC: "closed",0\r\n')
        assert source.records[0].sent == 5000
        assert source.records[0].closed


async def test_announced_source_in_direct_push_mode() -> None:
    source = SourceTarget()
    config = EmulatorConfig(emit_rdy_on_start=False, targets={"src.test": source})
    async with memory_host(config) as host:
        await _activate(host)
        await _open(host, "src.test", mode=1)
        host.send(b"AT+QSSLSEND=0,8\r")
        await host.expect(b"\r\n> ")
        host.send(REQUEST_HEADER.pack(4000))
        await host.expect(b"\r\nSEND OK\r\n")
        got = bytearray()
        while len(got) < 4000:
            header = await host.read_until(b"\r\n")
            if header == b"\r\n":
                continue
            assert header.startswith(b'+QSSLURC: "recv",0,'), header
            n = int(header.split(b",")[2])
            got += await host.read_exactly(n)
        assert bytes(got) == pattern_bytes(0, 4000)
        assert source.records[0].received == 0  # the header is not payload


async def test_sink_counts_hashes_and_acknowledges_over_pty() -> None:
    sink = SinkTarget()
    config = EmulatorConfig(emit_rdy_on_start=False, targets={"Sink.Test": sink})
    payload = bytes(range(256)) * 10
    async with pty_host(config) as (host, _emu):
        await _activate(host)
        await _open(host, "sink.test")  # names match case-insensitively
        message = REQUEST_HEADER.pack(len(payload)) + payload
        for start in range(0, len(message), 1460):
            piece = message[start : start + 1460]
            host.send(f"AT+QSSLSEND=0,{len(piece)}\r".encode())
            await host.expect(b"\r\n> ")
            host.send(piece)
            await host.expect(b"\r\nSEND OK\r\n")
        await host.expect(b'\r\n+QSSLURC: "recv",0\r\n')
        host.send(b"AT+QSSLRECV=0,1500\r")
        await host.expect(b"\r\n+QSSLRECV: 1\r\nK\r\n\r\nOK\r\n")
        host.send(b"AT+QSSLCLOSE=0\r")
        await host.expect(b"\r\nOK\r\n")
    record = sink.records[0]
    assert record.first_at is not None
    assert record.last_at is not None
    assert record.first_at <= record.last_at
    assert record.first_size == 1460 - REQUEST_HEADER.size
    assert record.received == len(payload)
    assert record.digest == hashlib.sha256(payload).hexdigest()
    assert record.closed


async def test_transparent_source_respects_the_paced_link() -> None:
    source = SourceTarget()
    config = EmulatorConfig(emit_rdy_on_start=False, link_baudrate=1_000_000, targets={"src.test": source})
    loop = asyncio.get_running_loop()
    async with pty_host(config) as (host, _emu):
        await _activate(host)
        await _open(host, "src.test", mode=2)
        host.send(REQUEST_HEADER.pack(10_000))
        start = loop.time()
        await host.expect(pattern_bytes(0, 10_000), within=5)
        assert loop.time() - start >= 0.095  # 100 kB/s link


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        SourceTarget(-1)


async def test_ticker_stamps_each_message_and_sink_records_arrival_times() -> None:
    ticker = TickerTarget(interval=0.01, size=32)
    config = EmulatorConfig(emit_rdy_on_start=False, targets={"tick.test": ticker})
    async with memory_host(config) as host:
        await _activate(host)
        await _open(host, "tick.test", mode=2)
        before = time.monotonic_ns()
        host.send(REQUEST_HEADER.pack(3))
        messages = [await host.read_exactly(32) for _ in range(3)]
        stamps = [TICK_STAMP.unpack_from(m)[0] for m in messages]
        assert before <= stamps[0] < stamps[1] < stamps[2] <= time.monotonic_ns()
        assert stamps[2] - stamps[0] >= 15_000_000  # 10 ms apart
        assert all(m[8:] == pattern_bytes(0, 24) for m in messages)
        assert ticker.records[0].sent == 96
    with pytest.raises(ValueError, match="at least 8"):
        TickerTarget(size=4)
