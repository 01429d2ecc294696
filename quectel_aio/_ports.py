"""The byte-port seam: one open byte link to the modem, whatever carries it.

Theory of operation
-------------------
Everything above this module sees a :class:`Port`: ``read()`` returns the next
chunk of received bytes, ``write()`` queues bytes without blocking, ``drain()``
waits (bounded) for the queue to empty, ``aclose()`` ends the link. Four
backends carry the bytes:

* ``"serialx"``: the default for device paths. An fd-based asyncio transport;
  opening, configuring and closing run in the default executor, reads take up
  to 256 KiB per event-loop callback.
* ``"pyserial-asyncio"``: selectable explicitly. The port is opened and closed
  in the default executor (the stock transport does both, plus a ``tcdrain``
  that never returns while CTS is held low, on the event loop), and the
  1 KiB-per-callback read size of the stock transport is raised.
* ``"socket"``: ``socket://host:port``, a TCP byte stream (ser2net, an emulator
  in another process...), whatever ``backend`` says.
* ``"memory"``: :func:`quectel_aio._memory_ports.memory_port_pair`, two
  ports wired back to back.

The operating-system backends live in :mod:`quectel_aio._port_backends`
(imported on the first ``open_port``), with notes on their quirks.

All four share :class:`_LinkProtocol`. ``data_received`` appends the chunk to a
list and wakes the single pending ``read()`` once the bytes it asked for
(``at_least``, 1 by default) are there; ``read()`` hands back everything
received so far in one go (no copy when a single chunk is pending), so the hot
path costs at most one wakeup per chunk and no per-byte work. Past
``_READ_BUFFER_HIGH`` unread bytes the transport stops reading, so a stalled
consumer pushes back on the kernel buffer (and, with ``rtscts=True``, on the
module) instead of growing memory.

Flow control: the transport's write-buffer high-water mark is
``write_buffer_high``; ``pause_writing``/``resume_writing`` drive ``drain()``.
Every wait on the module is bounded: ``drain(timeout)`` that expires means the
bytes are not leaving (on a UART, CTS held low: the module is dead or wedged),
so the port is aborted and :class:`ModemUnavailable` raised. ``aclose()`` lets
queued bytes go for at most ``_CLOSE_GRACE`` seconds, then discards them.

Errors: serial and OS exceptions become :class:`ModemUnavailable` here, once,
chained with ``from``. Bad arguments raise :class:`LocalProtocolError` before
anything is opened.

Real hardware: on the USB AT port (``/dev/ttyUSB2``) the baud rate is ignored
and USB paces the bytes; a UART needs ``rtscts=True`` with RTS and CTS wired
(:attr:`Port.unprotected_uart` flags one opened without). README, "Real
hardware", has the details.

Pseudo-terminals (the emulator, ``socat`` bridges) work with both serial
backends; they have no modem lines, so :attr:`Port.supports_dtr` is False.
When the far end of a pty closes, the kernel reports ``EIO``, exactly as for
an unplugged USB modem, so ``read()`` raises :class:`ModemUnavailable` rather
than returning ``b""``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import importlib.util
import urllib.parse
from typing import TYPE_CHECKING, Final

from ._errors import LocalProtocolError, ModemUnavailable, QuectelError
from ._link_protocol import _READ_BUFFER_HIGH, _LinkProtocol

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

__all__ = [
    "BACKENDS",
    "Port",
    "open_port",
]

_CLOSE_GRACE = 2.0
"""Seconds ``aclose()`` lets queued bytes drain before discarding them."""

_DOWNSTREAM_BUFFER: Final = 4096
"""Bytes a kernel tty or USB-serial driver buffers below the transport (a page)."""

_MIN_BAUDRATE: Final = 50
_MAX_BAUDRATE: Final = 16_000_000


def _available_backends() -> tuple[str, ...]:
    found = []
    if importlib.util.find_spec("serialx") is not None:
        found.append("serialx")
    if importlib.util.find_spec("serial_asyncio") is not None:
        found.append("pyserial-asyncio")
    found += ["socket", "memory"]
    return tuple(found)


BACKENDS: Final[tuple[str, ...]] = _available_backends()
"""The backends usable in this environment."""


class Port(abc.ABC):
    """One open byte link to the modem.

    Attributes:
        name: the device path or URL, for logs (credentials redacted).
        hardware_flow_control: the port was opened with RTS/CTS.
        uart: a UART, or a USB-serial bridge to one (not the module's own
            USB function, not a pseudo-terminal).
        unprotected_uart: a UART without working RTS/CTS (not opened with
            it, or the module refused ``AT+IFC=2,2``): bytes the host does
            not take in time are lost.
    """

    name: str
    hardware_flow_control: bool = False
    uart: bool = False
    unprotected_uart: bool = False

    @abc.abstractmethod
    async def read(self, at_least: int = 1) -> bytes:
        """Return every byte received since the last call, waiting until ``at_least`` are there.

        ``at_least`` lets a reader that knows it needs more bytes (the rest of
        a length-announced payload) sleep through the partial arrivals; it is
        a hint, capped at the port's read buffer limit.

        Returns:
            The received bytes; fewer than ``at_least`` only just before the
            end of stream or a failure; ``b""`` at end of stream or once the
            port is closed.

        Raises:
            ModemUnavailable: the link failed (I/O error, device unplugged,
                write stall). Bytes received before the failure are returned
                first.
            RuntimeError: another ``read()`` is already waiting.
        """

    @property
    @abc.abstractmethod
    def pending(self) -> int:
        """Bytes received and not yet returned by ``read()``."""

    @abc.abstractmethod
    def cut_read_short(self) -> None:
        """Make the pending (or next) ``read()`` return as soon as any byte is buffered.

        For a reader whose ``at_least`` no longer holds (it gave up on the rest
        of a data block); cleared by the next ``read()`` that returns.
        """

    @abc.abstractmethod
    def write(self, data: bytes) -> None:
        """Queue ``data`` for sending; never blocks.

        Raises:
            ModemUnavailable: the port is closed or has failed.
        """

    @abc.abstractmethod
    async def drain(self, timeout: float | None = None) -> None:
        """Wait until the write buffer is below its low-water mark.

        Args:
            timeout: the longest wait in seconds; ``None`` waits for ever
                (avoid on real hardware: a module holding CTS low never
                takes the bytes).

        Raises:
            ModemUnavailable: the port is closed or failed, or the bytes did
                not leave within ``timeout``. A stall is fatal: the port is
                aborted and queued bytes are discarded.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the port; idempotent. A pending ``read()`` returns ``b""``."""

    @abc.abstractmethod
    def set_dtr(self, value: bool) -> None:
        """Drive the DTR line.

        Raises:
            LocalProtocolError: the port has no DTR line
                (see :attr:`supports_dtr`).
            ModemUnavailable: the port is closed or the control call failed.
        """

    @property
    @abc.abstractmethod
    def supports_dtr(self) -> bool:
        """Whether :meth:`set_dtr` can drive a real DTR line."""

    def transmit_backlog(self) -> float:
        """Seconds until the bytes written so far have left on the line (10 bits a byte).

        ``drain()`` cannot see bytes the kernel or a USB-serial bridge holds. 0 without a line speed.
        """
        return 0.0

    @property
    @abc.abstractmethod
    def backend(self) -> str:
        """The backend carrying the bytes: one of :data:`BACKENDS`."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} backend={self.backend}>"


class _TransportPort(Port):
    """A :class:`Port` over an asyncio transport and a :class:`_LinkProtocol`."""

    _backend: str = ""

    def __init__(self, name: str, transport: asyncio.Transport, protocol: _LinkProtocol) -> None:
        self.name = name
        self._transport = transport
        self._protocol = protocol
        self._closed = False
        self._close_done: asyncio.Future[None] | None = None
        self._stalled: ModemUnavailable | None = None
        #: Seconds a byte takes on the line (0: unknown); see transmit_backlog().
        self._byte_time = 0.0
        self._line_idle_at = 0.0

    # -- reading -----------------------------------------------------------

    async def read(self, at_least: int = 1) -> bytes:
        proto = self._protocol
        if proto.reader is not None:
            raise RuntimeError(f"{self.name}: read() is already in progress")
        wanted = 1 if at_least <= 1 else min(at_least, _READ_BUFFER_HIGH)
        while not self._closed:
            if proto.buffered >= wanted or (proto.held_back and proto.chunks):
                return proto.take()
            if self._stalled is not None or proto.error is not None or proto.lost.done():
                # What arrived before the failure or the end of stream comes first.
                if proto.chunks:
                    return proto.take()
                self._raise_if_failed()
                return b""
            waiter = proto.loop.create_future()
            proto.reader = waiter
            proto.wake_at = 1 if proto.held_back else wanted
            try:
                await waiter
            finally:
                proto.reader = None
                proto.wake_at = 1
        return b""

    @property
    def pending(self) -> int:
        return self._protocol.buffered

    def cut_read_short(self) -> None:
        proto = self._protocol
        proto.held_back = True
        proto.wake_at = 1
        if proto.chunks:
            proto._wake_reader()

    def _raise_if_failed(self) -> None:
        if self._stalled is not None:
            raise ModemUnavailable(str(self._stalled)) from self._stalled
        exc = self._protocol.error
        if exc is not None:
            raise ModemUnavailable(f"{self.name}: I/O error: {_describe(exc)}") from exc

    # -- writing -----------------------------------------------------------

    def _check_writable(self) -> None:
        if self._closed:
            raise ModemUnavailable(f"{self.name}: port is closed")
        self._raise_if_failed()
        if self._protocol.lost.done() or self._transport.is_closing():
            raise ModemUnavailable(f"{self.name}: connection closed by the other end")

    def write(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"write() takes bytes, not {type(data).__name__}")
        self._check_writable()
        try:
            self._transport.write(data)
            if self._byte_time:
                start = max(self._line_idle_at, self._protocol.loop.time())
                self._line_idle_at = start + len(data) * self._byte_time
        except QuectelError:
            raise
        except Exception as exc:  # the backends raise their own exception types
            raise ModemUnavailable(f"{self.name}: write failed: {_describe(exc)}") from exc

    async def drain(self, timeout: float | None = None) -> None:
        proto = self._protocol
        self._check_writable()
        if not proto.write_paused:
            return
        try:
            async with asyncio.timeout(timeout):
                while proto.write_paused and not proto.lost.done() and not self._closed:
                    if proto.drain_waiter is None:
                        proto.drain_waiter = proto.loop.create_future()
                    # shielded: a timed-out drain must not wake the other drainers
                    await asyncio.shield(proto.drain_waiter)
        except TimeoutError:
            if self._stalled is None:
                unsent = self._transport.get_write_buffer_size()
                self._stalled = ModemUnavailable(
                    f"{self.name}: write stalled for {timeout:g} s with {unsent} bytes unsent (CTS held low?)"
                )
                self._discard_output()
                self._release_device()
                self._transport.abort()
            raise ModemUnavailable(str(self._stalled)) from None
        self._check_writable()

    def _discard_output(self) -> None:
        """Drop bytes queued in the kernel, so that closing cannot block."""

    def _release_device(self) -> None:
        """Undo what opening claimed on the device, before its fd is closed."""

    # -- closing -----------------------------------------------------------

    async def aclose(self) -> None:
        if self._close_done is not None:
            await asyncio.shield(self._close_done)
            return
        self._closed = True
        proto = self._protocol
        self._close_done = proto.loop.create_future()
        proto._wake_reader()
        proto._wake_drainers()
        proto.chunks = []
        proto.buffered = 0
        self._release_device()
        try:
            await self._shutdown()
        except BaseException:
            self._transport.abort()
            raise
        finally:
            self._close_done.set_result(None)

    async def _shutdown(self) -> None:
        lost = self._protocol.lost
        self._transport.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(lost), _CLOSE_GRACE)
        if not lost.done():
            self._discard_output()
            self._transport.abort()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(lost), _CLOSE_GRACE)

    # -- modem lines ---------------------------------------------------------

    @property
    def supports_dtr(self) -> bool:
        return False

    def set_dtr(self, value: bool) -> None:
        if self._closed:
            raise ModemUnavailable(f"{self.name}: port is closed")
        if not self.supports_dtr:
            raise LocalProtocolError(f"{self.name}: port cannot drive DTR")
        try:
            self._set_dtr(value)
        except Exception as exc:
            raise ModemUnavailable(f"{self.name}: cannot set DTR: {_describe(exc)}") from exc

    def _set_dtr(self, value: bool) -> None:
        raise LocalProtocolError(f"{self.name}: port cannot drive DTR")

    def transmit_backlog(self) -> float:
        ahead = self._line_idle_at - self._protocol.loop.time()
        if ahead <= 0.0:
            return 0.0
        # On USB the line speed is fictitious: at most the queues below us are left.
        queued = self._transport.get_write_buffer_size() + _DOWNSTREAM_BUFFER
        return min(ahead, queued * self._byte_time)

    @property
    def backend(self) -> str:
        return self._backend


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"[Errno {exc.errno}] {exc.strerror}"
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------------------
# open_port
# ---------------------------------------------------------------------------


def _check_high(high: int) -> None:
    if isinstance(high, bool) or not isinstance(high, int) or high < 0:
        raise LocalProtocolError(f"write_buffer_high must be a non-negative int, not {high!r}")


def _redact(url: str) -> str:
    """Hide the password of a ``scheme://user:password@host`` URL."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{hostport}{slash}{tail}"


def _parse_socket_url(url: str, name: str) -> tuple[str, int]:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise LocalProtocolError(f"bad socket URL {name!r}: {exc}") from None
    if not parts.hostname or port is None or port == 0:
        raise LocalProtocolError(f"bad socket URL {name!r}: expected socket://host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise LocalProtocolError(f"bad socket URL {name!r}: no path, query or fragment allowed")
    return parts.hostname, port


async def open_port(
    url: str,
    *,
    baudrate: int = 115200,
    rtscts: bool = False,
    backend: str = "auto",
    write_buffer_high: int = 64 * 1024,
) -> Port:
    """Open a byte link to the modem.

    Args:
        url: an absolute device path (``/dev/ttyUSB2``, ``/dev/pts/N``,
            ``/dev/serial/by-id/...``) or ``socket://host:port``.
        baudrate: the line speed; ignored by USB AT ports, 115200 is the
            module's UART default.
        rtscts: hardware flow control; recommended on the UART (with RTS/CTS
            wired), not needed on USB.
        backend: ``"auto"`` (serialx for device paths), ``"serialx"`` or
            ``"pyserial-asyncio"``. ``socket://`` URLs always use a TCP
            connection, whatever this says.
        write_buffer_high: the write-buffer high-water mark driving
            :meth:`Port.drain` (the low-water mark is a quarter of it).

    Returns:
        The open port. Serial ports are opened with exclusive access (``flock``
        and ``TIOCEXCL``) and stale received bytes discarded.

    Raises:
        LocalProtocolError: a bad URL, baud rate, backend or buffer size;
            nothing was opened.
        ModemUnavailable: the device or host cannot be opened (missing,
            permission denied, in use, refused); the message names it.
    """
    if not isinstance(url, str) or not url or "\0" in url:
        raise LocalProtocolError(f"bad port URL {url!r}")
    name = _redact(url)
    if isinstance(baudrate, bool) or not isinstance(baudrate, int):
        raise LocalProtocolError(f"baudrate must be an int, not {baudrate!r}")
    if not _MIN_BAUDRATE <= baudrate <= _MAX_BAUDRATE:
        raise LocalProtocolError(f"baudrate {baudrate} is out of range")
    if not isinstance(rtscts, bool):
        raise LocalProtocolError(f"rtscts must be a bool, not {rtscts!r}")
    _check_high(write_buffer_high)
    if backend != "auto" and backend not in BACKENDS:
        raise LocalProtocolError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    if backend == "memory":
        raise LocalProtocolError("the memory backend has no URL; use memory_port_pair()")

    from . import _port_backends as backends  # the OS backends, imported on first use

    loop = asyncio.get_running_loop()
    if url.lower().startswith("socket://"):
        host, port = _parse_socket_url(url, name)
        return await backends.open_socket(loop, name, host, port, write_buffer_high)
    if "://" in url:
        raise LocalProtocolError(f"unsupported port URL {name!r}: use a device path or socket://host:port")
    if not url.startswith("/"):
        raise LocalProtocolError(f"bad port URL {name!r}: expected an absolute device path")
    if backend == "socket":
        raise LocalProtocolError(f"the socket backend needs a socket://host:port URL, not {name!r}")
    if backend in ("auto", "serialx"):
        if "serialx" not in BACKENDS:
            raise LocalProtocolError("serialx is not installed")
        return await backends.open_serialx(loop, name, url, baudrate, rtscts, write_buffer_high)
    return await backends.open_pyserial(loop, name, url, baudrate, rtscts, write_buffer_high)
