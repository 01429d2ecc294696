r"""The same measurements on a real module, against the user's TLS echo server.

For each access mode one connection to the echo server carries ``size``
bytes each way: a writer task sends them in 64 KiB blocks (``drain()``), the
reader reads the echo until all arrived, and the sha256 of what came back must
equal what was sent. Goodput is the steady-state rate of the echo as it
arrives (first to last arrival, see :mod:`._sample`); both directions share
the link, so on a UART each can reach at most the link capacity and, in buffer
mode, the command cycles of both directions share one AT channel.

The module's turnaround is estimated from ``AT`` round trips (median, minus
the wire time of ``AT\r`` and ``\r\nOK\r\n`` at the configured baud rate),
and the perfect-host bound of each mode is printed for that link model. On
USB the baud rate means nothing and the bound is only indicative.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
import time
from dataclasses import dataclass
from typing import Any

from ..modem import Modem
from ..ssl_config import SSLConfig
from ._model import LinkModel
from ._sample import Arrivals
from ._stack import READ_SIZE, StackPeer, open_modem

__all__ = ["HardwareRun", "format_hardware", "run_hardware"]

BLOCK = 64 * 1024
PINGS = 20
BOUND_KEYS = {"buffer": "buffer/recv", "push": "push/recv", "transparent": "transparent/recv"}


@dataclass
class HardwareRun:
    """What to measure on hardware.

    Attributes:
        port: device path or ``socket://host:port``.
        baudrate: UART speed (also the link model's).
        target: ``(host, port)`` of a TLS echo server.
        cafile: CA file (PEM) that signs the echo server's certificate.
        size: bytes each way per mode.
        modes: access modes to measure.
        backend: serial backend.
        rtscts: RTS/CTS flow control.
        apn: APN of PDP context 1.
        urc_port: ``AT+QURCCFG="urcport"`` value, if set.
    """

    port: str
    baudrate: int
    target: tuple[str, int]
    cafile: str
    size: int = 256 * 1024
    modes: tuple[str, ...] = ("buffer", "push", "transparent")
    backend: str = "auto"
    rtscts: bool = False
    apn: str = ""
    urc_port: str | None = None


async def _turnaround(modem: Modem, baudrate: int) -> dict[str, float]:
    times = []
    for _ in range(PINGS):
        started = time.monotonic()
        await modem.command("AT")
        times.append(time.monotonic() - started)
    median = statistics.median(times)
    wire = (3 + 6) / (baudrate / 10)
    return {"at_round_trip_ms": median * 1000, "turnaround_ms": max(0.0, median - wire) * 1000}


async def _echo(peer: StackPeer, host: str, port: int, mode: str, size: int) -> dict[str, Any]:
    payload = bytes((i * 7 + 3) % 251 for i in range(BLOCK))
    sent_hash = hashlib.sha256()
    got_hash = hashlib.sha256()
    arrivals = Arrivals()
    async with peer.connection(host, port, mode) as (reader, writer):

        async def send() -> None:
            left = size
            while left > 0:
                block = payload[: min(left, BLOCK)]
                sent_hash.update(block)
                writer.write(block)
                left -= len(block)
                await writer.drain()

        cpu = time.process_time()
        sender = asyncio.create_task(send())
        try:
            while arrivals.got < size:
                data = await reader.read(READ_SIZE)
                if not data:
                    raise RuntimeError(f"EOF after {arrivals.got} of {size} echoed bytes")
                got_hash.update(data)
                arrivals.add(len(data))
            await sender
        finally:
            if not sender.done():
                sender.cancel()
        cpu = time.process_time() - cpu
    sample = arrivals.sample(size, cpu)
    return {
        "mode": mode,
        "bytes_each_way": size,
        "mb_per_s": sample.goodput / 1e6,
        "cpu_s_per_mb": sample.cpu_per_mb,
        "sha256_equal": sent_hash.digest() == got_hash.digest(),
        "status": "ok" if sent_hash.digest() == got_hash.digest() else "failed: echo differs",
    }


async def run_hardware(run: HardwareRun) -> dict[str, Any]:
    """Measure every mode in ``run.modes``; returns the report (rows per mode)."""
    rows: list[dict[str, Any]] = []
    async with open_modem(
        run.port, backend=run.backend, baudrate=run.baudrate, rtscts=run.rtscts, urc_port=run.urc_port
    ) as modem:
        await modem.activate_pdp(1, apn=run.apn)
        timing = await _turnaround(modem, run.baudrate)
        link = LinkModel(run.baudrate, timing["turnaround_ms"] / 1000)
        peer = StackPeer(modem, SSLConfig(cafile=run.cafile))
        for mode in run.modes:
            try:
                row = await _echo(peer, run.target[0], run.target[1], mode, run.size)
            except Exception as exc:
                row = {"mode": mode, "status": f"failed: {type(exc).__name__}: {exc}"}
            row["bound_mb_per_s"] = link.bound(BOUND_KEYS[mode]) / 1e6
            if "mb_per_s" in row:
                row["ratio_to_bound"] = row["mb_per_s"] / row["bound_mb_per_s"]
            rows.append(row)
    return {
        "benchmark": "hardware",
        "port": run.port,
        "baudrate": run.baudrate,
        "capacity_mb_per_s": run.baudrate / 10 / 1e6,
        "target": f"{run.target[0]}:{run.target[1]}",
        **timing,
        "rows": rows,
    }


def format_hardware(report: dict[str, Any]) -> str:
    """The hardware report as a table."""
    lines = [
        f"{report['port']} at {report['baudrate']} Bd (capacity {report['capacity_mb_per_s']:.4f} MB/s), "
        f"echo server {report['target']}; AT round trip {report['at_round_trip_ms']:.2f} ms, "
        f"turnaround estimate {report['turnaround_ms']:.2f} ms",
        f"{'mode':<12} {'MB/s':>8} {'bound':>8} {'/bound':>7} {'CPU s/MB':>9}  status",
    ]
    for row in report["rows"]:
        speed = f"{row['mb_per_s']:.4f}" if "mb_per_s" in row else "-"
        ratio = f"{row['ratio_to_bound']:.3f}" if "ratio_to_bound" in row else "-"
        cpu = f"{row['cpu_s_per_mb']:.3f}" if "cpu_s_per_mb" in row else "-"
        bound = f"{row['bound_mb_per_s']:.4f}" if "bound_mb_per_s" in row else "-"
        lines.append(f"{row['mode']:<12} {speed:>8} {bound:>8} {ratio:>7} {cpu:>9}  {row['status']}")
    return "\n".join(lines)
