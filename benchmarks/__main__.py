"""Run every benchmark: ``python -m benchmarks [NAME ...] [--scale S] [--mib N] [--repeat N]``.

``matrix`` (every access mode and direction through the emulator, unthrottled
and at emulated baud rates, beside the perfect-host bound, the raw transparent
reader and a naive pyserial peer; twelve sockets and latency) prints its
tables and writes ``benchmarks/results/matrix.json`` and ``matrix.png``;
``ports`` (byte-port throughput of each serial backend) writes ``ports.json``.
``--scale`` goes to ``matrix``; ``--mib`` and ``--repeat`` to ``ports``. Run a
single benchmark with its own flags through ``python -m benchmarks.bench_<name> --help``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import bench_matrix, bench_ports

BENCHMARKS: dict[str, Callable[[list[str]], object]] = {
    "matrix": bench_matrix.main,
    "ports": bench_ports.main,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--scale", help="transfer size factor of matrix, passed on")
    parser.add_argument("--mib", help="MiB per measurement of ports, passed on")
    parser.add_argument("--repeat", help="runs per measurement of ports, passed on")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    passed = {
        "matrix": ["--scale", args.scale] if args.scale is not None else [],
        "ports": [
            *(["--mib", args.mib] if args.mib else []),
            *(["--repeat", args.repeat] if args.repeat else []),
        ],
    }
    for name in args.names or list(BENCHMARKS):
        print(f"== {name}", flush=True)
        BENCHMARKS[name](passed[name])
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
