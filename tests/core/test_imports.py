"""The sans-IO core must not import asyncio, sockets, ssl, time or logging."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "quectel_aio"

SCRIPT = textwrap.dedent(
    """
    import sys, types
    for name in ("asyncio", "socket", "ssl", "time", "logging", "select", "threading", "structlog"):
        sys.modules[name] = None  # any import of these now raises ImportError
    # Bypass quectel_aio/__init__.py (it imports the asyncio driver).
    package = types.ModuleType("quectel_aio")
    package.__path__ = [sys.argv[1]]
    sys.modules["quectel_aio"] = package
    import quectel_aio._errors, quectel_aio._grammar, quectel_aio._buffer
    import quectel_aio._commands, quectel_aio._events, quectel_aio._connection
    conn = quectel_aio._connection.ModemConnection()
    conn.send(quectel_aio._commands.Attention())
    conn.receive_data(b"\\r\\nOK\\r\\n")
    print(type(conn.next_event()).__name__)
    """
)


def test_core_imports_without_io_modules() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(PACKAGE)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "CommandSucceeded"
