"""Which serial ports can lose received bytes: a UART (or a bridge to one) without RTS/CTS.

The port layer reads the tty's kernel driver from sysfs. Real UARTs and USB
adapters cannot be made here, so a pty stands in for the device and a small
directory tree for ``/sys/dev/char``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from quectel_aio import _port_backends as port_backends
from quectel_aio._ports import open_port

from .conftest import SERIAL_BACKENDS
from .helpers import Pty

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="sysfs is Linux's")


def fake_sysfs(root: Path, pty: Pty, driver: str | None) -> None:
    """A ``/sys/dev/char`` whose entry for the pty names ``driver`` (none: no driver link)."""
    device = os.stat(pty.path).st_rdev
    entry = root / f"{os.major(device)}:{os.minor(device)}" / "device"
    entry.mkdir(parents=True)
    if driver is not None:
        (entry / "driver").symlink_to(f"../../../bus/usb-serial/drivers/{driver}")


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
@pytest.mark.parametrize(
    ("driver", "rtscts", "unprotected"),
    [
        ("serial8250", False, True),  # a SoC or PC UART
        ("ftdi_sio", False, True),  # a USB-serial adapter in front of the module's UART
        ("cp210x", False, True),
        ("ftdi_sio", True, False),  # RTS/CTS paces the line
        ("option1", False, False),  # the module's own USB AT port
        ("qcserial", False, False),
        ("cdc_acm", False, False),
        (None, False, False),  # no driver to go by: not flagged
    ],
)
async def test_a_port_knows_whether_it_can_lose_bytes(
    pty: Pty,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    backend: str,
    driver: str | None,
    rtscts: bool,
    unprotected: bool,
) -> None:
    monkeypatch.setattr(port_backends, "_is_pty_slave", lambda fd: False)
    monkeypatch.setattr(port_backends, "_SYSFS_CHAR_DEVICES", str(tmp_path))
    fake_sysfs(tmp_path, pty, driver)
    port = await open_port(pty.path, backend=backend, rtscts=rtscts)
    try:
        assert port.unprotected_uart is unprotected
        assert port.hardware_flow_control is rtscts
    finally:
        await port.aclose()


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_a_pseudo_terminal_loses_nothing(pty: Pty, backend: str) -> None:
    port = await open_port(pty.path, backend=backend)
    try:
        assert not port.unprotected_uart
    finally:
        await port.aclose()
