"""Throughput and latency measurements of quectel-aio, through the emulator or on hardware.

``python -m benchmarks`` (from a checkout) and ``quectel-aio bench`` run these.
The emulator runs in its own process, so the measuring process's CPU time is
the host's cost; goodput is compared with the link capacity and with the bound
a perfect host would reach on the same link model (:class:`LinkModel`).
"""

from __future__ import annotations

from ._model import MODES, LinkModel, ModeAccounting, jain_index, percentile

__all__ = ["MODES", "LinkModel", "ModeAccounting", "jain_index", "percentile"]
