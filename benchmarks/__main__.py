"""Run every benchmark: ``python -m benchmarks [NAME ...] [--mib N] [--repeat N]``.

Each benchmark prints its table and writes ``benchmarks/results/<name>.json``.
``--mib`` and ``--repeat``, when given, are passed on to every benchmark
(otherwise each uses its own default); ``--backend`` goes to the benchmarks
that take one. Run a single benchmark with its own flags through
``python -m benchmarks.bench_<name> --help``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import bench_buffer_mode, bench_ports

BENCHMARKS: dict[str, Callable[[list[str]], object]] = {
    "ports": bench_ports.main,
    "buffer_mode": bench_buffer_mode.main,
}
TAKES_BACKEND = {"buffer_mode"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--mib", help="MiB per measurement, passed on")
    parser.add_argument("--repeat", help="runs per measurement, passed on")
    parser.add_argument("--backend", choices=bench_buffer_mode.BACKENDS, help="serial backend, passed on")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    common: list[str] = []
    if args.mib is not None:
        common += ["--mib", args.mib]
    if args.repeat is not None:
        common += ["--repeat", args.repeat]
    for name in args.names or list(BENCHMARKS):
        extra = ["--backend", args.backend] if args.backend and name in TAKES_BACKEND else []
        print(f"== {name}", flush=True)
        BENCHMARKS[name]([*common, *extra])
        print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
