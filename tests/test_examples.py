"""Every example runs against the emulator with no arguments and does what it says."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from quectel_aio.testing import ModemEmulator, make_ca

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
#: Runnable examples; modules starting with "_" are their shared helpers.
EXAMPLES = sorted(p for p in EXAMPLES_DIR.glob("*.py") if not p.name.startswith("_"))

#: What each example must print when it worked.
EXPECTED_OUTPUT = {
    "at_session.py": ["ATI", "EC200U", "+CPIN: READY", "+QIACT: 1,1"],
    "ssl_echo.py": ["hello through the module's TLS stack"],
    "aiohttp_get.py": ["-> 200 OK", '{"status": "ok"}'],
    "httpx_get.py": ["-> 200 OK", '{"status": "ok"}'],
    "telemetry.py": ["reconnecting in", "reading 5:", "done: 6 readings delivered, 1 retried"],
}


def run(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_every_example_has_an_expectation() -> None:
    assert sorted(p.name for p in EXAMPLES) == sorted(EXPECTED_OUTPUT)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_against_the_emulator(path: Path) -> None:
    result = run(path)
    assert result.returncode == 0, result.stderr
    for expected in EXPECTED_OUTPUT[path.name]:
        assert expected in result.stdout, (expected, result.stdout)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_takes_the_hardware_options(path: Path) -> None:
    result = run(path, "--help")
    assert result.returncode == 0, result.stderr
    for option in ("--port", "--baudrate", "--apn"):
        assert option in result.stdout


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_reports_a_missing_device_without_a_traceback(path: Path, tmp_path: Path) -> None:
    cafile = tmp_path / "ca.pem"
    cafile.write_bytes(make_ca("examples test CA").cert_pem)
    args = ["--port", "/dev/does-not-exist-quectel"]
    if "--cafile" in run(path, "--help").stdout:
        args += ["--host", "example.com", "--cafile", str(cafile)]
    result = run(path, *args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "/dev/does-not-exist-quectel" in result.stderr


async def test_an_example_reports_a_refused_pdp_context_without_a_traceback() -> None:
    emulator = ModemEmulator()
    emulator.fail_next_command("AT+QIACT=", b"\r\n+CME ERROR: 10\r\n")  # SIM not inserted
    try:
        async with emulator.serve_pty() as path:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(EXAMPLES_DIR / "at_session.py"),
                "--port",
                path,
                "--apn",
                "internet",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await emulator.aclose()
    assert process.returncode != 0
    stderr = err.decode()
    assert "Traceback" not in stderr, stderr
    assert "AT+QIACT" in stderr
    assert "internet" in stderr
