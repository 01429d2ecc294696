r"""The link model and the perfect-host bound of each access mode.

A serial link carries ``baudrate / 10`` bytes per second in each direction
(8N1: a start bit, eight data bits, a stop bit). The module answers a command
after a *turnaround* (``EmulatorConfig.command_latency``). A perfect host
wastes nothing: it sends the next command the instant the previous final
result has arrived, and its own processing takes no time. What it still has to
wait for is the byte accounting of the protocol, counted here per chunk for
client ID 0 (one digit) and echo off:

* buffer send: ``AT+QSSLSEND=0,1460\r`` (19 bytes) up, the prompt
  ``\r\n> `` (4) down, 1460 payload bytes up, ``\r\nSEND OK\r\n`` (11)
  down; every step waits for the previous one, plus two turnarounds;
* buffer receive: ``AT+QSSLRECV=0,1500\r`` (19) up; ``\r\n+QSSLRECV:
  1500\r\n`` (19), 1500 payload bytes and ``\r\n\r\nOK\r\n`` (8) down,
  plus one turnaround;
* direct push: ``\r\n+QSSLURC: "recv",0,1500\r\n`` (27), 1500 payload bytes
  and the trailing ``\r\n`` (2), back to back, no turnaround;
* transparent: every byte on the wire is payload.

The number of turnarounds per command is a property of the module. The
emulator, like a real module, answers ``AT+QSSLSEND`` with its prompt a
turnaround after the command arrived and with ``SEND OK`` a turnaround after
the payload arrived: two per send chunk (``EmulatorConfig.prompt_latency``;
:attr:`LinkModel.prompt_turnaround` false models a module that prompts at
once).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "MODES",
    "LinkModel",
    "ModeAccounting",
    "jain_index",
    "percentile",
]

SEND_CHUNK = 1460
RECV_CHUNK = 1500
PUSH_CHUNK = 1500


@dataclass(frozen=True)
class ModeAccounting:
    """Bytes on the wire and turnarounds per chunk of one mode and direction.

    Attributes:
        payload: payload bytes per chunk.
        up: bytes the host sends per chunk (command and payload).
        down: bytes the module sends per chunk (prompt, header, payload, results).
        turnarounds: module turnarounds per chunk before final results
            (the send prompt's is :attr:`LinkModel.prompt_turnaround`).
        serial: up and down strictly alternate (a command cycle); otherwise
            the chunk is a one-way stream.
    """

    payload: int
    up: int
    down: int
    turnarounds: int
    serial: bool


#: Byte accounting per ``mode/direction``, client ID 0.
MODES: dict[str, ModeAccounting] = {
    "buffer/send": ModeAccounting(SEND_CHUNK, 19 + SEND_CHUNK, 4 + 11, 1, True),
    "buffer/recv": ModeAccounting(RECV_CHUNK, 19, 19 + RECV_CHUNK + 8, 1, True),
    "push/recv": ModeAccounting(PUSH_CHUNK, 0, 27 + PUSH_CHUNK + 2, 0, False),
    "transparent/recv": ModeAccounting(1, 0, 1, 0, False),
    "transparent/send": ModeAccounting(1, 1, 0, 0, False),
}


@dataclass(frozen=True)
class LinkModel:
    """A serial link and module: 10 bits per byte each way, a turnaround per command.

    Attributes:
        baudrate: bits per second; ``None`` for an unthrottled link (a pty).
        turnaround: seconds the module takes before each final result.
        prompt_turnaround: the module also takes a turnaround before the
            ``AT+QSSLSEND`` prompt (the emulator does by default).
    """

    baudrate: int | None
    turnaround: float = 0.0
    prompt_turnaround: bool = True

    @property
    def rate(self) -> float | None:
        """Link capacity in bytes per second each way (``None``: unthrottled)."""
        return None if self.baudrate is None else self.baudrate / 10

    @property
    def label(self) -> str:
        """Short name: ``921600 Bd, 1 ms`` or ``pty``."""
        if self.baudrate is None:
            return "pty"
        return f"{self.baudrate} Bd, {self.turnaround * 1000:g} ms"

    def chunk_seconds(self, key: str) -> float:
        """Time a perfect host needs per chunk of ``key`` (``mode/direction``)."""
        rate = self.rate
        if rate is None:
            raise ValueError("an unthrottled link has no bound")
        acct = MODES[key]
        turnarounds = acct.turnarounds + (1 if self.prompt_turnaround and key == "buffer/send" else 0)
        if acct.serial:
            return (acct.up + acct.down) / rate + turnarounds * self.turnaround
        return max(acct.up, acct.down) / rate

    def send_seconds(self, size: int, client_id: int = 0) -> float:
        """Time a perfect host needs for one ``AT+QSSLSEND`` of ``size`` bytes (1 to 1460)."""
        rate = self.rate
        if rate is None:
            raise ValueError("an unthrottled link has no bound")
        command = len(f"AT+QSSLSEND={client_id},{size}\r")
        turnarounds = 2 if self.prompt_turnaround else 1
        return (command + 4 + size + 11) / rate + turnarounds * self.turnaround

    def bound(self, key: str) -> float:
        """Goodput of a perfect host in bytes per second for ``key`` (``mode/direction``)."""
        return MODES[key].payload / self.chunk_seconds(key)


def jain_index(values: Sequence[float]) -> float:
    """Jain's fairness index: 1 when all shares are equal, 1/n when one takes all.

    Args:
        values: each party's share (throughput, bytes...).

    Returns:
        The index, between 1/n and 1.

    Raises:
        ValueError: ``values`` is empty.
    """
    if not values:
        raise ValueError("no values")
    total = sum(values)
    squares = sum(v * v for v in values)
    if squares == 0:
        return 1.0
    return total * total / (len(values) * squares)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``; the median for 0.5.

    Args:
        values: the samples.
        fraction: the quantile, 0 to 1 (0.99 for the 99th percentile).

    Returns:
        The sample at that rank.

    Raises:
        ValueError: ``values`` is empty.
    """
    if not values:
        raise ValueError("no values")
    if fraction == 0.5:
        return float(statistics.median(values))
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return float(ordered[rank - 1])
