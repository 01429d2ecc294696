"""``quectel-aio bench --port``: the hardware measurement, run against the emulator on a pty
and a TLS echo server, at a tiny size. No speed is asserted."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from quectel_aio import cli
from quectel_aio.testing import EmulatorConfig, ModemEmulator, make_ca, start_tls_echo_server


async def test_bench_on_a_port_echoes_every_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ca = make_ca(key_type="rsa")  # the default suite is ECDHE-RSA
    cert = ca.issue_server_cert(["localhost"], key_type="rsa")
    cafile = tmp_path / "ca.pem"
    cafile.write_bytes(ca.cert_pem)
    output = tmp_path / "hw.json"
    emulator = ModemEmulator(EmulatorConfig(link_baudrate=921600, escape_guard_time=0.05))
    async with (
        await start_tls_echo_server(cert.chain_pem, cert.key_pem) as server,
        emulator.serve_pty() as path,
    ):
        argv = [
            "bench",
            "--port",
            path,
            "--baudrate",
            "921600",
            "--target",
            f"localhost:{server.port}",
            "--cafile",
            str(cafile),
            "--size",
            "8192",
            "--modes",
            "buffer,push,transparent",
            "--output",
            str(output),
        ]
        code = await asyncio.to_thread(cli.main, argv)
    printed = capsys.readouterr().out
    assert code == 0, printed
    report = json.loads(output.read_text())
    assert [row["mode"] for row in report["rows"]] == ["buffer", "push", "transparent"]
    for row in report["rows"]:
        assert row["status"] == "ok"
        assert row["sha256_equal"] is True
        assert row["bytes_each_way"] == 8192
        assert 0 < row["bound_mb_per_s"] <= report["capacity_mb_per_s"]
        assert row["mb_per_s"] > 0
    assert report["at_round_trip_ms"] > 0
    assert "turnaround estimate" in printed


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--target HOST:PORT"),
        (["--target", "nohost", "--cafile", "ca.pem"], "HOST:PORT"),
        (["--target", "h:1", "--cafile", "ca.pem", "--modes", "turbo"], "--modes"),
    ],
)
def test_bench_on_a_port_refuses_bad_arguments(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["bench", "--port", "/dev/null-not-a-port", *extra]) == 1
    assert message in capsys.readouterr().err
