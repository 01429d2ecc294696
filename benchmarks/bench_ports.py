"""Byte-port throughput over one pty: raw add_reader/os.read versus each backend.

Run: ``python benchmarks/bench_ports.py [--mib N] [--repeat N]``. Prints a table
and writes ``benchmarks/results/ports.json``.

Direction "read" (module to host, the download path): a thread writes into the
pty master with blocking ``os.write``; the event loop consumes the slave, either
raw (``loop.add_reader`` + ``os.read``) or through ``Port.read()``.

Direction "write" (host to module): the event loop writes the slave, raw
(``loop.add_writer`` + ``os.write``) or through ``Port.write()`` +
``Port.drain()``; a thread drains the master with blocking ``os.read``.

"pyserial-asyncio 1K" is the pyserial-asyncio backend with the stock 1 KiB read
size put back. The socket (loopback TCP) and memory backends are measured too, for
reference; they do not go through the pty.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import platform
import statistics
import sys
import threading
import time
import tty
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

from quectel_aio._memory_ports import memory_port_pair
from quectel_aio._ports import BACKENDS, Port, open_port

CHUNK = 64 * 1024
STOCK_PYSERIAL = "pyserial-asyncio 1K"
RESULTS = Path(__file__).parent / "results" / "ports.json"


class Pty:
    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        os.close(self.master)
        os.close(self.slave)


def feed_master(fd: int, total: int) -> threading.Thread:
    block = os.urandom(CHUNK)

    def run() -> None:
        left = total
        while left > 0:
            left -= os.write(fd, block[: min(left, CHUNK)])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def drain_master(fd: int, total: int) -> threading.Thread:
    def run() -> None:
        left = total
        while left > 0:
            left -= len(os.read(fd, CHUNK))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


class Stats:
    def __init__(self) -> None:
        self.calls = 0


# -- read direction -----------------------------------------------------------


async def raw_read(pty: Pty, total: int, stats: Stats) -> None:
    loop = asyncio.get_running_loop()
    fd = os.dup(pty.slave)
    os.set_blocking(fd, False)
    done: asyncio.Future[None] = loop.create_future()
    got = 0

    def ready() -> None:
        nonlocal got
        try:
            data = os.read(fd, 256 * 1024)
        except BlockingIOError:
            return
        stats.calls += 1
        got += len(data)
        if got >= total and not done.done():
            done.set_result(None)

    loop.add_reader(fd, ready)
    feeder = feed_master(pty.master, total)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    feeder.join()


async def port_read(port: Port, start: Callable[[], Any], total: int, stats: Stats) -> None:
    peer = start()
    got = 0
    while got < total:
        data = await port.read()
        if not data:
            raise RuntimeError("unexpected EOF")
        stats.calls += 1
        got += len(data)
    if isinstance(peer, threading.Thread):
        peer.join()
    elif isinstance(peer, asyncio.Task):
        await peer


# -- write direction ----------------------------------------------------------


async def raw_write(pty: Pty, total: int, stats: Stats) -> None:
    loop = asyncio.get_running_loop()
    fd = os.dup(pty.slave)
    os.set_blocking(fd, False)
    block = os.urandom(CHUNK)
    done: asyncio.Future[None] = loop.create_future()
    left = total

    def ready() -> None:
        nonlocal left
        try:
            n = os.write(fd, block[: min(left, CHUNK)])
        except BlockingIOError:
            return
        stats.calls += 1
        left -= n
        if left <= 0 and not done.done():
            done.set_result(None)

    drainer = drain_master(pty.master, total)
    loop.add_writer(fd, ready)
    try:
        await done
    finally:
        loop.remove_writer(fd)
        os.close(fd)
    await asyncio.to_thread(drainer.join)


async def port_write(port: Port, sink: Callable[[], Any], total: int, stats: Stats) -> None:
    block = os.urandom(CHUNK)
    peer = sink()
    left = total
    while left > 0:
        n = min(left, CHUNK)
        port.write(block[:n])
        await port.drain(timeout=10)
        stats.calls += 1
        left -= n
    if isinstance(peer, threading.Thread):
        await asyncio.to_thread(peer.join)
    elif isinstance(peer, asyncio.Task):
        await peer


# -- driver -------------------------------------------------------------------


Runner = Callable[[int, Stats], Awaitable[None]]


async def timed(run: Runner, total: int, repeat: int) -> dict[str, Any]:
    speeds: list[float] = []
    calls: list[int] = []
    for _ in range(repeat):
        stats = Stats()
        started = time.perf_counter()
        await run(total, stats)
        elapsed = time.perf_counter() - started
        speeds.append(total / elapsed / 1e6)
        calls.append(stats.calls)
    return {
        "mb_per_s_median": round(statistics.median(speeds), 1),
        "mb_per_s_best": round(max(speeds), 1),
        "calls": calls[0],
        "bytes_per_call": round(total / calls[0]),
    }


async def bench(total: int, repeat: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    pty = Pty()
    try:
        for direction in ("read", "write"):
            raw = raw_read if direction == "read" else raw_write
            result = await timed(functools.partial(raw, pty), total, repeat)
            rows.append({"backend": "raw pty", "direction": direction, **result})
            for label in ("serialx", "pyserial-asyncio", STOCK_PYSERIAL):
                backend = "pyserial-asyncio" if label == STOCK_PYSERIAL else label
                if backend not in BACKENDS:
                    continue
                port = await open_port(pty.path, backend=backend)
                if label == STOCK_PYSERIAL:  # undo the read-size fix, for comparison
                    port._transport._max_read_size = 1024  # type: ignore[attr-defined]
                try:
                    if direction == "read":

                        async def run(n: int, s: Stats, port: Port = port) -> None:
                            await port_read(port, lambda: feed_master(pty.master, n), n, s)
                    else:

                        async def run(n: int, s: Stats, port: Port = port) -> None:
                            await port_write(port, lambda: drain_master(pty.master, n), n, s)

                    result = await timed(run, total, repeat)
                finally:
                    await port.aclose()
                rows.append({"backend": label, "direction": direction, **result})
    finally:
        pty.close()

    # reference rows: not over the pty
    rows.append({"backend": "socket (loopback)", "direction": "read", **await bench_socket(total, repeat)})
    rows.append({"backend": "memory", "direction": "read", **await bench_memory(total, repeat)})
    return rows


async def bench_socket(total: int, repeat: int) -> dict[str, Any]:
    writers: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writers.put(writer)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    host, tcp_port = server.sockets[0].getsockname()[:2]
    port = await open_port(f"socket://{host}:{tcp_port}")
    writer = await writers.get()
    block = os.urandom(CHUNK)

    async def send(n: int) -> None:
        for start in range(0, n, CHUNK):
            writer.write(block[: min(CHUNK, n - start)])
            await writer.drain()

    async def run(n: int, s: Stats) -> None:
        await port_read(port, lambda: asyncio.create_task(send(n)), n, s)

    try:
        return await timed(run, total, repeat)
    finally:
        await port.aclose()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()


async def bench_memory(total: int, repeat: int) -> dict[str, Any]:
    a, b = memory_port_pair()
    block = os.urandom(CHUNK)

    async def send(n: int) -> None:
        for start in range(0, n, CHUNK):
            a.write(block[: min(CHUNK, n - start)])
            await a.drain(timeout=10)

    async def run(n: int, s: Stats) -> None:
        await port_read(b, lambda: asyncio.create_task(send(n)), n, s)

    try:
        return await timed(run, total, repeat)
    finally:
        await a.aclose()
        await b.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=32, help="MiB per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    total = int(args.mib * 1024 * 1024)

    rows = asyncio.run(bench(total, args.repeat))

    print(f"{args.mib:g} MiB per run, median of {args.repeat} (best in brackets)")
    print(f"{'backend':<22} {'dir':<6} {'MB/s':>16} {'calls':>8} {'B/call':>8}")
    for row in rows:
        speed = f"{row['mb_per_s_median']:.1f} ({row['mb_per_s_best']:.1f})"
        print(
            f"{row['backend']:<22} {row['direction']:<6} {speed:>16}"
            f" {row['calls']:>8} {row['bytes_per_call']:>8}"
        )

    report = {
        "benchmark": "ports",
        "mib_per_run": args.mib,
        "repeat": args.repeat,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": {name: version(name) for name in ("serialx", "pyserial-asyncio", "pyserial")},
        "results": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
