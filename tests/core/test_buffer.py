"""ReceiveBuffer behaviour and throughput."""

from __future__ import annotations

import time

from quectel_aio._buffer import ReceiveBuffer
from quectel_aio._commands import SslRecv
from quectel_aio._connection import ModemConnection
from quectel_aio._events import NEED_DATA, CommandSucceeded


def test_lines_and_exact() -> None:
    buf = ReceiveBuffer()
    assert not buf
    assert len(buf) == 0
    buf.append(b"ab")
    assert buf.maybe_extract_line() is None
    buf.append(b"c\r\nxyz")
    assert buf.maybe_extract_line() == b"abc\r\n"
    assert buf.peek(2) == b"xy"
    assert buf.maybe_extract_exact(4) is None
    assert buf.maybe_extract_exact(3) == b"xyz"
    assert bytes(buf) == b""
    buf.append(b"\r\n\r\nq")
    buf.skip_line_endings()
    assert bytes(buf) == b"q"
    assert buf.extract_at_most(10) == b"q"
    assert "0 bytes" in repr(buf)


def test_skip_through_lf_and_overlong() -> None:
    buf = ReceiveBuffer()
    buf.append(b"x" * 10)
    assert buf.maybe_extract_line() is None
    assert buf.incomplete_line_too_long(9)
    assert not buf.incomplete_line_too_long(10)
    assert not buf.skip_through_lf()
    assert len(buf) == 0
    buf.append(b"abc\ndef")
    assert buf.skip_through_lf()
    assert bytes(buf) == b"def"
    buf.clear()
    assert len(buf) == 0


def test_compaction_keeps_content() -> None:
    buf = ReceiveBuffer()
    expected = []
    for i in range(5000):
        line = b"line %d\n" % i
        expected.append(line)
        buf.append(line)
        if i % 3 == 0:
            while (got := buf.maybe_extract_line()) is not None:
                assert got == expected.pop(0)
    while (got := buf.maybe_extract_line()) is not None:
        assert got == expected.pop(0)
    assert expected == []


def test_bytewise_long_line_is_linear() -> None:
    buf = ReceiveBuffer()
    for _ in range(4000):
        buf.append(b"x")
        assert buf.maybe_extract_line() is None
    buf.append(b"\n")
    assert buf.maybe_extract_line() == b"x" * 4000 + b"\n"


def test_throughput_of_recv_blocks() -> None:
    """Parsing 1500-byte QSSLRECV responses is fast (very loose bound for CI)."""
    command = SslRecv(0, 1500)
    payload = bytes(range(256)) * 5 + bytes(220)
    block = b"\r\n+QSSLRECV: 1500\r\n" + payload + b"\r\n\r\nOK\r\n"
    conn = ModemConnection()
    rounds = 2000
    start = time.perf_counter()
    for _ in range(rounds):
        conn.send(command)
        conn.receive_data(block)
        event = conn.next_event()
        assert isinstance(event, CommandSucceeded)
        assert conn.next_event() is NEED_DATA
    elapsed = time.perf_counter() - start
    assert rounds * len(payload) / elapsed > 5e6


def test_buffer_raw_throughput() -> None:
    buf = ReceiveBuffer()
    chunk = (b"\r\n+QSSLRECV: 1500\r\n" + bytes(1500) + b"\r\n\r\nOK\r\n") * 10
    start = time.perf_counter()
    total = 0
    for _ in range(300):
        buf.append(chunk)
        while True:
            line = buf.maybe_extract_line()
            if line is None:
                break
            if line.startswith(b"+QSSLRECV"):
                data = buf.maybe_extract_exact(1500)
                assert data is not None
                total += len(data)
    elapsed = time.perf_counter() - start
    assert total == 300 * 10 * 1500
    assert total / elapsed > 20e6
