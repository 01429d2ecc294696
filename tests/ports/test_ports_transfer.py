"""Bulk transfers over every backend: bytes arrive intact, in order, both ways."""

from __future__ import annotations

import asyncio
import os

import pytest

from quectel_aio import ModemUnavailable
from quectel_aio._memory_ports import memory_port_pair

from .conftest import ALL_BACKENDS, SERIAL_BACKENDS
from .helpers import MakeLink, read_exactly, sha256, write_all

MIB = 1024 * 1024


@pytest.mark.parametrize("backend", ALL_BACKENDS)
async def test_round_trip_1mib_both_ways(make_link: MakeLink, backend: str) -> None:
    link = await make_link(backend)
    up = os.urandom(MIB)
    down = os.urandom(MIB)

    async with asyncio.timeout(8):
        received_by_peer, received_by_port, _, _ = await asyncio.gather(
            link.peer.recv_exactly(len(up)),
            read_exactly(link.port, len(down)),
            write_all(link.port, up),
            link.peer.send(down),
        )

    assert len(received_by_peer) == len(up)
    assert sha256(received_by_peer) == sha256(up)
    assert len(received_by_port) == len(down)
    assert sha256(received_by_port) == sha256(down)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
async def test_read_returns_everything_buffered_at_once(make_link: MakeLink, backend: str) -> None:
    link = await make_link(backend)
    for part in (b"AT\r\n", b"OK\r\n", b"+QIURC: x\r\n"):
        await link.peer.send(part)
    await asyncio.sleep(0.05)
    assert await link.port.read() == b"AT\r\nOK\r\n+QIURC: x\r\n"


@pytest.mark.parametrize("backend", ["serialx", "pyserial-asyncio", "socket"])
async def test_stalled_reader_pauses_transport_and_loses_nothing(make_link: MakeLink, backend: str) -> None:
    # More than the 1 MiB read-buffer limit arrives while nobody reads.
    link = await make_link(backend)
    data = os.urandom(3 * MIB)
    sending = asyncio.create_task(link.peer.send(data))
    await asyncio.sleep(0.2)
    assert link.port._protocol.reading_paused  # type: ignore[attr-defined]
    async with asyncio.timeout(8):
        got = await read_exactly(link.port, len(data))
        await sending
    assert sha256(got) == sha256(data)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
async def test_read_at_least_sleeps_through_partial_arrivals(make_link: MakeLink, backend: str) -> None:
    link = await make_link(backend)
    reading = asyncio.create_task(link.port.read(10))
    await link.peer.send(b"12345")
    await asyncio.sleep(0.05)
    assert not reading.done()
    await link.peer.send(b"67890AB")
    async with asyncio.timeout(5):
        assert await reading == b"1234567890AB"


@pytest.mark.parametrize("backend", ALL_BACKENDS)
async def test_read_at_least_returns_what_came_before_the_end(make_link: MakeLink, backend: str) -> None:
    # The peer goes away before the 100 bytes: what arrived comes first, then
    # b"" (a socket, a memory port) or ModemUnavailable (a vanished serial device).
    link = await make_link(backend)
    reading = asyncio.create_task(link.port.read(100))
    await link.peer.send(b"partial")
    await asyncio.sleep(0.05)
    await link.peer.close()
    async with asyncio.timeout(5):
        got = await reading
        while len(got) < len(b"partial"):  # a pty may hand the bytes over in two reads
            more = await link.port.read(100)
            assert more
            got += more
        assert got == b"partial"
        try:
            assert await link.port.read(100) == b""
        except ModemUnavailable:
            assert backend in ("serialx", "pyserial-asyncio")


@pytest.mark.parametrize("backend", ["serialx", "memory"])
async def test_read_at_least_more_than_the_read_buffer_limit_still_returns(
    make_link: MakeLink, backend: str
) -> None:
    link = await make_link(backend)
    data = os.urandom(3 * MIB)
    sending = asyncio.create_task(link.peer.send(data))
    async with asyncio.timeout(8):
        first = await link.port.read(10 * MIB)
        assert first  # returned although 10 MiB never arrive
        got = first + await read_exactly(link.port, len(data) - len(first))
        await sending
    assert sha256(got) == sha256(data)


async def test_read_at_least_gives_way_to_a_sender_waiting_for_it() -> None:
    # In memory, the sender's drain() waits for this reader: read(at_least)
    # returns what is there once the sender is held back.
    port, peer = memory_port_pair(write_buffer_high=512)
    data = os.urandom(3000)

    async def send() -> None:
        for start in range(0, len(data), 100):
            peer.write(data[start : start + 100])
            await peer.drain(timeout=2)

    async with asyncio.timeout(5):
        sending = asyncio.create_task(send())
        got = b""
        while len(got) < len(data):
            got += await port.read(len(data) - len(got))
        await sending
    assert got == data
    await port.aclose()
    await peer.aclose()


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_serial_backends_read_64_kib_per_system_call(
    make_link: MakeLink, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # serialx asks for 256 KiB by default, which costs a fresh mmap per read;
    # pyserial-asyncio asks for 1 KiB, which costs a wake-up per KiB.
    link = await make_link(backend)
    sizes: list[int] = []
    real_read = os.read

    def spy(fd: int, size: int) -> bytes:
        sizes.append(size)
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", spy)
    payload = os.urandom(20_000)
    async with asyncio.timeout(5):
        _, received = await asyncio.gather(link.peer.send(payload), read_exactly(link.port, len(payload)))
    monkeypatch.undo()

    assert received == payload
    assert sizes
    assert max(sizes) == 64 * 1024


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("data_first", [True, False])
async def test_cut_read_short_returns_what_is_there(
    make_link: MakeLink, backend: str, data_first: bool
) -> None:
    link = await make_link(backend)
    reading = asyncio.create_task(link.port.read(100))
    if data_first:
        await link.peer.send(b"12345")
        await asyncio.sleep(0.05)
        assert not reading.done()
        link.port.cut_read_short()
    else:
        await asyncio.sleep(0.01)
        link.port.cut_read_short()
        await asyncio.sleep(0.05)
        assert not reading.done()  # nothing buffered: it waits for a byte, not for a hundred
        await link.peer.send(b"12345")
    async with asyncio.timeout(5):
        assert await reading == b"12345"
    # Cleared by that read: the next one waits for its at_least again.
    reading = asyncio.create_task(link.port.read(10))
    await link.peer.send(b"abc")
    await asyncio.sleep(0.05)
    assert not reading.done()
    await link.peer.send(b"defghij")
    async with asyncio.timeout(5):
        assert await reading == b"abcdefghij"
