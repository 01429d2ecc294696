"""Every access mode and direction through the emulator, unthrottled and at emulated baud rates.

Run: ``python -m benchmarks.bench_matrix [--scale S] [--no-sockets] [--json PATH] [--chart PATH]``.

Prints one table per link model and writes ``benchmarks/results/matrix.json``
and ``benchmarks/results/matrix.png`` (when matplotlib is installed). What is
measured and how is described in :mod:`quectel_aio.benchmarking._suite` and
``docs/decisions.md``; the default sizes keep the whole run near two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from quectel_aio.benchmarking._run import SOCKETS_LINK, EmulatorRun, quiet_logs, run_emulator_suite
from quectel_aio.benchmarking._suite import default_plan, tiny_plan

RESULTS = Path(__file__).parent / "results"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every transfer size (default 1)")
    parser.add_argument("--tiny", action="store_true", help="a few seconds: two links, small transfers")
    parser.add_argument("--no-sockets", action="store_true", help="skip twelve sockets and latency")
    parser.add_argument("--json", type=Path, default=RESULTS / "matrix.json", help="result file")
    parser.add_argument("--chart", type=Path, default=RESULTS / "matrix.png", help="PNG chart")
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be positive")
    run = EmulatorRun(
        tiny_plan() if args.tiny else default_plan(args.scale),
        sockets_link=None if args.no_sockets else SOCKETS_LINK,
        sockets_total=4 * 1024 if args.tiny else 16 * 1024,
        ticks=20 if args.tiny else 200,
        bulk=32 * 1024 if args.tiny else 128 * 1024,
        json_path=args.json,
        chart_path=args.chart,
        command="python -m benchmarks.bench_matrix " + " ".join(argv or sys.argv[1:]),
    )
    with quiet_logs():
        asyncio.run(run_emulator_suite(run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
