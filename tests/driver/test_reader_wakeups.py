"""The reader task sleeps through the partial arrivals of a length-announced block."""

from __future__ import annotations

import asyncio

import pytest

from quectel_aio import _commands as cmd
from quectel_aio import _events as ev
from quectel_aio._channel import WARM_UP_BYTES, AtChannel
from quectel_aio._memory_ports import memory_port_pair
from quectel_aio._ports import Port

BLOCK = (bytes(range(200)) + b"\r\nOK\r\n" + bytes(94)) * 5  # 1500 bytes holding protocol tokens


async def _write_in_pieces(port: Port, data: bytes, pieces: int) -> None:
    size = -(-len(data) // pieces)
    for start in range(0, len(data), size):
        await asyncio.sleep(0.001)  # each piece is its own port read
        port.write(data[start : start + size])


async def _run(pieces: int, *, with_command: bool) -> tuple[list[ev.Event], int, bytes | None]:
    """Push :data:`BLOCK` in ``pieces`` parts (during an ``AT+QSSLRECV`` of it if ``with_command``)."""
    host_port, module_port = memory_port_pair()
    failures: list[BaseException] = []
    events: list[ev.Event] = []
    pushed = asyncio.Event()

    def on_unsolicited(event: ev.Event) -> None:
        events.append(event)
        pushed.set()

    channel = AtChannel(host_port, on_unsolicited, failures.append)
    wakeups = 0
    drain_events = channel._drain_events

    def counting() -> None:
        nonlocal wakeups
        wakeups += 1
        drain_events()

    channel._drain_events = counting  # type: ignore[method-assign]
    channel.start()
    payload = None
    try:
        if with_command:

            async def answer() -> None:
                assert b"\r" in await module_port.read()
                module_port.write(f"\r\n+QSSLRECV: {len(BLOCK)}\r\n".encode())
                await _write_in_pieces(module_port, BLOCK + b"\r\n\r\nOK\r\n", pieces)

            module = asyncio.create_task(answer())
            payload = (await channel.execute(cmd.SslRecv(1, len(BLOCK)))).payload
            await module
        else:
            module_port.write(f'\r\n+QSSLURC: "recv",1,{len(BLOCK)}\r\n'.encode())
            await _write_in_pieces(module_port, BLOCK + b"\r\n", pieces)
            async with asyncio.timeout(5):
                await pushed.wait()
    finally:
        await channel.aclose()
        await module_port.aclose()
    assert not failures
    return events, wakeups, payload


@pytest.mark.parametrize("pieces", [1, 30, 300])
async def test_one_wakeup_for_a_pushed_block_that_arrives_in_pieces(pieces: int) -> None:
    events, wakeups, _ = await _run(pieces, with_command=False)
    assert events == [ev.SslDataPushed(1, BLOCK)]
    # The header, the completed block, its CRLF (one more if the header came in
    # two reads), however many pieces the block came in.
    assert wakeups <= 4


@pytest.mark.parametrize("pieces", [1, 30, 300])
async def test_a_block_a_command_waits_for_wakes_the_reader_again_before_its_end(pieces: int) -> None:
    # The reader sleeps through the start of the block and keeps up with its
    # last WARM_UP_BYTES, so the end of the block finds it warm.
    events, wakeups, payload = await _run(pieces, with_command=True)
    assert payload == BLOCK
    assert events == []
    piece = -(-len(BLOCK) // pieces)
    warm_pieces = -(-WARM_UP_BYTES // piece)
    assert wakeups <= 4 + warm_pieces
    if pieces >= 30:
        assert wakeups >= warm_pieces // 2  # pieces that come close together share a wake


async def test_a_sender_waiting_for_the_reader_is_not_deadlocked() -> None:
    # An in-memory module whose writes wait for the host to read (a 512-byte
    # write buffer): the reader must take a partial block rather than wait for
    # bytes the sender cannot send yet.
    host_port, module_port = memory_port_pair(write_buffer_high=512)
    events: list[ev.Event] = []
    pushed = asyncio.Event()

    def on_unsolicited(event: ev.Event) -> None:
        events.append(event)
        pushed.set()

    failures: list[BaseException] = []
    channel = AtChannel(host_port, on_unsolicited, failures.append)
    channel.start()
    try:
        async with asyncio.timeout(5):
            module_port.write(f'\r\n+QSSLURC: "recv",1,{len(BLOCK)}\r\n'.encode())
            for start in range(0, len(BLOCK), 100):
                module_port.write(BLOCK[start : start + 100])
                await module_port.drain(timeout=2)
            module_port.write(b"\r\n")
            await pushed.wait()
    finally:
        await channel.aclose()
        await module_port.aclose()
    assert events == [ev.SslDataPushed(1, BLOCK)]
    assert not failures
