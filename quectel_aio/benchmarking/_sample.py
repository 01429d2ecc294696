"""One measured transfer and how its goodput is taken.

Goodput is the steady-state rate: the bytes after the first arrival divided by
the time from the first to the last arrival, taken where the payload arrives
(the host for a receive, the target for a send). The request and the first
chunk's latency are left out, so the figure compares with the per-chunk bound
of :mod:`._model`. CPU is the measuring process's ``time.process_time`` over
the whole transfer, per 10^6 payload bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Arrivals", "Sample"]


@dataclass
class Sample:
    """One transfer.

    Attributes:
        total: payload bytes moved.
        counted: bytes in the steady-state window (``total`` less the first arrival).
        seconds: the window, first to last arrival.
        cpu: measuring-process CPU seconds over the whole transfer.
        commands: data commands the module logged (QSSLSEND / QSSLRECV).
        emulator_cpu: emulator-process CPU seconds over the transfer.
        gaps: seconds between consecutive arrivals (receives measured here).
    """

    total: int
    counted: int
    seconds: float
    cpu: float
    commands: int = 0
    emulator_cpu: float = 0.0
    gaps: list[float] = field(default_factory=list)

    @property
    def goodput(self) -> float:
        """Bytes per second in the window."""
        if self.seconds <= 0 or self.counted <= 0:
            raise ValueError("the transfer was too small to measure (one arrival)")
        return self.counted / self.seconds

    @property
    def cpu_per_mb(self) -> float:
        """CPU seconds per 10^6 payload bytes."""
        return self.cpu / (self.total / 1e6)

    @classmethod
    def from_record(cls, record: dict[str, Any], total: int, cpu: float) -> Sample:
        """From a target's record of a send (first/last arrival at the target)."""
        first, last = record["first_at"], record["last_at"]
        if first is None or last is None or record["received"] < total:
            raise RuntimeError(f"the target received {record['received']} of {total} bytes")
        return cls(total, total - int(record["first_size"]), last - first, cpu)


class Arrivals:
    """Timestamps arrivals on the measuring side (``time.monotonic``, shared across processes)."""

    def __init__(self) -> None:
        #: When the transfer was requested (the window's start if all of it
        #: arrives at once).
        self.started = time.monotonic()
        self.got = 0
        self.first = 0.0
        self.last = 0.0
        self.first_size = 0
        self.gaps: list[float] = []
        #: ``(time, bytes so far)`` after each arrival, when ``trace`` is set.
        self.trace: list[tuple[float, int]] | None = None

    def add(self, size: int) -> None:
        """Count ``size`` bytes arriving now."""
        now = time.monotonic()
        if self.got == 0:
            self.first, self.first_size = now, size
        else:
            self.gaps.append(now - self.last)
        self.last = now
        self.got += size
        if self.trace is not None:
            self.trace.append((now, self.got))

    def sample(self, total: int, cpu: float) -> Sample:
        """The transfer as a :class:`Sample`.

        A transfer that arrived in a single piece has no steady state; its
        window then runs from the request to that arrival.
        """
        if self.got and self.got == self.first_size:
            return Sample(total, self.got, self.last - self.started, cpu, gaps=self.gaps)
        return Sample(total, self.got - self.first_size, self.last - self.first, cpu, gaps=self.gaps)

    def bytes_at(self, when: float) -> float:
        """Bytes received by ``when`` (linear between arrivals; needs ``trace``)."""
        trace = self.trace or []
        previous = (self.first, 0)
        for point in trace:
            if point[0] >= when:
                span = point[0] - previous[0]
                share = (when - previous[0]) / span if span > 0 else 1.0
                return previous[1] + share * (point[1] - previous[1])
            previous = point
        return float(previous[1])
