"""Serial ports keep other programs out of the tty, not only flock users."""

from __future__ import annotations

import array
import asyncio
import fcntl
import os
import pwd
import sys

import pytest

from quectel_aio import _port_backends as port_backends
from quectel_aio._errors import ModemUnavailable
from quectel_aio._ports import open_port

from .conftest import SERIAL_BACKENDS
from .helpers import MakeLink, Pty

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="TIOCGEXCL is Linux's")

TIOCGEXCL = 0x80045440
"""Linux: read the tty's exclusive-mode flag (absent from Python's termios)."""


@pytest.fixture(autouse=True)
def pty_as_a_real_tty(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pty slave stands in for a UART or USB tty (real ones cannot be made here).

    The library leaves pseudo-terminals out of exclusive mode on purpose; the
    test that checks that opts out of this fixture with the ``real_pty`` mark.
    """
    if request.node.get_closest_marker("real_pty") is None:
        monkeypatch.setattr(port_backends, "_is_pty_slave", lambda fd: False)


def exclusive(fd: int) -> bool:
    flag = array.array("i", [0])
    fcntl.ioctl(fd, TIOCGEXCL, flag)
    return bool(flag[0])


def unprivileged_uid() -> int | None:
    """The uid of ``nobody`` when this process may switch to it, else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return None


async def open_as(uid: int, path: str) -> tuple[int, str]:
    """Open ``path`` read-write in a shell running as ``uid``: (status, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "/bin/sh",
        "-c",
        'exec 3<>"$1"',
        "sh",
        path,
        user=uid,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace")


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_open_port_sets_and_close_clears_tiocexcl(make_link: MakeLink, pty: Pty, backend: str) -> None:
    assert not exclusive(pty.slave)
    link = await make_link(backend)
    assert exclusive(pty.slave)
    await link.port.aclose()
    assert not exclusive(pty.slave)
    # The pty outlives the port: the same program opens it again.
    again = await open_port(pty.path, backend=backend)
    try:
        assert exclusive(pty.slave)
    finally:
        await again.aclose()
    assert not exclusive(pty.slave)


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_other_programs_cannot_open_the_port(make_link: MakeLink, pty: Pty, backend: str) -> None:
    uid = unprivileged_uid()
    if uid is None:
        pytest.skip("needs root and a 'nobody' user (TIOCEXCL does not stop root)")
    os.chmod(pty.path, 0o666)
    status, _ = await open_as(uid, pty.path)
    assert status == 0  # without the port open, anyone may open the tty
    link = await make_link(backend)
    status, err = await open_as(uid, pty.path)
    assert status != 0
    assert "busy" in err.lower()
    await link.port.aclose()
    status, _ = await open_as(uid, pty.path)
    assert status == 0


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_locked_port_is_in_use_by_another_program(pty: Pty, backend: str) -> None:
    holder = os.open(pty.path, os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ModemUnavailable, match=f"cannot open {pty.path}: in use by another program"):
            await open_port(pty.path, backend=backend)
    finally:
        os.close(holder)
    assert not exclusive(pty.slave)


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_stalled_port_clears_tiocexcl(make_link: MakeLink, pty: Pty, backend: str) -> None:
    # A pty master that is never read: the port gives up and aborts.
    link = await make_link(backend, write_buffer_high=1024)
    assert exclusive(pty.slave)
    link.port.write(os.urandom(256 * 1024))
    with pytest.raises(ModemUnavailable, match="stalled"):
        await link.port.drain(timeout=0.1)
    await link.port.aclose()
    assert not exclusive(pty.slave)


@pytest.mark.real_pty
@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_a_pseudo_terminal_is_left_out_of_exclusive_mode(
    make_link: MakeLink, pty: Pty, backend: str
) -> None:
    # Its mode would outlive a process killed before closing the port, and
    # lock every later user of a socat or ser2net port out.
    assert port_backends._is_pty_slave(pty.slave)
    link = await make_link(backend)
    assert not exclusive(pty.slave)
    await link.port.aclose()
