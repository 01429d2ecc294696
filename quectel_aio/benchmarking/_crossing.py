"""How long a byte takes to cross the pty between the two processes, each way.

The link model charges nothing for getting bytes from one process to the
other, but on a pty every crossing costs a kernel hand-off and a wake-up of
the receiving process. A buffer-mode send cycle crosses four times (command,
prompt, payload, ``SEND OK``) and a receive cycle twice, so these figures set
the best any host can do here, beside the perfect-host bound.

Stamps (``time.monotonic_ns()``, one system-wide clock on Linux) travel over
the emulator process's spare pty, one at a time with a pause between them, so
each crossing finds the receiver idle, as a response does:

* towards the host: the emulator process writes, the host reads with a
  blocking ``os.read`` (the floor of any host);
* towards the module: the host writes, the emulator process's event loop
  reads, as the emulator reads commands.
"""

from __future__ import annotations

import os
import select
import time
import tty
from typing import Any

from ._model import LinkModel, percentile
from ._process import STAMP, EmulatorProcess

__all__ = ["measure_pty_crossings"]

#: Seconds between two stamps (longer than a crossing, like the gap before a response).
INTERVAL = 0.002
#: Crossings per chunk: buffer send (command, prompt, payload, SEND OK) and receive.
CROSSINGS = {"buffer/send": (2, 2), "buffer/recv": (1, 1)}


def _read_stamps(fd: int, count: int, timeout: float) -> list[int]:
    """Blocking reads of ``count`` stamps; each one's delay in ns."""
    pending = b""
    delays: list[int] = []
    deadline = time.monotonic() + timeout
    while len(delays) < count:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError(f"{len(delays)} of {count} stamps crossed the pty")
        pending += os.read(fd, 4096)
        now = time.monotonic_ns()
        while len(pending) >= STAMP.size:
            delays.append(now - STAMP.unpack_from(pending)[0])
            pending = pending[STAMP.size :]
    return delays


def _write_stamps(fd: int, count: int) -> None:
    """Write ``count`` stamps :data:`INTERVAL` apart (blocking: the loop has nothing else to do)."""
    for _ in range(count):
        os.write(fd, STAMP.pack(time.monotonic_ns()))
        time.sleep(INTERVAL)


async def measure_pty_crossings(proc: EmulatorProcess, count: int, link: LinkModel) -> dict[str, Any]:
    """``count`` crossings each way; medians, 90th percentiles and the ceilings they set on ``link``.

    A ceiling is the share of the perfect-host bound a host with no
    processing time at all would reach on ``link`` when every crossing takes
    the median time.
    """
    fd = os.open(proc.raw_pty, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        proc.send("stamp", count, INTERVAL)
        down = _read_stamps(fd, count, timeout=30 + count * INTERVAL * 4)
        await proc.reply()
        proc.send("collect", count)
        await proc.reply()  # the emulator process reads the spare pty now
        _write_stamps(fd, count)
        answer = await proc.reply()
        up = answer["delays_ns"]
    finally:
        os.close(fd)
    down_us = percentile(down, 0.5) / 1e3
    up_us = percentile(up, 0.5) / 1e3
    out: dict[str, Any] = {
        "crossings": count,
        "to_host_median_us": down_us,
        "to_host_p90_us": percentile(down, 0.9) / 1e3,
        "to_module_median_us": up_us,
        "to_module_p90_us": percentile(up, 0.9) / 1e3,
        "ceiling_link": link.label,
    }
    for key, (ups, downs) in CROSSINGS.items():
        chunk = link.chunk_seconds(key)
        out[f"{key.replace('/', '_')}_ceiling"] = chunk / (chunk + (ups * up_us + downs * down_us) / 1e6)
    return out
