"""Twelve sockets at once, a stalled reader, and latency.

* **Twelve sockets**: every client ID streams from the in-process source at
  once; then every client ID sends to the in-process sink at once (rates
  from the sink's first and last arrival of each transfer). Each socket's goodput is taken over the common window (from the last
  socket's first byte to the first socket's last byte); the aggregate is
  compared with one socket alone on the same link, and the spread with Jain's
  index and slowest/fastest.
* **Stalled reader**: the same with one socket that never reads (its reader
  limit is :data:`STALLED_LIMIT`, so its backpressure starts within a few
  chunks); the others' goodput against their share (one socket's figure over
  eleven), and what the stalled socket holds on the host.
* **Push latency**: the in-process ticker sends a 64-byte message every 5 ms
  with its send time; the delay to ``readexactly`` returning on the host,
  from the send and from the moment the emulator hands the URC to the pty
  (``ModemEmulator.output_tap``), which leaves the emulator's own work out.
* **Small write under load**: while one socket sends a bulk stream, another
  sends 16 bytes; the delay from ``write`` to the sink receiving them, against
  the time of one 1460-byte chunk on the link.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from ..ssl_config import SSLConfig
from ..testing import REQUEST_HEADER, TICK_STAMP
from ._model import LinkModel, jain_index, percentile
from ._process import GUARD_TIME, MEM_SINK, MEM_SOURCE, MEM_TICKER, EmulatorProcess
from ._sample import Arrivals
from ._stack import READ_SIZE, StackPeer, open_modem, send_on

__all__ = ["run_sockets"]

SOCKETS = 12
PROBES = 8
PROBE_SIZE = 16
#: ``StreamReader`` limit of the stalled socket: reading pauses above twice this.
STALLED_LIMIT = 2048


async def _stream(reader: asyncio.StreamReader, total: int, arrivals: Arrivals) -> None:
    while arrivals.got < total:
        data = await reader.read(READ_SIZE)
        if not data:
            raise RuntimeError(f"EOF after {arrivals.got} of {total} bytes")
        arrivals.add(len(data))


async def _many(peer: StackPeer, count: int, total: int, mode: str, stalled: int = 0) -> dict[str, Any]:
    """``count`` sockets read ``total`` bytes each at once; the first ``stalled`` never read."""
    async with contextlib.AsyncExitStack() as stack:
        streams = [
            await stack.enter_async_context(
                peer.connection(MEM_SOURCE, 443, mode, limit=STALLED_LIMIT if index < stalled else 2**16)
            )
            for index in range(count)
        ]
        held = 0
        for _reader, writer in streams[:stalled]:
            writer.write(REQUEST_HEADER.pack(total * 8))
        readers = []
        for reader, writer in streams[stalled:]:
            arrivals = Arrivals()
            arrivals.trace = []
            readers.append((reader, writer, arrivals))
        started = time.process_time()
        for _reader, writer, _arrivals in readers:
            writer.write(REQUEST_HEADER.pack(total))
        await asyncio.gather(*(_stream(reader, total, arrivals) for reader, _w, arrivals in readers))
        cpu = time.process_time() - started
        for reader, _writer in streams[:stalled]:
            held = max(held, len(getattr(reader, "_buffer", b"")))
    begin = max(a.first for _r, _w, a in readers)
    end = min(a.last for _r, _w, a in readers)
    window = end - begin
    if window <= 0:
        raise RuntimeError("the sockets did not overlap; use a larger size")
    rates = [(a.bytes_at(end) - a.bytes_at(begin)) / window for _r, _w, a in readers]
    whole = max(a.last for _r, _w, a in readers) - min(a.first for _r, _w, a in readers)
    return {
        "rates": rates,
        "aggregate": sum(rates),
        "aggregate_whole_run": sum(a.got for _r, _w, a in readers) / whole,
        "cpu": cpu,
        "stalled_host_bytes": held,
    }


async def _many_send(peer: StackPeer, proc: EmulatorProcess, count: int, total: int) -> dict[str, Any]:
    """``count`` sockets send ``total`` bytes each to the sink at once; rates from the sink's records."""
    await proc.stats()  # later records are these connections only
    async with contextlib.AsyncExitStack() as stack:
        streams = [
            await stack.enter_async_context(peer.connection(MEM_SINK, 443, "buffer")) for _ in range(count)
        ]
        await asyncio.gather(*(send_on(reader, writer, total) for reader, writer in streams))
    records = [r for r in (await proc.stats())["mem_sink"] if r["received"] == total]
    if len(records) != count:
        raise RuntimeError(f"the sink recorded {len(records)} of {count} transfers")
    # The common window: every socket is sending from the last first byte to
    # the first last byte; a fair share gives each the same bytes in it, which
    # for a steady sender is its whole-transfer rate.
    rates = [(r["received"] - r["first_size"]) / (r["last_at"] - r["first_at"]) for r in records]
    earliest = min(records, key=lambda r: r["first_at"])
    whole = max(r["last_at"] for r in records) - earliest["first_at"]
    # Like a single transfer's goodput: the window opens with the first
    # arrival, so the bytes of that arrival are not counted.
    return {"rates": rates, "aggregate": (count * total - earliest["first_size"]) / whole}


async def _push_latency(
    peer: StackPeer, proc: EmulatorProcess, count: int
) -> tuple[list[float], list[float]]:
    """Delays of ticker messages: from the target's send, and from the pty write, to ``readexactly``."""
    await proc.stats()  # forget earlier records
    await proc.tap_ticks(True)
    try:
        async with peer.connection(MEM_TICKER, 443, "push") as (reader, writer):
            writer.write(REQUEST_HEADER.pack(count))
            arrivals = []
            for _ in range(count):
                message = await reader.readexactly(64)
                now = time.monotonic_ns()
                arrivals.append((TICK_STAMP.unpack_from(message)[0], now))
    finally:
        await proc.tap_ticks(False)
    written = dict((await proc.stats())["tick_writes"])
    from_send = [(now - stamp) / 1e9 for stamp, now in arrivals]
    from_write = [(now - written[stamp]) / 1e9 for stamp, now in arrivals if stamp in written]
    return from_send, from_write


async def _small_writes(peer: StackPeer, proc: EmulatorProcess, bulk: int, cycle: float) -> list[float]:
    """Probe writes on fresh sockets while one socket streams ``bulk`` bytes to the sink.

    The probes start at phases spread evenly over one send ``cycle`` of the
    load, so their delays sample every point of it rather than one.
    """
    delays = []
    async with peer.connection(MEM_SINK, 443, "buffer") as (bulk_reader, bulk_writer):
        load = asyncio.create_task(send_on(bulk_reader, bulk_writer, bulk))
        try:
            await asyncio.sleep(0.05)
            for probe_index in range(PROBES):
                if load.done():
                    break
                await proc.stats()  # later stats list only the probe's connection
                async with peer.connection(MEM_SINK, 443, "buffer") as (reader, writer):
                    await asyncio.sleep(0.02 + cycle * probe_index / PROBES)
                    sent = time.monotonic()
                    writer.write(REQUEST_HEADER.pack(PROBE_SIZE) + b"p" * PROBE_SIZE)
                    await reader.readexactly(1)
                records = (await proc.stats())["mem_sink"]
                probe = [r for r in records if r["received"] == PROBE_SIZE]
                if probe and probe[-1]["first_at"] is not None:
                    delays.append(probe[-1]["first_at"] - sent)
        finally:
            if not load.done():
                load.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await load
    return delays


def _sharing(
    link: LinkModel, key: str, total: int, single: dict[str, Any], twelve: dict[str, Any]
) -> dict[str, Any]:
    """How twelve sockets shared the link, against one socket alone."""
    rates = twelve["rates"]
    return {
        "link": link.label,
        "mode": key,
        "bytes_per_socket": total,
        "single_mb_per_s": single["aggregate"] / 1e6,
        "aggregate_mb_per_s": twelve["aggregate"] / 1e6,
        "aggregate_over_single": twelve["aggregate"] / single["aggregate"],
        "jain": jain_index(rates),
        "slowest_over_fastest": min(rates) / max(rates),
        "per_socket_mb_per_s": [r / 1e6 for r in rates],
    }


async def run_sockets(
    proc: EmulatorProcess,
    link: LinkModel,
    total: int,
    *,
    backend: str = "serialx",
    ticks: int = 200,
    bulk: int = 128 * 1024,
) -> dict[str, Any]:
    """Twelve sockets, a stalled reader and both latencies on ``link``.

    Args:
        proc: the emulator process.
        link: link model of the socket figures (push latency is taken on a pty).
        total: bytes per socket.
        backend: serial backend.
        ticks: push latency messages (5 ms apart).
        bulk: bytes of the load under the small writes.
    """
    path = await proc.start_emulator(link.baudrate, link.turnaround)
    out: dict[str, Any] = {}
    async with open_modem(
        path, backend=backend, baudrate=link.baudrate or 115200, guard_time=GUARD_TIME
    ) as modem:
        await modem.activate_pdp(1, apn="internet")
        peer = StackPeer(modem, SSLConfig(cafile=proc.ca_pem))
        single = await _many(peer, 1, total * 2, "buffer")
        twelve = await _many(peer, SOCKETS, total, "buffer")
        out["twelve_sockets"] = _sharing(link, "buffer/recv", total, single, twelve)
        single_send = await _many_send(peer, proc, 1, total * 2)
        twelve_send = await _many_send(peer, proc, SOCKETS, total)
        out["twelve_sockets_send"] = _sharing(link, "buffer/send", total, single_send, twelve_send)
        stalled = await _many(peer, SOCKETS, total, "buffer", stalled=1)
        share = single["aggregate"] / (SOCKETS - 1)
        out["stalled_reader"] = {
            "link": link.label,
            "others_over_share": (stalled["aggregate"] / (SOCKETS - 1)) / share,
            "slowest_other_over_share": min(stalled["rates"]) / share,
            "stalled_host_bytes": stalled["stalled_host_bytes"],
            "reader_limit": STALLED_LIMIT,
        }
        chunk = link.chunk_seconds("buffer/send") if link.rate else 0.0
        delays = await _small_writes(peer, proc, bulk, chunk)
        chunk_ms = chunk * 1000 if link.rate else None
        # A perfect host's worst case: the probe arrives just after a load
        # chunk started, waits for its whole cycle, then runs its own.
        own_ms = link.send_seconds(REQUEST_HEADER.size + PROBE_SIZE) * 1000 if link.rate else None
        out["small_write_under_load"] = {
            "link": link.label,
            "probes": len(delays),
            "median_ms": percentile(delays, 0.5) * 1000 if delays else None,
            "max_ms": max(delays) * 1000 if delays else None,
            "chunk_time_ms": chunk_ms,
            "limit_ms": chunk_ms + 2 if chunk_ms is not None else None,
            "perfect_host_worst_ms": chunk_ms + own_ms
            if chunk_ms is not None and own_ms is not None
            else None,
        }
    pty_path = await proc.start_emulator(None, 0.0)
    async with open_modem(pty_path, backend=backend, guard_time=GUARD_TIME) as modem:
        await modem.activate_pdp(1, apn="internet")
        peer = StackPeer(modem, SSLConfig(cafile=proc.ca_pem))
        latency, from_write = await _push_latency(peer, proc, ticks)
    out["push_latency"] = {
        "link": "pty",
        "messages": len(latency),
        "median_us": percentile(latency, 0.5) * 1e6,
        "p99_us": percentile(latency, 0.99) * 1e6,
        "from_pty_write_median_us": percentile(from_write, 0.5) * 1e6 if from_write else None,
        "from_pty_write_p99_us": percentile(from_write, 0.99) * 1e6 if from_write else None,
    }
    return out
