"""The emulator side of a benchmark, in its own process.

The measured process only runs host code, so its ``time.process_time`` is the
host's CPU cost. The emulator process (``multiprocessing``, spawn) serves one
:class:`~quectel_aio.testing.ModemEmulator` at a time on a pty, configured per
link model on request, with

* in-process targets (:data:`MEM_SOURCE`, :data:`MEM_SINK`, :data:`MEM_TICKER`):
  the host stack alone;
* a TLS source and a TLS sink server on 127.0.0.1 (:data:`TLS_HOST`): the same
  through real TLS;
* a spare raw pty for the raw pty baselines.

Requests and replies travel over a :class:`multiprocessing.connection.Connection`
as tuples; :class:`EmulatorProcess` is the measured side's handle.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import re
import selectors
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from multiprocessing.connection import Connection
from typing import Any

from ..testing import (
    REQUEST_HEADER,
    TICK_STAMP,
    EmulatorConfig,
    ModemEmulator,
    PtyPair,
    SinkTarget,
    SourceTarget,
    TargetRecord,
    TickerTarget,
    make_ca,
    open_pty_pair,
    server_ssl_context,
    start_tls_server,
)

__all__ = [
    "MEM_SINK",
    "MEM_SOURCE",
    "MEM_TICKER",
    "TLS_HOST",
    "STAMP",
    "EmulatorProcess",
    "emulator_process",
    "pull_fd",
    "push_fd",
]

MEM_SOURCE = "source.mem.bench"
MEM_SINK = "sink.mem.bench"
MEM_TICKER = "ticker.mem.bench"
TLS_HOST = "tls.bench.test"
#: Guard time of ``+++`` in the benchmark emulator (short, so runs stay short).
GUARD_TIME = 0.05
BLOCK = 64 * 1024
READ_SIZE = 65536
REPLY_TIMEOUT = 300.0
#: A pty crossing stamp: ``time.monotonic_ns()`` of its writing.
STAMP = struct.Struct("<q")
#: A direct-push URC header of one ticker message; the send stamp follows it.
_TICK_URC = re.compile(rb'\+QSSLURC: "recv",\d+,64\r\n')


async def push_fd(fd: int, total: int, block: bytes) -> None:
    """Write ``total`` bytes (``block`` repeated) into a non-blocking descriptor as fast as it takes them."""
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


async def stamp_fd(fd: int, count: int, interval: float) -> None:
    """Write ``count`` stamps (``time.monotonic_ns()`` as 8 bytes) into ``fd``, ``interval`` s apart."""
    for _ in range(count):
        os.write(fd, STAMP.pack(time.monotonic_ns()))
        await asyncio.sleep(interval)


async def collect_stamps(fd: int, count: int, armed: Callable[[], object]) -> list[int]:
    """Read ``count`` stamps from a non-blocking ``fd``; returns each one's delay in ns.

    ``armed`` runs once the reader is registered. A stamp's delay is the time
    from its writing to the read that completed it.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    pending = b""
    delays: list[int] = []

    def ready() -> None:
        nonlocal pending
        try:
            pending += os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        now = time.monotonic_ns()
        while len(pending) >= STAMP.size:
            delays.append(now - STAMP.unpack_from(pending)[0])
            pending = pending[STAMP.size :]
        if len(delays) >= count and not done.done():
            done.set_result(None)

    loop.add_reader(fd, ready)
    try:
        armed()
        async with asyncio.timeout(REPLY_TIMEOUT):
            await done
    finally:
        loop.remove_reader(fd)
    return delays


async def pull_fd(fd: int, total: int, start: Callable[[], object] | None = None) -> tuple[float, float, int]:
    """Read ``total`` bytes from a non-blocking fd; ``start`` runs once reading is armed.

    Returns:
        ``(first, last, first_size)``: ``time.monotonic()`` of the first and
        the last read, and the size of the first read.
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    got = 0
    first = last = 0.0
    first_size = 0

    def ready() -> None:
        nonlocal got, first, last, first_size
        try:
            n = len(os.read(fd, READ_SIZE))
        except BlockingIOError:
            return
        last = time.monotonic()
        if got == 0:
            first, first_size = last, n
        got += n
        if got >= total and not done.done():
            done.set_result(None)

    loop.add_reader(fd, ready)
    try:
        if start is not None:
            start()
        await done
    finally:
        loop.remove_reader(fd)
    return first, last, first_size


async def _tls_source(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    (left,) = REQUEST_HEADER.unpack(await reader.readexactly(REQUEST_HEADER.size))
    block = os.urandom(BLOCK)
    while left > 0:
        n = min(left, BLOCK)
        writer.write(block[:n])
        left -= n
        await writer.drain()
    while await reader.read(READ_SIZE):
        pass


def _tls_sink(records: list[TargetRecord]) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        record = TargetRecord()
        records.append(record)
        (left,) = REQUEST_HEADER.unpack(await reader.readexactly(REQUEST_HEADER.size))
        while left > 0:
            data = await reader.read(READ_SIZE)
            if not data:
                return
            record.arrived(data)
            left -= len(data)
        writer.write(b"K")
        await writer.drain()
        while await reader.read(READ_SIZE):
            pass

    return handle


def _record_summary(record: TargetRecord) -> dict[str, Any]:
    return {
        "received": record.received,
        "sent": record.sent,
        "first_at": record.first_at,
        "last_at": record.last_at,
        "first_size": record.first_size,
        "digest": record.digest,
    }


class _Server:
    def __init__(self, conn: Connection, ca_pem: bytes, tls_ports: dict[str, int]) -> None:
        self.conn = conn
        self.ca_pem = ca_pem
        self.tls_ports = tls_ports
        self.sink = SinkTarget()
        self.targets = {MEM_SOURCE: SourceTarget(), MEM_SINK: self.sink, MEM_TICKER: TickerTarget()}
        self.tls_records: list[TargetRecord] = []
        self.emulator: ModemEmulator | None = None
        self.serving: contextlib.AbstractAsyncContextManager[str] | None = None
        self.seen = 0
        self.sink_seen = 0
        self.tls_seen = 0
        #: ``(send stamp, pty write time)`` of ticker messages, in ns (see tap_ticks).
        self.tick_writes: list[tuple[int, int]] = []

    async def start(self, baudrate: int | None, latency: float) -> str:
        await self.stop()
        config = EmulatorConfig(
            host_map={TLS_HOST: "127.0.0.1"},
            targets=self.targets,
            link_baudrate=baudrate,
            command_latency=latency,
            escape_guard_time=GUARD_TIME,
        )
        self.emulator = ModemEmulator(config)
        self.seen = 0
        self.serving = self.emulator.serve_pty()
        return await self.serving.__aenter__()

    def _take_tick_writes(self) -> list[tuple[int, int]]:
        taken, self.tick_writes = self.tick_writes, []
        return taken

    async def stop(self) -> None:
        serving, self.serving = self.serving, None
        if serving is not None:
            await serving.__aexit__(None, None, None)

    def tap_ticks(self, on: bool) -> None:
        """Record when each ticker message is handed to the pty (``tick_writes`` in :meth:`stats`)."""
        if self.emulator is not None:
            self.emulator.output_tap = self._record_ticks if on else None

    def _record_ticks(self, data: bytes) -> None:
        now = time.monotonic_ns()
        for match in _TICK_URC.finditer(data):
            stamp = data[match.end() : match.end() + TICK_STAMP.size]
            if len(stamp) == TICK_STAMP.size:
                self.tick_writes.append((TICK_STAMP.unpack(stamp)[0], now))

    def stats(self) -> dict[str, Any]:
        fresh = self.emulator.command_log[self.seen :] if self.emulator is not None else []
        self.seen += len(fresh)
        sinks = self.sink.records[self.sink_seen :]
        self.sink_seen += len(sinks)
        tls = self.tls_records[self.tls_seen :]
        self.tls_seen += len(tls)
        return {
            "commands": dict(Counter(c.name for c in fresh)),
            "cpu": time.process_time(),
            "tick_writes": self._take_tick_writes(),
            "mem_sink": [_record_summary(r) for r in sinks],
            "tls_sink": [_record_summary(r) for r in tls],
        }


async def _serve(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    ca = make_ca("quectel-aio benchmark CA", key_type="rsa")
    cert = ca.issue_server_cert([TLS_HOST], key_type="rsa")
    requests: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    block = os.urandom(BLOCK)
    tls_records: list[TargetRecord] = []

    def on_request() -> None:
        try:
            requests.put_nowait(conn.recv())
        except EOFError:
            loop.remove_reader(conn.fileno())
            requests.put_nowait(("stop",))

    context = server_ssl_context(cert.chain_pem, cert.key_pem)
    spare: PtyPair | None = None
    async with (
        await start_tls_server(context, _tls_source) as source,
        await start_tls_server(context, _tls_sink(tls_records)) as sink,
    ):
        server = _Server(conn, ca.cert_pem, {"source": source.port, "sink": sink.port})
        server.tls_records = tls_records
        try:
            spare = open_pty_pair()
            conn.send({"ca_pem": ca.cert_pem, "tls_ports": server.tls_ports, "raw": spare.path})
            loop.add_reader(conn.fileno(), on_request)
            while True:
                request = await requests.get()
                op = request[0]
                if op == "stop":
                    break
                try:
                    if op == "start":
                        conn.send({"modem": await server.start(request[1], request[2])})
                    elif op == "push":
                        await push_fd(spare.master_fd, request[1], block)
                        conn.send("done")
                    elif op == "pull":
                        await pull_fd(spare.master_fd, request[1])
                        conn.send("done")
                    elif op == "stamp":
                        await stamp_fd(spare.master_fd, request[1], request[2])
                        conn.send("done")
                    elif op == "collect":
                        delays = await collect_stamps(spare.master_fd, request[1], lambda: conn.send("done"))
                        conn.send({"delays_ns": delays})
                    elif op == "stats":
                        conn.send(server.stats())
                    elif op == "tap":
                        server.tap_ticks(bool(request[1]))
                        conn.send("done")
                    else:
                        conn.send(f"unknown request {op!r}")
                except Exception as exc:  # reported to the measured process, which raises
                    conn.send(f"{type(exc).__name__}: {exc}")
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(conn.fileno())
            await server.stop()
            if spare is not None:
                spare.close()


def _fine_timer_loop() -> asyncio.AbstractEventLoop:
    # epoll and poll round every timeout up to the next millisecond, which would
    # add up to 1 ms to every paced delivery and every turnaround; select()
    # takes microseconds, so the link model keeps its timing.
    return asyncio.SelectorEventLoop(selectors.SelectSelector())


def emulator_process(conn: Connection) -> None:
    """Entry point of the emulator process: serve until told to stop or the pipe closes."""
    try:
        with asyncio.Runner(loop_factory=_fine_timer_loop) as runner:
            runner.run(_serve(conn))
    finally:
        conn.close()


class EmulatorProcess:
    """The measured process's handle on the emulator process.

    Use :meth:`running` to start it; :meth:`start_emulator` (re)starts the
    emulator with a link model and returns its pty path.
    """

    def __init__(self, conn: Connection, process: multiprocessing.process.BaseProcess) -> None:
        self._conn = conn
        self._process = process
        self.info: dict[str, Any] = {}

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls) -> AsyncIterator[EmulatorProcess]:
        """Spawn the emulator process; stop it on exit."""
        mp = multiprocessing.get_context("spawn")
        ours, theirs = mp.Pipe()
        process = mp.Process(target=emulator_process, args=(theirs,), name="quectel-aio-bench-emulator")
        process.daemon = True
        process.start()
        theirs.close()
        handle = cls(ours, process)
        try:
            handle.info = await handle.reply(timeout=60)
            yield handle
        finally:
            with contextlib.suppress(OSError):
                ours.send(("stop",))
            await asyncio.to_thread(process.join, 10)
            if process.is_alive():
                process.terminate()
                await asyncio.to_thread(process.join, 5)
            ours.close()

    @property
    def ca_pem(self) -> bytes:
        """The CA that signed the TLS servers' certificate."""
        return bytes(self.info["ca_pem"])

    @property
    def raw_pty(self) -> str:
        """Slave path of the spare raw pty."""
        return str(self.info["raw"])

    def tls_port(self, role: str) -> int:
        """Port of the TLS ``"source"`` or ``"sink"`` server."""
        return int(self.info["tls_ports"][role])

    def send(self, *request: Any) -> None:
        """Send a request without waiting for its reply."""
        self._conn.send(request)

    async def reply(self, timeout: float = REPLY_TIMEOUT) -> Any:
        """Wait for the next reply (on the event loop)."""
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
            answer = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"the emulator process ended (exit code {self._process.exitcode})") from None
        if isinstance(answer, str) and answer != "done":
            raise RuntimeError(f"emulator process: {answer}")
        return answer

    async def call(self, *request: Any) -> Any:
        """Send a request and wait for its reply."""
        self.send(*request)
        return await self.reply()

    async def start_emulator(self, baudrate: int | None, latency: float) -> str:
        """Serve a fresh emulator with this link model; returns the pty slave path."""
        answer = await self.call("start", baudrate, latency)
        return str(answer["modem"])

    async def tap_ticks(self, on: bool) -> None:
        """Make the emulator record when each ticker message reaches the pty (or stop)."""
        await self.call("tap", on)

    async def stats(self) -> dict[str, Any]:
        """Commands logged, emulator-process CPU and sink records since the last call."""
        answer: dict[str, Any] = await self.call("stats")
        return answer
