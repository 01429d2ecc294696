r"""Per-command overhead: the stack's ``AT`` round trip against a raw one, same emulator, same run.

The raw host is the floor: a blocking descriptor on the pty that writes a
prebuilt ``AT\r`` and reads until ``OK\r\n`` is in the buffer. The stack's
round trip is ``Modem.command("AT")``. Rounds alternate between the two (raw,
stack, raw, ...) so the VM's drift hits both alike; the overhead is the
difference of their medians and of their 99th percentiles. The event loop is
blocked during the raw rounds; nothing else runs then.
"""

from __future__ import annotations

import os
import time
import tty
from typing import Any

from ..modem import Modem
from ._model import percentile
from ._process import GUARD_TIME, EmulatorProcess
from ._stack import open_modem

__all__ = ["measure_command_overhead"]

ROUNDS = 5


class _RawCommands:
    """Blocking ``AT`` round trips on the raw pty."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def round_trip(self, line: bytes = b"AT\r", final: bytes = b"OK\r\n") -> float:
        start = time.perf_counter()
        os.write(self.fd, line)
        got = b""
        while final not in got:
            got += os.read(self.fd, 4096)
        return time.perf_counter() - start

    def close(self) -> None:
        os.close(self.fd)


async def _stack_round_trips(modem: Modem, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        await modem.command("AT")
        times.append(time.perf_counter() - start)
    return times


async def measure_command_overhead(
    proc: EmulatorProcess, count: int, *, backend: str = "serialx"
) -> dict[str, Any]:
    """``count`` round trips each way, in :data:`ROUNDS` alternating rounds, on an unthrottled pty.

    Each round starts a fresh emulator; the raw host uses it first, then the
    stack opens it (one host on the port at a time).
    """
    raw_times: list[float] = []
    stack_times: list[float] = []
    per_round = max(1, count // ROUNDS)
    for _ in range(ROUNDS):
        path = await proc.start_emulator(None, 0.0)
        raw = _RawCommands(path)
        try:
            raw.round_trip(b"ATE0\r")
            for _ in range(20):  # warm-up
                raw.round_trip()
            raw_times += [raw.round_trip() for _ in range(per_round)]
        finally:
            raw.close()
        async with open_modem(path, backend=backend, guard_time=GUARD_TIME) as modem:
            await _stack_round_trips(modem, 20)  # warm-up
            stack_times += await _stack_round_trips(modem, per_round)
    raw_median, raw_p99 = percentile(raw_times, 0.5), percentile(raw_times, 0.99)
    stack_median, stack_p99 = percentile(stack_times, 0.5), percentile(stack_times, 0.99)
    return {
        "link": "pty",
        "commands": len(stack_times),
        "raw_median_us": raw_median * 1e6,
        "raw_p99_us": raw_p99 * 1e6,
        "stack_median_us": stack_median * 1e6,
        "stack_p99_us": stack_p99 * 1e6,
        "overhead_median_us": (stack_median - raw_median) * 1e6,
        "overhead_p99_us": (stack_p99 - raw_p99) * 1e6,
    }
