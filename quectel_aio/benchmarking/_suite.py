"""The mode x link matrix through the emulator.

For each link model (unthrottled pty, then emulated baud rates and
turnarounds) the emulator process serves a fresh emulator and every peer runs
every mode and direction against the in-process targets (the host stack
alone) and, where asked, the TLS servers:

1. quectel-aio (``Modem`` streams), once per serial backend asked for, its
   repetitions interleaved with the raw pty baselines on an unthrottled link;
2. the raw transparent host (the pacing self-check: on a throttled link it
   must reach :data:`PACING_MIN` of the link rate or the link's rows are
   marked invalid);
3. the naive synchronous pyserial peer.

Each row carries goodput, the link capacity, the perfect-host bound and the
ratio to it, and host CPU per MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..ssl_config import SSLConfig
from ._model import MODES, LinkModel
from ._naive import NaivePeer
from ._process import GUARD_TIME, MEM_SINK, MEM_SOURCE, TLS_HOST, EmulatorProcess, pull_fd, push_fd
from ._raw import RawHost
from ._sample import Sample
from ._stack import SSL_CONTEXT_ID, StackPeer, open_modem, send_on

__all__ = ["PACING_MIN", "LinkPlan", "SuitePlan", "default_plan", "run_matrix", "tiny_plan"]

#: A throttled run is valid only if the raw transparent reader reaches this share of the link rate.
PACING_MIN = 0.995
STACK_KEYS = ("buffer/send", "buffer/recv", "push/recv", "transparent/recv", "transparent/send")
NAIVE_KEYS = STACK_KEYS
RAW_CLIENT_ID = 11
DATA_COMMANDS = {"buffer/send": "+QSSLSEND", "buffer/recv": "+QSSLRECV"}
MIB = 1024 * 1024


@dataclass(frozen=True)
class LinkPlan:
    """What to measure on one link model.

    Attributes:
        link: the link model.
        total: payload bytes per transfer.
        repeat: runs of each quectel-aio row (interleaved with the baselines).
        tls: also measure through the TLS servers.
        backends: serial backends of the quectel-aio rows.
        naive_total: bytes per naive transfer (0: no naive rows).
    """

    link: LinkModel
    total: int
    repeat: int = 1
    tls: bool = False
    backends: tuple[str, ...] = ("serialx",)
    naive_total: int = 0


@dataclass
class SuitePlan:
    """The whole matrix."""

    links: list[LinkPlan] = field(default_factory=list)


def default_plan(scale: float = 1.0) -> SuitePlan:
    """The default matrix; ``scale`` multiplies every size (0.1 for a quick look)."""

    def size(mib: float) -> int:
        return max(16 * 1024, int(mib * MIB * scale))

    both = ("serialx", "pyserial-asyncio")
    plans = [LinkPlan(LinkModel(None), size(2), repeat=3, tls=True, backends=both, naive_total=size(0.25))]
    for baud, mib in ((921600, 0.15), (115200, 0.02)):
        for latency in (0.001, 0.005):
            first = baud == 921600 and latency == 0.001
            plans.append(
                LinkPlan(
                    LinkModel(baud, latency),
                    size(mib),
                    tls=first,
                    backends=both if first else ("serialx",),
                    naive_total=size(mib),
                )
            )
    return SuitePlan(plans)


def tiny_plan() -> SuitePlan:
    """A few seconds: the unthrottled pty and 921600 Bd / 1 ms, small transfers, every peer."""
    return SuitePlan(
        [
            LinkPlan(LinkModel(None), 64 * 1024, tls=True, naive_total=16 * 1024),
            LinkPlan(LinkModel(921600, 0.001), 8 * 1024, naive_total=8 * 1024),
        ]
    )


Row = dict[str, Any]


class _LinkRun:
    """Measures one link plan against a freshly served emulator."""

    def __init__(self, proc: EmulatorProcess, plan: LinkPlan, path: str) -> None:
        self.proc = proc
        self.plan = plan
        self.path = path
        self.samples: dict[tuple[str, str, str, str], list[Sample | str]] = {}

    def targets(self) -> list[tuple[str, str, int, str, int]]:
        """``(name, source host, source port, sink host, sink port)`` of each target."""
        out = [("memory", MEM_SOURCE, 443, MEM_SINK, 443)]
        if self.plan.tls:
            out.append(("tls", TLS_HOST, self.proc.tls_port("source"), TLS_HOST, self.proc.tls_port("sink")))
        return out

    def _add(self, key: tuple[str, str, str, str], sample: Sample | str) -> None:
        self.samples.setdefault(key, []).append(sample)

    async def _measured(
        self,
        key: tuple[str, str, str, str],
        target: str,
        run: Callable[[], Awaitable[Sample | float]],
        total: int,
    ) -> None:
        """Run one transfer; a send's window comes from the sink's record."""
        before = await self.proc.stats()
        try:
            async with asyncio.timeout(_deadline(self.plan.link, total)):
                result = await run()
        except Exception as exc:
            self._add(key, f"failed: {type(exc).__name__}: {exc}")
            return
        after = await self.proc.stats()
        if isinstance(result, Sample):
            sample = result
        else:
            records = after["tls_sink" if target == "tls" else "mem_sink"]
            if not records:
                self._add(key, "failed: the sink saw no connection")
                return
            sample = Sample.from_record(records[-1], total, result)
        command = DATA_COMMANDS.get(key[3])
        sample.commands = after["commands"].get(command, 0) if command else 0
        sample.emulator_cpu = after["cpu"] - before["cpu"]
        self._add(key, sample)

    async def stack(self, backend: str, ca_pem: bytes) -> None:
        plan = self.plan
        # An unpaced pty: a line speed to match, so that leaving transparent
        # mode does not wait for bytes a 115200 Bd line would still carry.
        baud = plan.link.baudrate or 4_000_000
        async with open_modem(self.path, backend=backend, baudrate=baud, guard_time=GUARD_TIME) as modem:
            await modem.activate_pdp(1, apn="internet")
            peer = StackPeer(modem, SSLConfig(cafile=ca_pem))
            if plan.link.baudrate is None:  # warm up (caches, CPU clock), unrecorded
                warm = min(plan.total, 256 * 1024)
                await peer.receive(MEM_SOURCE, 443, "buffer", warm)
                async with peer.connection(MEM_SINK, 443, "buffer") as (reader, writer):
                    await send_on(reader, writer, warm)
            for _ in range(plan.repeat):
                if plan.link.baudrate is None:
                    await self.raw_pty_baselines(plan.total)
                for name, src, src_port, sink, sink_port in self.targets():
                    for key in STACK_KEYS:
                        mode, direction = key.split("/")
                        row = ("quectel-aio", backend, name, key)

                        host, port = (src, src_port) if direction == "recv" else (sink, sink_port)

                        async def run(
                            mode: str = mode, direction: str = direction, host: str = host, port: int = port
                        ) -> Sample | float:
                            if direction == "recv":
                                return await peer.receive(host, port, mode, plan.total)
                            async with peer.connection(host, port, mode) as (reader, writer):
                                return await send_on(reader, writer, plan.total)

                        await self._measured(row, name, run, plan.total)

    async def raw_pty_baselines(self, total: int) -> None:
        fd = os.open(self.proc.raw_pty, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            started = time.process_time()
            first, last, first_size = await pull_fd(fd, total, lambda: self.proc.send("push", total))
            self._add(
                ("raw pty", "os", "-", "pty/recv"),
                Sample(total, total - first_size, last - first, time.process_time() - started),
            )
            await self.proc.reply()
            self.proc.send("pull", total)
            started, begun = time.process_time(), time.monotonic()
            await push_fd(fd, total, os.urandom(64 * 1024))
            await self.proc.reply()
            seconds = time.monotonic() - begun
            self._add(
                ("raw pty", "os", "-", "pty/send"),
                Sample(total, total, seconds, time.process_time() - started),
            )
        finally:
            os.close(fd)

    async def raw_transparent(self) -> None:
        host = RawHost(self.path, GUARD_TIME)
        try:
            await host.start()
            for name, src, src_port, sink, sink_port in self.targets():
                total = self.plan.total

                async def receive(src: str = src, src_port: int = src_port, total: int = total) -> Sample:
                    return await host.transparent_receive(
                        src, src_port, total, client_id=RAW_CLIENT_ID, ctx=SSL_CONTEXT_ID
                    )

                async def send(sink: str = sink, sink_port: int = sink_port, total: int = total) -> float:
                    return await host.transparent_send(
                        sink, sink_port, total, client_id=RAW_CLIENT_ID, ctx=SSL_CONTEXT_ID
                    )

                await self._measured(
                    ("raw transparent", "os", name, "transparent/recv"), name, receive, total
                )
                await self._measured(("raw transparent", "os", name, "transparent/send"), name, send, total)
        finally:
            host.close()

    async def naive(self) -> None:
        plan = self.plan
        total = plan.naive_total
        peer = await asyncio.to_thread(NaivePeer, self.path, plan.link.baudrate or 115200, GUARD_TIME)
        try:
            await asyncio.to_thread(peer.start)
            for name, src, src_port, sink, sink_port in self.targets():
                for key in NAIVE_KEYS:
                    mode, direction = key.split("/")
                    method = getattr(peer, f"{mode}_{'receive' if direction == 'recv' else 'send'}")
                    host, port = (src, src_port) if direction == "recv" else (sink, sink_port)

                    async def run(method: Any = method, host: str = host, port: int = port) -> Sample | float:
                        result: Sample | float = await asyncio.to_thread(
                            method, host, port, total, RAW_CLIENT_ID, SSL_CONTEXT_ID
                        )
                        return result

                    await self._measured(("naive pyserial", "pyserial", name, key), name, run, total)
                    if isinstance(self.samples[("naive pyserial", "pyserial", name, key)][-1], str):
                        await asyncio.to_thread(_reset_naive, peer)
        finally:
            await asyncio.to_thread(peer.close)


def _reset_naive(peer: NaivePeer) -> None:
    """After a naive failure: leave transparent mode if needed and free its socket."""
    time.sleep(GUARD_TIME * 1.5)
    peer.port.write(b"+++")
    time.sleep(GUARD_TIME * 2)
    peer.port.reset_input_buffer()
    with contextlib.suppress(Exception):
        peer.command(f"AT+QSSLCLOSE={RAW_CLIENT_ID}")


def _deadline(link: LinkModel, total: int) -> float:
    rate = link.rate
    return 60.0 if rate is None else 30.0 + 5 * total / rate


def _summarize(run: _LinkRun) -> list[Row]:
    link = run.plan.link
    rows: list[Row] = []
    raw_pty: dict[str, list[Sample]] = {}
    for (peer, _backend, _target, key), results in run.samples.items():
        if peer == "raw pty":
            raw_pty[key.split("/")[1]] = [s for s in results if isinstance(s, Sample)]
    for (peer, backend, target, key), results in run.samples.items():
        row: Row = {
            "link": link.label,
            "baudrate": link.baudrate,
            "turnaround_ms": link.turnaround * 1000,
            "peer": peer,
            "backend": backend,
            "target": target,
            "mode": key.split("/")[0],
            "direction": key.split("/")[1],
            "bytes": run.plan.naive_total if peer == "naive pyserial" else run.plan.total,
            "capacity_mb_per_s": None if link.rate is None else link.rate / 1e6,
            "bound_mb_per_s": link.bound(key) / 1e6 if link.rate is not None and key in MODES else None,
        }
        good = [s for s in results if isinstance(s, Sample)]
        failures = [s for s in results if isinstance(s, str)]
        row["status"] = failures[0] if failures else "ok"
        if good:
            speeds = [s.goodput / 1e6 for s in good]
            row["mb_per_s"] = statistics.median(speeds)
            row["runs_mb_per_s"] = [round(v, 4) for v in speeds]
            row["cpu_s_per_mb"] = statistics.median(s.cpu_per_mb for s in good)
            row["emulator_cpu_s_per_mb"] = statistics.median(s.emulator_cpu / (s.total / 1e6) for s in good)
            if row["bound_mb_per_s"]:
                row["ratio_to_bound"] = row["mb_per_s"] / row["bound_mb_per_s"]
            commands = [s for s in good if s.commands]
            if commands:
                row["commands"] = statistics.median(s.commands for s in commands)
                row["cycle_us"] = statistics.median(s.seconds / s.commands * 1e6 for s in commands)
                row["host_cpu_us_per_command"] = statistics.median(s.cpu / s.commands * 1e6 for s in commands)
            base = raw_pty.get(row["direction"])
            if link.rate is None and base and peer != "raw pty":
                row["ratio_to_raw_pty"] = row["mb_per_s"] / statistics.median(b.goodput / 1e6 for b in base)
        rows.append(row)
    return rows


def _pacing(rows: list[Row], link: LinkModel) -> dict[str, Any]:
    """The raw transparent reader's rate over the link rate, and whether the link's rows are valid."""
    for row in rows:
        if row["peer"] == "raw transparent" and row["target"] == "memory" and row["direction"] == "recv":
            if link.rate is None or "mb_per_s" not in row:
                return {"raw_transparent_mb_per_s": row.get("mb_per_s"), "valid": "mb_per_s" in row}
            ratio = row["mb_per_s"] * 1e6 / link.rate
            return {"raw_transparent_mb_per_s": row["mb_per_s"], "ratio": ratio, "valid": ratio >= PACING_MIN}
    return {"valid": False, "reason": "no raw transparent measurement"}


async def run_matrix(
    proc: EmulatorProcess, plan: SuitePlan, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Measure every link plan; returns ``{"links": [...], "rows": [...]}``."""
    all_rows: list[Row] = []
    links: list[dict[str, Any]] = []
    for link_plan in plan.links:
        link = link_plan.link
        progress(f"link {link.label}: {link_plan.total} bytes per transfer")
        path = await proc.start_emulator(link.baudrate, link.turnaround)
        run = _LinkRun(proc, link_plan, path)
        for backend in link_plan.backends:
            await run.stack(backend, proc.ca_pem)
        await run.raw_transparent()
        if link_plan.naive_total:
            await run.naive()
        rows = _summarize(run)
        pacing = _pacing(rows, link)
        for row in rows:
            row["valid"] = bool(pacing["valid"])
        links.append(
            {"link": link.label, "baudrate": link.baudrate, "turnaround_ms": link.turnaround * 1000, **pacing}
        )
        all_rows += rows
    return {"links": links, "rows": all_rows}
