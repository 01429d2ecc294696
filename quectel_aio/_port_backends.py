"""The operating-system backends of :func:`quectel_aio._ports.open_port`.

serialx and pyserial-asyncio for device paths, TCP for ``socket://`` URLs.
Each ``open_*`` coroutine returns a :class:`~quectel_aio._ports.Port` built on
the shared :class:`~quectel_aio._link_protocol._LinkProtocol`, and turns the backend's
own exceptions into :class:`ModemUnavailable` (device cannot be opened) or
:class:`LocalProtocolError` (setting the device rejects).

Backend notes:

* Both serial backends lock the device with ``flock``, which only keeps out
  programs that ``flock`` too (not ModemManager, ``screen``, ``minicom`` or
  ``cat``). So a real tty is also put in exclusive mode (``TIOCEXCL``): any
  further ``open()`` of it fails with ``EBUSY``, except by root. The mode
  belongs to the tty, not to the fd; it is cleared (``TIOCNXCL``) before the
  port closes its fd. A pseudo-terminal slave is left alone: it keeps the
  mode while its master stays open, so a process killed before closing the
  port would lock everyone else out until the master restarts. An open that
  fails on either lock says the device is in use.
* serialx opens, locks (``flock``), configures and closes in the default
  executor, then reads up to 256 KiB per callback. On a pty it works as is:
  the ``TIOCM*`` (modem lines) and ``TIOCGSERIAL`` (low latency) ioctls fail
  with ``ENOTTY`` and serialx ignores them. Opening flushes both directions
  (``tcflush(TCIOFLUSH)``): bytes the module sent before the open are
  dropped. A hung-up tty (``read() == 0``) and a closed pty master both
  surface as ``OSError(EIO)``.
* pyserial-asyncio's stock transport reads 1 KiB per callback and, when it
  closes, runs ``tcdrain`` (blocks for ever while CTS is held low) and
  ``close()`` on the event loop; both are replaced here. Opening (which
  sleeps, locks and configures) runs in the default executor.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import os
import termios
from collections.abc import Callable
from typing import Any, Final

from . import _ports
from ._errors import LocalProtocolError, ModemUnavailable
from ._link_protocol import _LinkProtocol
from ._ports import Port, _describe, _TransportPort

__all__ = ["open_pyserial", "open_serialx", "open_socket"]

_CONNECT_TIMEOUT: Final = 10.0
"""Seconds allowed for a TCP connect of a ``socket://`` URL."""

_BITS_PER_BYTE: Final = 10
"""8N1: a start bit, eight data bits, a stop bit (for Port.transmit_backlog)."""

_PYSERIAL_READ_SIZE: Final = 64 * 1024
"""Bytes per read callback for pyserial-asyncio (its default is 1 KiB)."""

_SERIALX_READ_SIZE: Final = 64 * 1024
"""Bytes per read callback for serialx.

Its default, 256 KiB, is above glibc's mmap threshold, so every read maps,
shrinks and unmaps a fresh buffer: about 40 us per wake-up after a sleep,
measured on a pty. A tty hands over at most 4 KiB per read anyway.
"""


def _has_modem_lines(fd: int) -> bool:
    """Whether ``fd`` is a tty with modem-control lines (ptys have none)."""
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.TIOCMGET, buf)
    except OSError:
        return False
    return True


_IN_USE_ERRNOS: Final = frozenset({errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK})
"""Errors of an open that another program's lock refused (TIOCEXCL, flock)."""
_MISSING_ERRNOS: Final = frozenset({errno.ENOENT, errno.ENODEV, errno.ENXIO})
"""Errors of an open whose device is not there (unplugged, wrong path)."""
_DENIED_ERRNOS: Final = frozenset({errno.EACCES, errno.EPERM})
"""Errors of an open the device's permissions refused."""


#: Device majors of pseudo-terminal slaves (Linux: BSD-style 3, Unix98 136-143).
_PTY_SLAVE_MAJORS: Final = frozenset({3, *range(136, 144)})


def _is_pty_slave(fd: int) -> bool:
    """Whether ``fd`` is a pseudo-terminal slave (socat, ser2net, the emulator)."""
    try:
        return os.major(os.fstat(fd).st_rdev) in _PTY_SLAVE_MAJORS
    except OSError:
        return False


#: Where Linux lists character devices (``<major>:<minor>`` links into the device tree).
_SYSFS_CHAR_DEVICES = "/sys/dev/char"

#: Kernel drivers of the module's own USB interfaces (``ttyUSB`` through
#: ``option``/``qcserial``, ``ttyACM`` through ``cdc_acm``): USB paces their
#: bytes, so none are lost when the host is slow. Every other tty driver is a
#: UART or a USB-serial bridge to one (``ftdi_sio``, ``cp210x``, ``ch341``...).
_USB_FUNCTION_DRIVERS: Final = frozenset({"option", "option1", "qcserial", "cdc_acm", "usb_wwan"})


def _is_uart(fd: int | None) -> bool:
    """Whether ``fd`` is a UART, or a USB-serial bridge to one.

    Told by the tty's kernel driver in sysfs; where there is none to read
    (not Linux), the port is not flagged.
    """
    if fd is None or _is_pty_slave(fd):
        return False
    try:
        device = os.fstat(fd).st_rdev
        link = os.readlink(f"{_SYSFS_CHAR_DEVICES}/{os.major(device)}:{os.minor(device)}/device/driver")
    except OSError:
        return False
    return os.path.basename(link) not in _USB_FUNCTION_DRIVERS


def _claim_tty(fd: int | None) -> None:
    """Put the tty in exclusive mode: other ``open()`` calls fail with EBUSY.

    Not a pseudo-terminal: its exclusive mode outlives a process that dies
    without closing the port (it lasts as long as the master is open), which
    would lock every later user out of a socat or ser2net port.
    """
    request = getattr(termios, "TIOCEXCL", None)
    if fd is not None and request is not None and not _is_pty_slave(fd):
        with contextlib.suppress(OSError):
            fcntl.ioctl(fd, request)


def _release_tty(fd: int | None) -> None:
    """Leave exclusive mode, so that the tty can be opened again once closed."""
    request = getattr(termios, "TIOCNXCL", None)
    if fd is not None and request is not None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(fd, request)


def _open_failed(name: str, exc: BaseException) -> ModemUnavailable:
    code = exc.errno if isinstance(exc, OSError) else None
    if code in _IN_USE_ERRNOS:
        return ModemUnavailable(f"cannot open {name}: in use by another program ({_describe(exc)})")
    if code in _MISSING_ERRNOS:
        return ModemUnavailable(
            f"cannot open {name}: no such device: is the module connected and powered? On USB, "
            f"dmesg lists the ttyUSB ports it created; one of them is its AT port ({_describe(exc)})"
        )
    if code in _DENIED_ERRNOS:
        return ModemUnavailable(
            f"cannot open {name}: permission denied: add your user to the group that owns the "
            f"device (usually dialout: sudo usermod -aG dialout $USER, then log in again) ({_describe(exc)})"
        )
    return ModemUnavailable(f"cannot open {name}: {_describe(exc)}")


def _flush_output(fd: int | None) -> None:
    if fd is None:
        return
    with contextlib.suppress(OSError, termios.error):
        termios.tcflush(fd, termios.TCOFLUSH)


# ---------------------------------------------------------------------------
# serialx
# ---------------------------------------------------------------------------


class _SerialxPort(_TransportPort):
    _backend = "serialx"

    def __init__(self, name: str, transport: asyncio.Transport, protocol: _LinkProtocol) -> None:
        super().__init__(name, transport, protocol)
        fd = self._fileno()
        self._dtr = fd is not None and _has_modem_lines(fd)

    def _fileno(self) -> int | None:
        # The transport's own attribute: None once it has closed the fd (the
        # serial object keeps the stale number).
        fd = getattr(self._transport, "_fileno", None)
        return fd if isinstance(fd, int) else None

    def _discard_output(self) -> None:
        _flush_output(self._fileno())

    def _release_device(self) -> None:
        _release_tty(self._fileno())

    @property
    def supports_dtr(self) -> bool:
        return self._dtr

    def _set_dtr(self, value: bool) -> None:
        self._transport.get_extra_info("serial").set_modem_pins(dtr=value)


#: serialx debug messages that carry the bytes on the wire (payloads, keys).
_SERIALX_DATA_MESSAGES: Final = frozenset({"Received %r", "Immediately writing %r", "Buffering %r"})


class _NoWireBytes(logging.Filter):
    """Drops serialx's debug records that would print the bytes on the wire.

    The library never logs payloads or keys by default; a user who turns on
    DEBUG for every logger must not get them through the serial backend.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg not in _SERIALX_DATA_MESSAGES


_NO_WIRE_BYTES: Final = _NoWireBytes()


def _guard_serialx_logging() -> None:
    logger = logging.getLogger("serialx.descriptor_transport")
    if _NO_WIRE_BYTES not in logger.filters:
        logger.addFilter(_NO_WIRE_BYTES)


async def open_serialx(
    loop: asyncio.AbstractEventLoop, name: str, path: str, baudrate: int, rtscts: bool, high: int
) -> Port:
    import serialx

    _guard_serialx_logging()
    protocol = _LinkProtocol(loop)
    try:
        transport, _ = await serialx.create_serial_connection(
            loop,
            lambda: protocol,
            path,
            baudrate,
            rtscts=rtscts,
            exclusive=True,
            # serialx's own bound on a stalled close; ours (which also discards
            # the kernel's queue first) normally acts before it.
            close_timeout=_ports._CLOSE_GRACE + 1.0,
        )
    except serialx.UnsupportedSetting as exc:
        raise LocalProtocolError(f"{name}: unsupported setting: {exc}") from exc
    except (OSError, serialx.SerialException) as exc:
        raise _open_failed(name, exc) from exc
    _claim_tty(getattr(transport, "_fileno", None))
    transport.set_write_buffer_limits(high=high)
    if isinstance(getattr(transport, "max_size", None), int):
        transport.max_size = _SERIALX_READ_SIZE  # type: ignore[attr-defined]
    port = _SerialxPort(name, transport, protocol)
    port._byte_time = _BITS_PER_BYTE / baudrate
    port.hardware_flow_control = rtscts
    port.uart = _is_uart(getattr(transport, "_fileno", None))
    port.unprotected_uart = port.uart and not rtscts
    return port


# ---------------------------------------------------------------------------
# pyserial-asyncio
# ---------------------------------------------------------------------------


def _close_serial(serial: Any, discard: bool) -> None:
    fd = getattr(serial, "fd", None)
    if discard:
        _flush_output(fd)
    _release_tty(fd)
    serial.close()


@functools.cache
def _pyserial_transport_cls() -> Callable[..., asyncio.Transport]:
    import serial_asyncio

    class _PyserialTransport(serial_asyncio.SerialTransport):  # type: ignore[misc]
        """The stock transport, closing the port off the event loop.

        The stock ``_call_connection_lost`` runs ``serial.flush()`` (a
        ``tcdrain`` that blocks for ever while CTS is held low) and
        ``serial.close()`` on the loop.
        """

        discard_on_close = False
        _serial: Any
        _protocol: Any

        def _call_connection_lost(self, exc: Exception | None) -> None:
            serial = self._serial
            protocol = self._protocol
            if serial is None:  # abort() after close(): already done
                return
            self._serial = None
            self._write_buffer.clear()
            future = self._loop.run_in_executor(None, _close_serial, serial, self.discard_on_close)

            def done(fut: asyncio.Future[None]) -> None:
                close_exc = None if fut.cancelled() else fut.exception()
                lost_exc = exc
                if lost_exc is None and isinstance(close_exc, Exception):
                    lost_exc = close_exc
                protocol.connection_lost(lost_exc)

            future.add_done_callback(done)

        def pause_reading(self) -> None:
            if self._serial is not None:
                super().pause_reading()

        def resume_reading(self) -> None:
            if self._serial is not None:
                super().resume_reading()

    return _PyserialTransport


class _PyserialPort(_TransportPort):
    _backend = "pyserial-asyncio"

    def __init__(self, name: str, transport: asyncio.Transport, protocol: _LinkProtocol, dtr: bool) -> None:
        super().__init__(name, transport, protocol)
        self._dtr = dtr

    def _discard_output(self) -> None:
        self._transport.discard_on_close = True  # type: ignore[attr-defined]

    @property
    def supports_dtr(self) -> bool:
        return self._dtr

    def _set_dtr(self, value: bool) -> None:
        serial = self._transport.get_extra_info("serial")
        if serial is None:
            raise ModemUnavailable(f"{self.name}: port is closed")
        serial.dtr = value


def _open_pyserial_blocking(path: str, baudrate: int, rtscts: bool) -> tuple[Any, bool]:
    import serial

    port = serial.Serial(
        port=path,
        baudrate=baudrate,
        rtscts=rtscts,
        exclusive=True,
        timeout=0,
        write_timeout=0,
    )
    try:
        _claim_tty(port.fd)
        port.reset_input_buffer()  # stale bytes from before the open
        return port, _has_modem_lines(port.fd)
    except BaseException:
        _close_serial(port, False)
        raise


async def open_pyserial(
    loop: asyncio.AbstractEventLoop, name: str, path: str, baudrate: int, rtscts: bool, high: int
) -> Port:
    import serial

    transport_cls = _pyserial_transport_cls()
    opening = loop.run_in_executor(None, _open_pyserial_blocking, path, baudrate, rtscts)
    try:
        port, dtr = await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_after_cancelled_open)
        raise
    except ValueError as exc:
        raise LocalProtocolError(f"{name}: unsupported setting: {exc}") from exc
    except (OSError, serial.SerialException) as exc:
        raise _open_failed(name, exc) from exc
    protocol = _LinkProtocol(loop)
    transport = transport_cls(loop, protocol, port)
    transport._max_read_size = _PYSERIAL_READ_SIZE  # type: ignore[attr-defined]
    transport.set_write_buffer_limits(high=high)
    protocol.transport = transport  # connection_made() is only scheduled yet
    pyserial_port = _PyserialPort(name, transport, protocol, dtr)
    pyserial_port._byte_time = _BITS_PER_BYTE / baudrate
    pyserial_port.hardware_flow_control = rtscts
    pyserial_port.uart = _is_uart(getattr(port, "fd", None))
    pyserial_port.unprotected_uart = pyserial_port.uart and not rtscts
    return pyserial_port


def _close_after_cancelled_open(fut: asyncio.Future[tuple[Any, bool]]) -> None:
    if fut.cancelled() or fut.exception() is not None:
        return
    _close_serial(fut.result()[0], False)


# ---------------------------------------------------------------------------
# socket://
# ---------------------------------------------------------------------------


class _SocketPort(_TransportPort):
    _backend = "socket"


async def open_socket(loop: asyncio.AbstractEventLoop, name: str, host: str, port: int, high: int) -> Port:
    protocol = _LinkProtocol(loop)
    try:
        async with asyncio.timeout(_CONNECT_TIMEOUT):
            transport, _ = await loop.create_connection(lambda: protocol, host, port)
    except TimeoutError as exc:
        raise ModemUnavailable(f"cannot open {name}: no connection within {_CONNECT_TIMEOUT:g} s") from exc
    except OSError as exc:
        raise ModemUnavailable(f"cannot open {name}: {_describe(exc)}") from exc
    transport.set_write_buffer_limits(high=high)
    return _SocketPort(name, transport, protocol)
