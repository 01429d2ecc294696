"""Results as a table, a JSON file and a PNG chart (matplotlib, optional)."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

__all__ = ["environment", "format_matrix", "format_sockets", "write_chart", "write_json"]


def environment() -> dict[str, Any]:
    """Where the figures were taken."""
    versions: dict[str, str | None] = {}
    for name in ("quectel-aio", "serialx", "pyserial-asyncio", "pyserial"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": versions,
    }


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def format_matrix(result: dict[str, Any]) -> str:
    """The mode x link matrix as a fixed-width table, one block per link."""
    lines: list[str] = []
    header = (
        f"{'peer':<16} {'backend':<16} {'target':<6} {'mode/dir':<16} {'MB/s':>8} {'bound':>7} "
        f"{'/bound':>6} {'/raw':>6} {'CPU s/MB':>8} {'cycle µs':>9}  status"
    )
    for link in result["links"]:
        rows = [r for r in result["rows"] if r["link"] == link["link"]]
        pacing = ""
        if link.get("ratio") is not None:
            pacing = f", raw transparent reader at {link['ratio']:.4f} of the link rate"
        validity = "" if link["valid"] else "  ** INVALID: pacing self-check failed **"
        capacity = rows[0]["capacity_mb_per_s"] if rows else None
        cap = f", capacity {capacity:.4f} MB/s" if capacity else ""
        lines.append(f"-- {link['link']}{cap}{pacing}{validity}")
        lines.append(header)
        for r in rows:
            speed = r.get("mb_per_s")
            digits = 4 if r["capacity_mb_per_s"] else 2
            lines.append(
                f"{r['peer']:<16} {r['backend']:<16} {r['target']:<6} {r['mode'] + '/' + r['direction']:<16} "
                f"{_num(speed, digits):>8} {_num(r.get('bound_mb_per_s'), 4):>7} "
                f"{_num(r.get('ratio_to_bound')):>6} {_num(r.get('ratio_to_raw_pty')):>6} "
                f"{_num(r.get('cpu_s_per_mb')):>8} {_num(r.get('cycle_us'), 0):>9}  {r['status'][:60]}"
            )
        lines.append("")
    return "\n".join(lines)


def format_sockets(result: dict[str, Any]) -> str:
    """The twelve-socket, latency and stalled-reader figures."""
    lines = []
    for name, block in result.items():
        items = ", ".join(f"{k} {_num(v)}" for k, v in block.items() if not isinstance(v, list | dict))
        lines.append(f"{name}: {items}")
    return "\n".join(lines)


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` as indented JSON (the directory is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def write_chart(path: Path, result: dict[str, Any], note: Callable[[str], None]) -> bool:
    """Goodput against the perfect-host bound per mode and throttled link, as a PNG.

    Returns False (after one ``note``) when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        note("matplotlib is not installed (pip install 'quectel-aio[bench]'): no chart")
        return False
    rows = [
        r
        for r in result["rows"]
        if r.get("ratio_to_bound") is not None
        and r["target"] == "memory"
        and r["backend"] in ("serialx", "pyserial", "os")
    ]
    links = [link["link"] for link in result["links"] if link["baudrate"]]
    keys = sorted({f"{r['mode']}/{r['direction']}" for r in rows})
    peers = ["quectel-aio", "naive pyserial", "raw transparent"]
    fig, axes = plt.subplots(1, max(1, len(links)), figsize=(4.2 * max(1, len(links)), 4.2), sharey=True)
    axes_list = list(axes) if len(links) > 1 else [axes]
    width = 0.8 / len(peers)
    for ax, link in zip(axes_list, links, strict=False):
        for index, peer in enumerate(peers):
            values = []
            for key in keys:
                found = [
                    r
                    for r in rows
                    if r["link"] == link and r["peer"] == peer and f"{r['mode']}/{r['direction']}" == key
                ]
                values.append(found[0]["ratio_to_bound"] if found else 0.0)
            ax.bar([k + index * width for k in range(len(keys))], values, width, label=peer)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_title(link, fontsize=9)
        ax.set_xticks([k + width for k in range(len(keys))], keys, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 1.1)
    axes_list[0].set_ylabel("goodput / perfect-host bound")
    axes_list[0].legend(fontsize=7, loc="lower left")
    fig.suptitle("quectel-aio through the emulated link (in-process target)", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
