"""An httpx transport whose connections are module TLS sockets.

Theory of operation
-------------------
httpx hands each request to an ``httpx.AsyncBaseTransport``. :class:`ModemTransport`
is one: it keeps an ``httpcore.AsyncConnectionPool`` (HTTP/1.1 keep-alive,
at most twelve connections: the module's client IDs) whose network backend,
:class:`ModemNetworkBackend`, knows only module sockets.

httpcore opens an ``https://`` connection in two steps: ``connect_tcp(host,
port)``, then ``start_tls(ssl_context, server_hostname)`` on the stream it got.
The module cannot run TLS over a socket that is already open, so
``connect_tcp`` only records the target and returns a pending stream; its
``start_tls`` opens the module SSL socket (``AT+QSSLOPEN``) to that host, which
the module sends for SNI and verifies. The ``ssl_context`` httpcore passes is
never used for TLS: the module applies the :class:`~quectel_aio.SSLConfig`
given to the transport, and a ``server_hostname`` other than the URL's host is
refused.

``http://`` URLs are refused before anything is sent: this library has only
SSL sockets. httpx routes requests of a client created with ``proxy=`` to its
own proxy transports, around this one; do not combine the two.
httpcore exceptions are mapped to their httpx counterparts, as httpx's own
transport does; the :class:`~quectel_aio.QuectelError` behind a failure stays
in the exception chain (``__cause__`` / ``__context__``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

try:
    import httpcore
    import httpx
except ImportError as exc:
    raise ImportError("quectel_aio.contrib.httpx needs httpx: pip install 'quectel-aio[httpx]'") from exc

from .._errors import LocalProtocolError, QuectelError
from ..modem import Modem
from ..ssl_config import SSLConfig
from ._opening import DataFirstProtocol, create_connection

__all__ = ["ModemNetworkBackend", "ModemTransport", "UnsupportedRequest"]

#: The module has twelve SSL client IDs.
MAX_SOCKETS = 12

_HTTPCORE_TO_HTTPX: list[tuple[type[Exception], type[httpx.HTTPError]]] = [
    # Most specific first: the first match wins.
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
]


class UnsupportedRequest(LocalProtocolError, httpx.UnsupportedProtocol):
    """The request asks for something the module cannot do; nothing was sent.

    Both a :class:`quectel_aio.LocalProtocolError` and an
    :class:`httpx.UnsupportedProtocol`.
    """

    def __init__(self, message: str) -> None:
        LocalProtocolError.__init__(self, message)
        httpx.UnsupportedProtocol.__init__(self, message)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except UnsupportedRequest:
        raise
    except Exception as exc:
        for source, target in _HTTPCORE_TO_HTTPX:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class _CountingProtocol(DataFirstProtocol):
    """A stream reader protocol that counts the bytes it was given."""

    received = 0

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        super().data_received(data)


class _ModemStream(httpcore.AsyncNetworkStream):
    """An open module TLS socket as an httpcore stream."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: _CountingProtocol
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._protocol = protocol
        self._consumed = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                data = await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(f"no data within {timeout} s") from exc
        except (QuectelError, OSError) as exc:
            raise httpcore.ReadError(str(exc)) from exc
        error = self._protocol.error
        if not data and error is not None:
            # Only once every byte received before the failure was read.
            raise httpcore.ReadError(str(error)) from error
        self._consumed += len(data)
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(f"write not accepted within {timeout} s") from exc
        except (QuectelError, OSError, RuntimeError) as exc:
            cause = self._protocol.error or exc  # why the socket failed, if it did
            raise httpcore.WriteError(str(cause)) from cause
        if self._protocol.error is not None:
            raise httpcore.WriteError(str(self._protocol.error)) from self._protocol.error

    async def aclose(self) -> None:
        # httpcore closes a connection with bytes still queued only when the
        # request failed or was cancelled, and waits for the close (shielded)
        # before it raises. Its own asyncio backend aborts the socket, so a
        # server that stopped reading cannot hold the error up; a graceful
        # close would first retry SEND FAIL for send_fail_timeout seconds.
        self._writer.transport.abort()
        with contextlib.suppress(QuectelError, OSError):
            await self._writer.wait_closed()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise UnsupportedRequest("TLS inside TLS (an https proxy) is not possible on a module socket")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore drops an idle keep-alive connection that is readable: the
            # server closed it, or sent something unasked (a 408 before closing)
            # that must not be taken as the next request's response.
            return (
                self._protocol.received > self._consumed
                or self._reader.at_eof()
                or self._writer.transport.is_closing()
            )
        if info == "ssl_object":
            return None  # TLS runs on the module; also means "no ALPN": HTTP/1.1
        return self._writer.get_extra_info(info)


class _PendingStream(httpcore.AsyncNetworkStream):
    """What ``connect_tcp`` returns: a target; the socket opens in :meth:`start_tls`."""

    def __init__(self, backend: ModemNetworkBackend, host: str, port: int) -> None:
        self._backend = backend
        self._host = host
        self._port = port

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        raise UnsupportedRequest("plain TCP is not available: the module connector opens only TLS sockets")

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        raise UnsupportedRequest("plain TCP is not available: the module connector opens only TLS sockets")

    async def aclose(self) -> None:
        return None

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        if server_hostname is not None and server_hostname != self._host:
            raise UnsupportedRequest(
                "the SNI host name must be the URL's host: the module sends that name and verifies it"
            )
        return await self._backend.open_tls(self._host, self._port, timeout)

    def get_extra_info(self, info: str) -> Any:
        return None


class ModemNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that opens module TLS sockets.

    Args:
        modem: an open :class:`~quectel_aio.Modem` with an active PDP context.
        ssl: the TLS settings the module enforces.
    """

    def __init__(self, modem: Modem, *, ssl: SSLConfig) -> None:
        if not isinstance(ssl, SSLConfig):
            raise LocalProtocolError("ssl must be a quectel_aio.SSLConfig (TLS runs on the module)")
        self._modem = modem
        self._ssl_config = ssl

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Record the target; the module socket opens in ``start_tls``."""
        if local_address is not None or socket_options:
            raise UnsupportedRequest("local_address and socket_options do not apply to module sockets")
        return _PendingStream(self, host, port)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Refuse: the module has no Unix sockets."""
        raise UnsupportedRequest("Unix sockets are not available through the module")

    async def sleep(self, seconds: float) -> None:
        """Sleep on the asyncio loop."""
        await asyncio.sleep(seconds)

    async def open_tls(
        self, host: str, port: int, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        """Open a module TLS socket to ``host:port`` and return it as a stream.

        Args:
            host: server host name (sent for SNI and verified) or IP address.
            port: server TCP port.
            timeout: seconds to wait for the socket; ``None`` waits as long as
                the module takes.

        Returns:
            The open stream.

        Raises:
            httpcore.ConnectTimeout: not open within ``timeout`` seconds.
            httpcore.ConnectError: the module failed to open it (raised from
                the :class:`~quectel_aio.QuectelError`).
            UnsupportedRequest: a host name or port the module cannot take
                (nothing was sent).
        """
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await create_connection(
                    self._modem,
                    lambda: _CountingProtocol(reader, loop),
                    host,
                    port,
                    ssl=self._ssl_config,
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"no TLS socket to {host}:{port} within {timeout} s") from exc
        except UnsupportedRequest:
            raise
        except LocalProtocolError as exc:
            # A host name or port the module cannot take: refused before
            # anything was sent, and still an httpx exception.
            raise UnsupportedRequest(str(exc)) from exc
        except QuectelError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        return _ModemStream(reader, asyncio.StreamWriter(transport, protocol, reader, loop), protocol)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _httpx_errors():
                await close()


class ModemTransport(httpx.AsyncBaseTransport):
    """Transport for :class:`httpx.AsyncClient` over module SSL sockets.

    Example::

        transport = ModemTransport(modem, ssl=SSLConfig(cafile="ca.pem"))
        async with httpx.AsyncClient(transport=transport) as client:
            response = await client.get("https://example.com/")

    Args:
        modem: an open :class:`~quectel_aio.Modem` with an active PDP context.
        ssl: the TLS settings the module enforces for every connection.
        max_connections: most simultaneous connections (1-12).
        max_keepalive_connections: most idle connections kept open.
        keepalive_expiry: seconds an idle connection stays open.

    Raises:
        LocalProtocolError: ``ssl`` is not an :class:`SSLConfig` or a limit is
            out of range.
    """

    def __init__(
        self,
        modem: Modem,
        *,
        ssl: SSLConfig,
        max_connections: int = MAX_SOCKETS,
        max_keepalive_connections: int | None = None,
        keepalive_expiry: float | None = 5.0,
    ) -> None:
        if (
            isinstance(max_connections, bool)
            or not isinstance(max_connections, int)
            or not 1 <= max_connections <= MAX_SOCKETS
        ):
            raise LocalProtocolError(f"max_connections must be 1-{MAX_SOCKETS} (the module's SSL client IDs)")
        self._backend = ModemNetworkBackend(modem, ssl=ssl)
        self._pool = httpcore.AsyncConnectionPool(
            # Never used for TLS (the module does it); httpcore sets ALPN on it.
            ssl_context=_unused_ssl_context(),
            max_connections=max_connections,
            max_keepalive_connections=max_keepalive_connections,
            keepalive_expiry=keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=self._backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over a pooled module socket (opened on demand)."""
        if request.url.scheme != "https":
            raise UnsupportedRequest(
                f"{request.url.scheme}:// is not supported: module sockets are TLS only (use https://)"
            )
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        """Close every pooled connection."""
        await self._pool.aclose()


def _unused_ssl_context() -> ssl.SSLContext:
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
