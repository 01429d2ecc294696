"""A module TLS socket as an :class:`anyio.abc.ByteStream`.

Theory of operation
-------------------
:class:`ModemByteStream` wraps the asyncio stream pair of one module SSL socket
so that code written against anyio's stream interfaces (buffered readers,
``TextStream``, protocol libraries that take a ``ByteStream``) can use it. It
runs on anyio's asyncio backend only: the modem driver is asyncio.

Errors follow anyio's conventions: the peer's clean close is
:class:`anyio.EndOfStream`; a socket that failed (restart, PDP loss, unknown
send outcome) raises :class:`anyio.BrokenResourceError` from the
:class:`~quectel_aio.SocketBroken`; using the stream after :meth:`aclose` raises
:class:`anyio.ClosedResourceError`; two tasks receiving (or sending) at once
raise :class:`anyio.BusyResourceError`. :meth:`send_eof` raises
:class:`NotImplementedError`, like anyio's own TLS stream: the module cannot
half-close.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self

import anyio
from anyio import TypedAttributeSet, typed_attribute
from anyio.abc import ByteStream, SocketAttribute

from .._errors import LocalProtocolError, QuectelError
from ..modem import Modem
from ..ssl_config import SSLConfig
from ._opening import DataFirstProtocol, create_connection

__all__ = ["ModemAttribute", "ModemByteStream"]


class ModemAttribute(TypedAttributeSet):
    """Typed attributes of a :class:`ModemByteStream` beyond anyio's socket ones."""

    #: The module's SSL client ID (0-11).
    client_id: int = typed_attribute()
    #: The SSL context the socket was opened with (0-5).
    ssl_context_id: int = typed_attribute()
    #: The host name the module connected to, sent for SNI and verified.
    server_hostname: str = typed_attribute()


class ModemByteStream(ByteStream):
    """One module TLS socket with anyio's byte stream interface.

    Use :meth:`connect`; the constructor takes an already open stream pair.

    Example::

        stream = await ModemByteStream.connect(modem, "example.com", 443, ssl=SSLConfig(cafile="ca.pem"))
        async with stream:
            await stream.send(b"ping")
            reply = await stream.receive()
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._closed = False
        #: A cancelled aclose() aborted the socket, dropping unsent bytes.
        self._discarded = False
        self._receiving = False
        self._sending = False

    @classmethod
    async def connect(cls, modem: Modem, host: str, port: int, *, ssl: SSLConfig) -> Self:
        """Open a module TLS socket to ``host:port``.

        Args:
            modem: an open :class:`~quectel_aio.Modem` with an active PDP context.
            host: server host name (sent for SNI and verified) or IP address.
            port: server TCP port.
            ssl: the TLS settings the module enforces.

        Returns:
            The connected stream.

        Raises:
            LocalProtocolError: invalid arguments (nothing was sent).
            SocketOpenError: the module could not open the socket.
        """
        if not isinstance(ssl, SSLConfig):
            raise LocalProtocolError("ssl must be a quectel_aio.SSLConfig (TLS runs on the module)")
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        transport, protocol = await create_connection(
            modem, lambda: DataFirstProtocol(reader, loop), host, port, ssl=ssl
        )
        return cls(reader, asyncio.StreamWriter(transport, protocol, reader, loop))

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        if self._closed:
            raise anyio.ClosedResourceError
        busy = "_receiving" if what == "receive" else "_sending"
        if getattr(self, busy):
            raise anyio.BusyResourceError(f"{what} on the stream")
        setattr(self, busy, True)
        try:
            yield
        except (QuectelError, OSError) as exc:
            if self._closed:
                raise anyio.ClosedResourceError from exc
            raise anyio.BrokenResourceError(str(exc)) from exc
        finally:
            setattr(self, busy, False)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Return up to ``max_bytes`` received bytes.

        Args:
            max_bytes: the most bytes to return (at least 1).

        Returns:
            At least one byte.

        Raises:
            ValueError: ``max_bytes`` is below 1.
            anyio.EndOfStream: the server closed the connection and every byte
                was delivered.
            anyio.BrokenResourceError: the socket failed (once every byte
                received before that was returned).
            anyio.ClosedResourceError: the stream was closed, also while this
                call waited for data.
        """
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        with self._guard("receive"):
            data = await self._reader.read(max_bytes)
        if not data:
            if self._closed:
                raise anyio.ClosedResourceError  # aclose() ended the stream under this receive
            self._raise_failure()  # every byte received before it was returned first
            raise anyio.EndOfStream
        return data

    async def send(self, item: bytes) -> None:
        """Send ``item``; returns once the buffered data is below the low-water mark.

        Args:
            item: the bytes to send.

        Raises:
            anyio.BrokenResourceError: the socket failed or the server closed it.
            anyio.ClosedResourceError: the stream was closed (or a cancelled
                :meth:`aclose` dropped ``item`` unsent).
        """
        with self._guard("send"):
            if self._writer.transport.is_closing():
                self._raise_failure()
                raise anyio.BrokenResourceError("the connection is closed")
            self._writer.write(item)
            await self._writer.drain()
            if self._discarded:
                raise anyio.ClosedResourceError  # aborted with the bytes still queued
            self._raise_failure()

    def _raise_failure(self) -> None:
        """Raise :class:`anyio.BrokenResourceError` if the socket failed (see :class:`DataFirstProtocol`)."""
        protocol = self._writer.transport.get_protocol()
        error = protocol.error if isinstance(protocol, DataFirstProtocol) else None
        if error is not None:
            raise anyio.BrokenResourceError(str(error)) from error

    async def send_eof(self) -> None:
        """Refuse: the module cannot half-close a TLS socket.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError("the module's SSL sockets cannot half-close; use aclose()")

    async def aclose(self) -> None:
        """Flush what was sent, then close the module socket (``AT+QSSLCLOSE``).

        Cancelled (:func:`anyio.aclose_forcefully`, a cancelled task group),
        it aborts the socket instead, as anyio's own streams do: unsent bytes
        are dropped, and a :meth:`send` waiting for them raises
        :class:`anyio.ClosedResourceError`.
        """
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (QuectelError, OSError):
            pass
        except BaseException:
            self._discarded = True
            self._writer.transport.abort()
            raise

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        """The remote address and port (anyio socket attributes) and :class:`ModemAttribute`."""
        transport = self._writer.transport
        host, port = transport.get_extra_info("peername")
        return {
            SocketAttribute.remote_address: lambda: host,
            SocketAttribute.remote_port: lambda: port,
            ModemAttribute.server_hostname: lambda: host,
            ModemAttribute.client_id: lambda: transport.get_extra_info("client_id"),
            ModemAttribute.ssl_context_id: lambda: transport.get_extra_info("quectel_ssl_ctx"),
        }
