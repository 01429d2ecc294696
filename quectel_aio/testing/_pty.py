"""Pseudo-terminal helpers for serving the emulator on a real tty path.

The slave side is switched to raw mode right away: with the default line
discipline the kernel would echo input back, translate CR/LF and eat control
bytes (Ctrl+Z, ESC), which corrupts the AT dialect.
"""

from __future__ import annotations

import contextlib
import os
import pty
import termios
import tty
from dataclasses import dataclass

__all__ = ["PtyPair", "open_pty_pair", "set_raw"]


def set_raw(fd: int) -> None:
    """Put a tty file descriptor into raw mode (no echo, no CR/LF mapping, 8 bit)."""
    tty.setraw(fd, termios.TCSANOW)
    attrs = termios.tcgetattr(fd)
    # VMIN=1/VTIME=0: reads return as soon as one byte is there.
    attrs[6][termios.VMIN] = 1
    attrs[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


@dataclass(slots=True)
class PtyPair:
    """One pseudo-terminal pair.

    Attributes:
        master_fd: the emulator's end (non-blocking).
        slave_fd: a descriptor kept open on the slave so that the master never
            reads EIO while no client has the path open.
        path: the slave's path (``/dev/pts/N``), what a client opens.
    """

    master_fd: int
    slave_fd: int
    path: str

    def close(self) -> None:
        """Close both descriptors (idempotent)."""
        for attr in ("master_fd", "slave_fd"):
            fd = getattr(self, attr)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, attr, -1)


def open_pty_pair() -> PtyPair:
    """Create a pseudo-terminal pair with the slave in raw mode.

    Returns:
        A :class:`PtyPair`; the master is non-blocking, the slave stays open
        until :meth:`PtyPair.close`.
    """
    master_fd, slave_fd = pty.openpty()
    try:
        set_raw(slave_fd)
        os.set_blocking(master_fd, False)
        path = os.ttyname(slave_fd)
    except BaseException:
        os.close(master_fd)
        os.close(slave_fd)
        raise
    return PtyPair(master_fd, slave_fd, path)
