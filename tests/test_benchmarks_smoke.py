"""The buffer-mode benchmark runs end to end at a tiny size and writes the expected JSON.

No speed is asserted: this only keeps the benchmark working. The benchmark itself
lives outside ``testpaths`` and runs with ``python -m benchmarks``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_buffer_mode_benchmark_writes_positive_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # the spawned emulator process inherits sys.path
    from benchmarks import bench_buffer_mode

    out = tmp_path / "buffer_mode.json"
    assert bench_buffer_mode.main(["--mib", "0.0625", "--repeat", "1", "--json", str(out)]) == 0

    report = json.loads(out.read_text())
    assert report["benchmark"] == "buffer_mode"
    assert report["bytes_per_run"] == 64 * 1024
    assert report["backend"] == "serialx"
    results = report["results"]
    assert set(results) == {"raw_read", "port_read", "stack_recv", "raw_write", "stack_send"}
    for row in results.values():
        assert row["mb_per_s"] > 0
        assert row["cpu_s_per_mb"] >= 0
        assert len(row["runs_mb_per_s"]) == 1
    assert results["stack_recv"]["ratio_to_raw_read"] > 0
    assert results["stack_send"]["ratio_to_raw_write"] > 0
    for name in ("stack_recv", "stack_send"):
        row = results[name]
        assert row["commands"] >= row["min_commands"] > 0
        assert row["cycle_us"] > 0
        assert row["bytes_per_command"] > 0
        assert row["client_cpu_us_per_command"] >= 0
        assert row["emulator_cpu_us_per_command"] >= 0
    assert "stack recv" in capsys.readouterr().out
