"""drain(): bounded waits, and a stalled link is a dead modem."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from quectel_aio import _ports
from quectel_aio._errors import LocalProtocolError, ModemUnavailable
from quectel_aio._memory_ports import memory_port_pair

from .conftest import SERIAL_BACKENDS
from .helpers import MakeLink


async def test_drain_waits_for_the_reader() -> None:
    a, b = memory_port_pair(write_buffer_high=16)
    a.write(b"x" * 64)
    draining = asyncio.create_task(a.drain(timeout=1))
    await asyncio.sleep(0.01)
    assert not draining.done()
    assert await b.read() == b"x" * 64
    await asyncio.wait_for(draining, 1)
    await a.aclose()
    await b.aclose()


async def test_drain_below_high_water_returns_at_once() -> None:
    a, b = memory_port_pair(write_buffer_high=16)
    a.write(b"x" * 16)
    await a.drain(timeout=0)
    await a.aclose()
    await b.aclose()


async def test_concurrent_drains_all_wake() -> None:
    a, b = memory_port_pair(write_buffer_high=0)
    a.write(b"x")
    drains = [asyncio.create_task(a.drain(timeout=1)) for _ in range(3)]
    await asyncio.sleep(0.01)
    await b.read()
    await asyncio.wait_for(asyncio.gather(*drains), 1)
    await a.aclose()
    await b.aclose()


async def test_memory_drain_timeout_is_fatal() -> None:
    a, b = memory_port_pair(write_buffer_high=16)
    a.write(b"x" * 1024)
    with pytest.raises(ModemUnavailable, match=r"write stalled .* \(CTS held low\?\)"):
        await a.drain(timeout=0.05)
    with pytest.raises(ModemUnavailable, match="stalled"):
        a.write(b"more")
    with pytest.raises(ModemUnavailable, match="stalled"):
        await a.read()
    # the far end sees the link end once it has read what was delivered
    assert await b.read() == b"x" * 1024
    assert await asyncio.wait_for(b.read(), 1) == b""
    await a.aclose()
    await b.aclose()


async def test_timed_out_drain_does_not_break_other_drains() -> None:
    a, b = memory_port_pair(write_buffer_high=0)
    a.write(b"x")
    patient = asyncio.create_task(a.drain(timeout=5))
    with pytest.raises(ModemUnavailable):
        await a.drain(timeout=0.02)
    # the port is now dead: the patient drain fails too, promptly
    with pytest.raises(ModemUnavailable):
        await asyncio.wait_for(patient, 1)
    await a.aclose()
    await b.aclose()


async def test_aclose_wakes_pending_drain() -> None:
    a, b = memory_port_pair(write_buffer_high=0)
    a.write(b"x")
    draining = asyncio.create_task(a.drain(timeout=5))
    await asyncio.sleep(0.01)
    await a.aclose()
    with pytest.raises(ModemUnavailable, match="closed"):
        await asyncio.wait_for(draining, 1)
    await b.aclose()


async def test_socket_drain_timeout_when_peer_never_reads(make_link: MakeLink) -> None:
    link = await make_link("socket", write_buffer_high=1024)
    # more than the kernel socket buffers absorb
    link.port.write(b"\0" * (16 * 1024 * 1024))
    with pytest.raises(ModemUnavailable, match="stalled"):
        await link.port.drain(timeout=0.1)


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_serial_drain_timeout_when_peer_never_reads(make_link: MakeLink, backend: str) -> None:
    # A pty whose master is never read stands in for a module holding CTS low.
    link = await make_link(backend, write_buffer_high=1024)
    link.port.write(os.urandom(256 * 1024))
    with pytest.raises(ModemUnavailable, match=r"stalled .* bytes unsent \(CTS held low\?\)"):
        await link.port.drain(timeout=0.1)
    started = time.monotonic()
    await link.port.aclose()
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_aclose_with_unsent_bytes_is_bounded(
    make_link: MakeLink, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_ports, "_CLOSE_GRACE", 0.2)
    link = await make_link(backend)
    link.port.write(os.urandom(256 * 1024))
    started = time.monotonic()
    await link.port.aclose()
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_aclose_flushes_what_the_peer_takes(make_link: MakeLink, backend: str) -> None:
    link = await make_link(backend)
    data = os.urandom(200 * 1024)
    link.port.write(data)
    receiving = asyncio.create_task(link.peer.recv_exactly(len(data)))
    await link.port.aclose()
    assert await asyncio.wait_for(receiving, 2) == data


async def test_memory_pair_rejects_bad_high_water() -> None:
    with pytest.raises(LocalProtocolError):
        memory_port_pair(write_buffer_high=-1)
