"""One benchmark run through the emulator: matrix, sockets, outputs."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from ._crossing import measure_pty_crossings
from ._model import LinkModel
from ._multi import run_sockets
from ._overhead import measure_command_overhead
from ._process import EmulatorProcess
from ._report import environment, format_matrix, format_sockets, write_chart, write_json
from ._suite import SuitePlan, run_matrix

__all__ = ["SOCKETS_LINK", "EmulatorRun", "quiet_logs", "run_emulator_suite"]

#: Link model of the twelve-socket figures and the small-write latency.
SOCKETS_LINK = LinkModel(921600, 0.001)


@dataclass
class EmulatorRun:
    """What to run.

    Attributes:
        plan: the mode x link matrix.
        sockets_link: link of the twelve-socket and latency figures (``None``: skip them).
        sockets_total: bytes per socket there.
        ticks: push latency messages.
        bulk: bytes of the load under the small writes.
        json_path: where the JSON report goes (``None``: nowhere).
        chart_path: where the PNG chart goes (``None``: no chart).
        command: how the run was started (recorded in the report).
    """

    plan: SuitePlan
    sockets_link: LinkModel | None = field(default_factory=lambda: SOCKETS_LINK)
    sockets_total: int = 16 * 1024
    ticks: int = 200
    bulk: int = 128 * 1024
    json_path: Path | None = None
    chart_path: Path | None = None
    command: str = ""


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Drop the driver's info-level lifecycle logs for the run; restore the configuration after."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**saved)


async def run_emulator_suite(run: EmulatorRun, out: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the matrix (and the socket figures), print the tables, write the outputs; returns the report."""
    started = time.monotonic()
    report: dict[str, Any] = {"benchmark": "emulator", "command": run.command, "environment": environment()}
    async with EmulatorProcess.running() as proc:
        report["matrix"] = await run_matrix(proc, run.plan, out)
        if run.sockets_link is not None:
            out(f"twelve sockets and latency on {run.sockets_link.label}")
            report["sockets"] = await run_sockets(
                proc, run.sockets_link, run.sockets_total, ticks=run.ticks, bulk=run.bulk
            )
            report["sockets"]["command_overhead"] = await measure_command_overhead(proc, run.ticks * 10)
            report["sockets"]["pty_crossing"] = await measure_pty_crossings(proc, run.ticks, run.sockets_link)
    report["seconds"] = time.monotonic() - started
    out("")
    out(format_matrix(report["matrix"]))
    if "sockets" in report:
        out(format_sockets(report["sockets"]))
    if run.json_path is not None:
        write_json(run.json_path, report)
        out(f"wrote {run.json_path}")
    if run.chart_path is not None and write_chart(run.chart_path, report["matrix"], out):
        out(f"wrote {run.chart_path}")
    return report
