"""Every benchmark runs end to end at a tiny size and writes the expected JSON.

No speed is asserted: these keep the benchmarks working and check the figures
for sanity (bounds within the link capacity, ratios in (0, 1.05], fairness in
(0, 1]). The benchmarks themselves run with ``python -m benchmarks``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quectel_aio.benchmarking import MODES, LinkModel, jain_index, percentile

ROOT = Path(__file__).resolve().parent.parent


def test_perfect_host_bounds_follow_the_byte_accounting() -> None:
    link = LinkModel(921600, 0.001)
    rate = 92160.0
    assert link.bound("transparent/recv") == pytest.approx(rate)
    assert link.bound("push/recv") == pytest.approx(rate * 1500 / 1529)
    assert link.bound("buffer/recv") == pytest.approx(1500 / ((19 + 19 + 1500 + 8) / rate + 0.001))
    assert link.bound("buffer/send") == pytest.approx(1460 / ((19 + 1460 + 4 + 11) / rate + 0.002))
    prompt_at_once = LinkModel(921600, 0.001, prompt_turnaround=False)
    assert prompt_at_once.bound("buffer/send") == pytest.approx(1460 / ((19 + 1460 + 4 + 11) / rate + 0.001))
    assert link.send_seconds(1460) == pytest.approx(link.chunk_seconds("buffer/send"))
    assert link.send_seconds(24) == pytest.approx((len("AT+QSSLSEND=0,24\r") + 4 + 24 + 11) / rate + 0.002)
    for key in MODES:
        assert 0 < link.bound(key) <= rate
    with pytest.raises(ValueError, match="unthrottled"):
        LinkModel(None).bound("push/recv")


def test_fairness_and_percentiles() -> None:
    assert jain_index([1.0] * 12) == pytest.approx(1.0)
    assert jain_index([1.0] + [0.0] * 11) == pytest.approx(1 / 12)
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(v) for v in range(1, 101)], 0.99) == 99.0


def test_matrix_benchmark_writes_sane_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(ROOT))  # the spawned emulator process inherits sys.path
    from benchmarks import bench_matrix

    out = tmp_path / "matrix.json"
    chart = tmp_path / "matrix.png"
    assert bench_matrix.main(["--tiny", "--json", str(out), "--chart", str(chart)]) == 0

    report = json.loads(out.read_text())
    matrix = report["matrix"]
    assert [link["link"] for link in matrix["links"]] == ["pty", "921600 Bd, 1 ms"]
    rows = matrix["rows"]
    peers = {row["peer"] for row in rows}
    assert {"quectel-aio", "raw transparent", "naive pyserial", "raw pty"} <= peers
    ours = [r for r in rows if r["peer"] == "quectel-aio" and r["status"] == "ok"]
    assert {(r["mode"], r["direction"]) for r in ours} >= {
        ("buffer", "send"),
        ("buffer", "recv"),
        ("push", "recv"),
    }
    assert {r["target"] for r in ours} == {"memory", "tls"}
    for row in rows:
        assert row["status"] == "ok" or row["status"].startswith("failed"), row
        if row["status"] != "ok":
            continue
        assert row["mb_per_s"] > 0
        assert row["cpu_s_per_mb"] >= 0
        if row["capacity_mb_per_s"] is not None:
            assert 0 < row["bound_mb_per_s"] <= row["capacity_mb_per_s"]
            assert 0 < row["ratio_to_bound"] <= 1.05, row
        elif row["peer"] != "raw pty":
            assert row["ratio_to_raw_pty"] > 0
    throttled = matrix["links"][1]
    assert 0 < throttled["ratio"] <= 1.05
    assert throttled["valid"] == (throttled["ratio"] >= 0.995)

    sockets = report["sockets"]
    for name in ("twelve_sockets", "twelve_sockets_send"):
        twelve = sockets[name]
        assert len(twelve["per_socket_mb_per_s"]) == 12
        assert 0 < twelve["jain"] <= 1.0 + 1e-9
        assert 0 < twelve["slowest_over_fastest"] <= 1.0
    assert (
        sockets["stalled_reader"]["stalled_host_bytes"]
        <= 2 * sockets["stalled_reader"]["reader_limit"] + 1500
    )
    assert sockets["push_latency"]["messages"] == 20
    push = sockets["push_latency"]
    assert 0 < push["median_us"] <= push["p99_us"]
    assert 0 < push["from_pty_write_median_us"] <= push["from_pty_write_p99_us"]
    assert push["from_pty_write_median_us"] < push["median_us"]
    small = sockets["small_write_under_load"]
    assert small["probes"] >= 1
    assert small["chunk_time_ms"] < small["perfect_host_worst_ms"] < small["chunk_time_ms"] + 3
    overhead = sockets["command_overhead"]
    assert overhead["commands"] == 200
    assert 0 < overhead["raw_median_us"] <= overhead["raw_p99_us"]
    assert 0 < overhead["stack_median_us"] <= overhead["stack_p99_us"]
    crossing = sockets["pty_crossing"]
    assert crossing["crossings"] == 20
    for way in ("to_host", "to_module"):
        assert 0 < crossing[f"{way}_median_us"] <= crossing[f"{way}_p90_us"] < 1e6
    # Crossings only ever take time away: the ceilings stay below the bound.
    assert 0 < crossing["buffer_send_ceiling"] < crossing["buffer_recv_ceiling"] < 1
    printed = capsys.readouterr().out
    assert "921600 Bd, 1 ms" in printed
    assert "twelve_sockets" in printed
    assert chart.exists() or "matplotlib is not installed" in printed
