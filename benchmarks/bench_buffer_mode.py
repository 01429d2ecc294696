"""Buffer-mode goodput through the emulator on an unthrottled pty, beside raw pty throughput.

Run: ``python -m benchmarks.bench_buffer_mode [--mib N] [--repeat N] [--backend B] [--json PATH]``.
Prints a table and writes ``benchmarks/results/buffer_mode.json``.

Two processes. The emulator process (multiprocessing, spawn) runs the
:class:`~quectel_aio.testing.ModemEmulator` on a pty, a TLS *source* server
(streams the requested number of bytes) and a TLS *sink* server (counts bytes,
answers one byte when all arrived), both on 127.0.0.1, and two spare raw ptys
for the baselines. The client process (this one) only runs the code under
test, so its ``time.process_time`` is the stack's CPU cost.

Rows, each measured ``--repeat`` times, interleaved (A/B/A/B) in one run:

* ``raw pty read``: the emulator process writes N bytes into a raw pty master
  (``add_writer`` + ``os.write``, 64 KiB blocks); the client reads the slave
  with ``loop.add_reader`` + ``os.read(65536)``. The module-to-host baseline.
* ``port read``: the same through ``quectel_aio._ports.open_port`` and
  ``Port.read()`` with the selected backend.
* ``stack recv``: ``Modem.open_connection`` in buffer mode; the client asks
  the source server for N bytes and reads them from the ``StreamReader``
  (``AT+QSSLRECV=<id>,1500`` cycles). Timed from the request to the last byte.
* ``raw pty write``: the client writes N bytes into a raw pty slave
  (``add_writer`` + ``os.write``); timed until the emulator process has read
  them all from the master. The host-to-module baseline.
* ``stack send``: the client writes N bytes (``writer.write`` + ``drain``,
  64 KiB blocks; ``AT+QSSLSEND=<id>,1460`` cycles), timed until the sink
  server's one-byte acknowledgement has come back, i.e. until the sink has
  received everything.

Ratios are stack / raw of the same direction, taken per repetition (the two
runs are adjacent in time) and then the median. ``cycle µs`` is the run time
divided by the number of ``AT+QSSLRECV`` / ``AT+QSSLSEND`` commands the
emulator logged during the run (``B/cmd`` is the payload per command).
``CPU s/MB`` is client-process CPU per 10^6 payload bytes. ``host µs`` and
``emu µs`` split the cycle: client-process CPU and emulator-process CPU
(emulator and TLS server, including connection open and close) per command;
a cycle is a strict ping-pong, so what is left of it is wake-up latency.
MB means 10^6 bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import multiprocessing
import os
import platform
import statistics
import struct
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import structlog

from quectel_aio import Modem, SSLConfig
from quectel_aio._ports import Port, open_port
from quectel_aio.testing import (
    EmulatorConfig,
    ModemEmulator,
    PtyPair,
    make_ca,
    open_pty_pair,
    server_ssl_context,
    start_tls_server,
)

RESULTS = Path(__file__).parent / "results" / "buffer_mode.json"
BENCH_HOST = "bench.test"
BLOCK = 64 * 1024
READ_SIZE = 65536
RECV_CHUNK = 1500  # AT+QSSLRECV=<id>,1500
SEND_CHUNK = 1460  # AT+QSSLSEND=<id>,<=1460
HEADER = struct.Struct(">Q")
RUN_TIMEOUT = 300.0
BACKENDS = ("serialx", "pyserial-asyncio")


# -- emulator process ---------------------------------------------------------------------------


async def _push_pty(fd: int, total: int, block: bytes) -> None:
    """Write ``total`` bytes into a non-blocking pty master as fast as it takes them."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    left = total

    def ready() -> None:
        nonlocal left
        try:
            left -= os.write(fd, block[: min(left, len(block))])
        except BlockingIOError:
            return
        if left <= 0 and not done.done():
            done.set_result(None)

    loop.add_writer(fd, ready)
    try:
        await done
    finally:
        loop.remove_writer(fd)


async def _pull_pty(fd: int, total: int, start: Callable[[], object] | None = None) -> None:
    """Read ``total`` bytes from a non-blocking pty master; ``start`` runs once reading is armed."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    got = 0

    def ready() -> None:
        nonlocal got
        try:
            got += len(os.read(fd, READ_SIZE))
        except BlockingIOError:
            return
        if got >= total and not done.done():
            done.set_result(None)

    loop.add_reader(fd, ready)
    try:
        if start is not None:
            start()
        await done
    finally:
        loop.remove_reader(fd)


async def _source(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """TLS source: read the wanted byte count, stream that many bytes, wait for the client's close."""
    (left,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    block = os.urandom(BLOCK)
    while left > 0:
        n = min(left, BLOCK)
        writer.write(block[:n])
        left -= n
        await writer.drain()
    while await reader.read(READ_SIZE):
        pass


async def _sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """TLS sink: read the announced byte count, count the bytes, then acknowledge with one byte."""
    (left,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    while left > 0:
        data = await reader.read(READ_SIZE)
        if not data:
            return
        left -= len(data)
    writer.write(b"K")
    await writer.drain()
    while await reader.read(READ_SIZE):
        pass


async def _serve(conn: Connection, chain_pem: bytes, key_pem: bytes) -> None:
    loop = asyncio.get_running_loop()
    emu = ModemEmulator(EmulatorConfig(host_map={BENCH_HOST: "127.0.0.1"}))
    requests: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    block = os.urandom(BLOCK)
    ptys: dict[str, PtyPair] = {}
    seen = 0

    def on_request() -> None:
        try:
            requests.put_nowait(conn.recv())
        except EOFError:
            loop.remove_reader(conn.fileno())
            requests.put_nowait(("stop",))

    async with (
        emu.serve_pty() as modem_path,
        await start_tls_server(server_ssl_context(chain_pem, key_pem), _source) as source,
        await start_tls_server(server_ssl_context(chain_pem, key_pem), _sink) as sink,
    ):
        try:
            ptys = {"raw": open_pty_pair(), "port": open_pty_pair()}
            conn.send(
                {
                    "modem": modem_path,
                    "raw": ptys["raw"].path,
                    "port": ptys["port"].path,
                    "source_port": source.port,
                    "sink_port": sink.port,
                }
            )
            loop.add_reader(conn.fileno(), on_request)
            while True:
                request = await requests.get()
                op = request[0]
                if op == "stop":
                    break
                if op == "push":
                    await _push_pty(ptys[request[1]].master_fd, request[2], block)
                    conn.send("done")
                elif op == "pull":
                    await _pull_pty(ptys[request[1]].master_fd, request[2])
                    conn.send("done")
                elif op == "stats":
                    fresh = emu.command_log[seen:]
                    seen += len(fresh)
                    conn.send({"commands": dict(Counter(c.name for c in fresh)), "cpu": time.process_time()})
                else:
                    conn.send(f"unknown request {op!r}")
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(conn.fileno())
            for pair in ptys.values():
                pair.close()


def emulator_process(conn: Connection, chain_pem: bytes, key_pem: bytes) -> None:
    """Entry point of the emulator process: serve until told to stop or the pipe closes."""
    try:
        asyncio.run(_serve(conn, chain_pem, key_pem))
    finally:
        conn.close()


# -- client side --------------------------------------------------------------------------------


class Control:
    """The client's end of the pipe to the emulator process; replies are awaited on the loop."""

    def __init__(self, conn: Connection, process: multiprocessing.process.BaseProcess) -> None:
        self._conn = conn
        self._process = process

    def send(self, *request: Any) -> None:
        self._conn.send(request)

    async def reply(self, timeout: float = RUN_TIMEOUT) -> Any:
        if not self._conn.poll():
            loop = asyncio.get_running_loop()
            ready: asyncio.Future[None] = loop.create_future()
            fd = self._conn.fileno()

            def wake() -> None:
                if not ready.done():
                    ready.set_result(None)

            loop.add_reader(fd, wake)
            try:
                async with asyncio.timeout(timeout):
                    await ready
            finally:
                loop.remove_reader(fd)
        try:
            return self._conn.recv()
        except EOFError:
            raise RuntimeError(f"the emulator process ended (exit code {self._process.exitcode})") from None

    async def call(self, *request: Any) -> Any:
        self.send(*request)
        return await self.reply()

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("stats")
        return result


@dataclass
class Sample:
    seconds: float
    cpu: float
    commands: int = 0
    emulator_cpu: float = 0.0


@dataclass
class Bench:
    control: Control
    total: int
    info: dict[str, Any]
    raw_fd: int
    port: Port
    modem: Modem
    ssl: SSLConfig
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    # -- baselines ---------------------------------------------------------------

    async def raw_read(self, total: int) -> Sample:
        started, cpu = time.perf_counter(), time.process_time()
        await _pull_pty(self.raw_fd, total, lambda: self.control.send("push", "raw", total))
        sample = Sample(time.perf_counter() - started, time.process_time() - cpu)
        await self._expect_done()
        return sample

    async def raw_write(self, total: int) -> Sample:
        loop = asyncio.get_running_loop()
        fd = self.raw_fd
        block = os.urandom(BLOCK)
        written: asyncio.Future[None] = loop.create_future()
        left = total

        def ready() -> None:
            nonlocal left
            try:
                left -= os.write(fd, block[: min(left, BLOCK)])
            except BlockingIOError:
                return
            if left <= 0 and not written.done():
                written.set_result(None)

        self.control.send("pull", "raw", total)
        started, cpu = time.perf_counter(), time.process_time()
        loop.add_writer(fd, ready)
        try:
            await written
        finally:
            loop.remove_writer(fd)
        await self._expect_done()
        return Sample(time.perf_counter() - started, time.process_time() - cpu)

    async def port_read(self, total: int) -> Sample:
        started, cpu = time.perf_counter(), time.process_time()
        self.control.send("push", "port", total)
        got = 0
        while got < total:
            data = await self.port.read()
            if not data:
                raise RuntimeError("port read: unexpected EOF")
            got += len(data)
        sample = Sample(time.perf_counter() - started, time.process_time() - cpu)
        await self._expect_done()
        return sample

    async def _expect_done(self) -> None:
        answer = await self.control.reply()
        if answer != "done":
            raise RuntimeError(f"emulator process: {answer}")

    # -- the stack ------------------------------------------------------------------

    async def stack_recv(self, total: int) -> Sample:
        return await self._stack(total, self.info["source_port"], self._receive, "+QSSLRECV")

    async def stack_send(self, total: int) -> Sample:
        return await self._stack(total, self.info["sink_port"], self._send, "+QSSLSEND")

    async def _stack(
        self,
        total: int,
        server_port: int,
        transfer: Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]],
        command: str,
    ) -> Sample:
        before = await self.control.stats()
        reader, writer = await self.modem.open_connection(BENCH_HOST, server_port, ssl=self.ssl)
        try:
            started, cpu = time.perf_counter(), time.process_time()
            await transfer(reader, writer, total)
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        after = await self.control.stats()
        return Sample(seconds, cpu, after["commands"].get(command, 0), after["cpu"] - before["cpu"])

    @staticmethod
    async def _receive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, total: int) -> None:
        writer.write(HEADER.pack(total))
        got = 0
        while got < total:
            data = await reader.read(READ_SIZE)
            if not data:
                raise RuntimeError(f"stack recv: EOF after {got} of {total} bytes")
            got += len(data)

    @staticmethod
    async def _send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, total: int) -> None:
        block = os.urandom(BLOCK)
        writer.write(HEADER.pack(total))
        left = total
        while left > 0:
            n = min(left, BLOCK)
            writer.write(block[:n])
            left -= n
            await writer.drain()
        if await reader.readexactly(1) != b"K":
            raise RuntimeError("stack send: bad acknowledgement from the sink")

    # -- schedule ---------------------------------------------------------------------

    async def measure(self, repeat: int) -> None:
        rows: list[tuple[str, Callable[[int], Awaitable[Sample]]]] = [
            ("raw_read", self.raw_read),
            ("port_read", self.port_read),
            ("stack_recv", self.stack_recv),
            ("raw_write", self.raw_write),
            ("stack_send", self.stack_send),
        ]
        warm_up = min(self.total, 256 * 1024)
        for _name, run in rows:
            async with asyncio.timeout(RUN_TIMEOUT):
                await run(warm_up)
        for _ in range(repeat):
            for name, run in rows:
                async with asyncio.timeout(RUN_TIMEOUT):
                    sample = await run(self.total)
                self.samples.setdefault(name, []).append(sample)


async def run_bench(total: int, repeat: int, backend: str) -> dict[str, list[Sample]]:
    ca = make_ca("quectel-aio benchmark CA", key_type="rsa")
    cert = ca.issue_server_cert([BENCH_HOST], key_type="rsa")
    mp = multiprocessing.get_context("spawn")
    ours, theirs = mp.Pipe()
    process = mp.Process(
        target=emulator_process,
        args=(theirs, cert.chain_pem, cert.key_pem),
        name="quectel-aio-bench-emulator",
        daemon=True,
    )
    process.start()
    theirs.close()
    control = Control(ours, process)
    try:
        info: dict[str, Any] = await control.reply(timeout=60)
        raw_fd = os.open(info["raw"], os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            port = await open_port(info["port"], backend=backend)
            try:
                async with Modem.open(info["modem"], backend=backend) as modem:
                    await modem.activate_pdp(1, apn="internet")
                    bench = Bench(control, total, info, raw_fd, port, modem, SSLConfig(cafile=ca.cert_pem))
                    await bench.measure(repeat)
                    return bench.samples
            finally:
                await port.aclose()
        finally:
            os.close(raw_fd)
    finally:
        with contextlib.suppress(OSError):
            control.send("stop")
        await asyncio.to_thread(process.join, 10)
        if process.is_alive():
            process.terminate()
            await asyncio.to_thread(process.join, 5)
        ours.close()


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Drop the driver's info-level lifecycle logs for the run; restore the configuration after."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**saved)


# -- report -------------------------------------------------------------------------------------

ROWS = {
    "raw_read": ("raw pty read (add_reader)", None),
    "port_read": ("port read ({backend})", "raw_read"),
    "stack_recv": ("stack recv (AT+QSSLRECV)", "raw_read"),
    "raw_write": ("raw pty write (add_writer)", None),
    "stack_send": ("stack send (AT+QSSLSEND)", "raw_write"),
}


def summarize(samples: dict[str, list[Sample]], total: int) -> dict[str, dict[str, Any]]:
    mb = total / 1e6
    out: dict[str, dict[str, Any]] = {}
    for name, runs in samples.items():
        speeds = [mb / s.seconds for s in runs]
        row: dict[str, Any] = {
            "mb_per_s": round(statistics.median(speeds), 2),
            "runs_mb_per_s": [round(v, 2) for v in speeds],
            "seconds": round(statistics.median(s.seconds for s in runs), 4),
            "cpu_s_per_mb": round(statistics.median(s.cpu / mb for s in runs), 4),
        }
        base = ROWS[name][1]
        if base is not None:
            ratios = [b.seconds / s.seconds for s, b in zip(runs, samples[base], strict=True)]
            row["ratio_to_" + base] = round(statistics.median(ratios), 3)
        if name.startswith("stack_"):
            chunk = RECV_CHUNK if name == "stack_recv" else SEND_CHUNK
            commands = statistics.median(s.commands for s in runs)
            row["commands"] = commands
            row["min_commands"] = math.ceil(total / chunk)
            row["bytes_per_command"] = round(total / commands, 1)
            row["cycle_us"] = round(statistics.median(s.seconds / s.commands * 1e6 for s in runs), 1)
            row["emulator_cpu_s_per_mb"] = round(statistics.median(s.emulator_cpu / mb for s in runs), 4)
            # The cycle is a strict ping-pong, so it splits into client CPU, emulator CPU and wake-ups.
            row["client_cpu_us_per_command"] = round(
                statistics.median(s.cpu / s.commands * 1e6 for s in runs), 1
            )
            row["emulator_cpu_us_per_command"] = round(
                statistics.median(s.emulator_cpu / s.commands * 1e6 for s in runs), 1
            )
        out[name] = row
    return out


def print_table(results: dict[str, dict[str, Any]], mib: float, repeat: int, backend: str) -> None:
    print(
        f"buffer mode through the emulator on an unthrottled pty: {mib:g} MiB per run, "
        f"median of {repeat}, backend {backend}, emulator in its own process"
    )
    print(
        f"{'path':<28} {'MB/s':>8} {'ratio':>6} {'CPU s/MB':>9} {'commands':>9} {'B/cmd':>7} {'cycle µs':>9} {'host µs':>8} {'emu µs':>7}"
    )
    for name, (label, base) in ROWS.items():
        row = results[name]
        ratio = f"{row['ratio_to_' + base]:.3f}" if base else "1"
        extra = (
            f" {row['commands']:>9g} {row['bytes_per_command']:>7.0f} {row['cycle_us']:>9.1f}"
            f" {row['client_cpu_us_per_command']:>8.1f} {row['emulator_cpu_us_per_command']:>7.1f}"
            if "commands" in row
            else ""
        )
        print(
            f"{label.format(backend=backend):<28} {row['mb_per_s']:>8.1f} {ratio:>6}"
            f" {row['cpu_s_per_mb']:>9.4f}{extra}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=float, default=8.0, help="MiB per measurement (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row, interleaved (default 3)")
    parser.add_argument("--backend", choices=BACKENDS, default="serialx", help="serial backend of the port")
    parser.add_argument("--json", type=Path, default=RESULTS, help=f"result file (default {RESULTS})")
    args = parser.parse_args(argv)
    total = int(args.mib * 1024 * 1024)
    if total < 1 or args.repeat < 1:
        parser.error("--mib and --repeat must be positive")

    with quiet_logs():
        samples = asyncio.run(run_bench(total, args.repeat, args.backend))
    results = summarize(samples, total)
    print_table(results, args.mib, args.repeat, args.backend)

    report = {
        "benchmark": "buffer_mode",
        "bytes_per_run": total,
        "mib_per_run": args.mib,
        "repeat": args.repeat,
        "backend": args.backend,
        "transport": "pty (os.openpty, raw), unthrottled; emulator and TLS servers in a spawned process",
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": {name: version(name) for name in ("quectel-aio", "serialx", "pyserial-asyncio")},
        "results": results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
