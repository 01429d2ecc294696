"""Small TLS servers on loopback, the peers of the emulated module.

Each server tracks its connections and closes them on :meth:`TlsTestServer.aclose`
so that no transport outlives a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

__all__ = [
    "ConnectionHandler",
    "TlsTestServer",
    "server_ssl_context",
    "start_https_server",
    "start_tls_echo_server",
    "start_tls_server",
]

ConnectionHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def server_ssl_context(
    cert_pem: bytes,
    key_pem: bytes,
    *,
    client_ca_pem: bytes | None = None,
    minimum_version: ssl.TLSVersion | None = None,
    maximum_version: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
) -> ssl.SSLContext:
    """Build a server-side :class:`ssl.SSLContext` from PEM bytes.

    Args:
        cert_pem: the server certificate, optionally followed by its chain.
        key_pem: the server private key.
        client_ca_pem: if given, client certificates signed by it are required.
        minimum_version: lowest TLS version offered.
        maximum_version: highest TLS version offered.
        ciphers: an OpenSSL cipher string for TLS 1.2 and below.

    Returns:
        The context.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="quectel-aio-") as tmp:
        cert_path = os.path.join(tmp, "cert.pem")
        key_path = os.path.join(tmp, "key.pem")
        with open(cert_path, "wb") as fh:
            fh.write(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem)
        ctx.load_cert_chain(cert_path, key_path)
    if client_ca_pem is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_ca_pem.decode("ascii"))
    if minimum_version is not None:
        ctx.minimum_version = minimum_version
    if maximum_version is not None:
        ctx.maximum_version = maximum_version
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    return ctx


class TlsTestServer:
    """A running TLS server on loopback.

    Attributes:
        host: the bound address.
        port: the bound port.
        peer_certs: DER client certificates seen (``None`` when none was sent).
        server_names: SNI names received (``None`` when the client sent none).
        tls_versions: negotiated protocol versions (``"TLSv1.2"``...).
        accepted: number of completed TLS handshakes.
    """

    def __init__(self, server: asyncio.Server, host: str, port: int) -> None:
        self._server = server
        self.host = host
        self.port = port
        self.peer_certs: list[bytes | None] = []
        self.server_names: list[str | None] = []
        self.tls_versions: list[str | None] = []
        self.accepted = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and close every open connection."""
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            # Aborted transports end the handlers; cancel only what is stuck.
            _done, stuck = await asyncio.wait(list(self._tasks), timeout=1.0)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)
        await self._server.wait_closed()


async def start_tls_server(
    ssl_context: ssl.SSLContext,
    handler: ConnectionHandler,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> TlsTestServer:
    """Start a TLS server running ``handler`` for every connection.

    Args:
        ssl_context: the server context (see :func:`server_ssl_context`).
        handler: ``async handler(reader, writer)``; the writer is closed after it
            returns.
        host: address to bind.
        port: port to bind (0: any free port).

    Returns:
        The running :class:`TlsTestServer`; use it as an async context manager
        or call :meth:`TlsTestServer.aclose`.
    """
    holder: list[TlsTestServer] = []
    names: dict[int, str | None] = {}

    def sni_callback(sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        names[id(sslobj)] = server_name

    ssl_context.sni_callback = sni_callback

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        srv = holder[0]
        task = asyncio.current_task()
        assert task is not None
        srv._tasks.add(task)
        srv._writers.add(writer)
        try:
            sslobj = writer.get_extra_info("ssl_object")
            if sslobj is not None:
                srv.accepted += 1
                srv.server_names.append(names.pop(id(sslobj), None))
                srv.peer_certs.append(sslobj.getpeercert(binary_form=True))
                srv.tls_versions.append(sslobj.version())
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only aclose() cancels these tasks. Ending normally keeps
            # asyncio's stream callback (task.exception()) from raising.
            pass
        finally:
            srv._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), 5)
            srv._tasks.discard(task)

    server = await asyncio.start_server(on_connect, host, port, ssl=ssl_context)
    sockname = server.sockets[0].getsockname()
    srv = TlsTestServer(server, sockname[0], sockname[1])
    holder.append(srv)
    return srv


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        data = await reader.read(65536)
        if not data:
            return
        writer.write(data)
        await writer.drain()


async def start_tls_echo_server(
    cert_pem: bytes = b"",
    key_pem: bytes = b"",
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    client_ca_pem: bytes | None = None,
    greeting: bytes = b"",
    ssl_context: ssl.SSLContext | None = None,
) -> TlsTestServer:
    """Start a TLS echo server on loopback.

    Args:
        cert_pem: server certificate (or chain) PEM (unless ``ssl_context``).
        key_pem: server key PEM (unless ``ssl_context``).
        host: address to bind.
        port: port to bind (0: any free port; read it from ``.port``).
        client_ca_pem: require client certificates signed by this CA.
        greeting: bytes sent to each client right after the handshake.
        ssl_context: use this context instead of building one from the PEMs.

    Returns:
        The running :class:`TlsTestServer`.

    Raises:
        ValueError: if neither PEMs nor ``ssl_context`` are given.
    """
    if ssl_context is None and not (cert_pem and key_pem):
        raise ValueError("give cert_pem and key_pem, or ssl_context")
    ctx = ssl_context or server_ssl_context(cert_pem, key_pem, client_ca_pem=client_ca_pem)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if greeting:
            writer.write(greeting)
            await writer.drain()
        await _echo(reader, writer)

    return await start_tls_server(ctx, handler, host=host, port=port)


async def start_https_server(
    cert_pem: bytes,
    key_pem: bytes,
    *,
    body: bytes = b"hello from quectel-aio\n",
    content_type: str = "text/plain",
    host: str = "127.0.0.1",
    port: int = 0,
) -> TlsTestServer:
    """Start a minimal HTTPS/1.1 server answering every request with ``body``.

    Args:
        cert_pem: server certificate (or chain) PEM.
        key_pem: server key PEM.
        body: the response body.
        content_type: the ``Content-Type`` header value.
        host: address to bind.
        port: port to bind (0: any free port).

    Returns:
        The running :class:`TlsTestServer`.
    """
    ctx = server_ssl_context(cert_pem, key_pem)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            keep_alive = b"connection: close" not in head.lower()
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1].strip() or b"0")
            if length:
                await reader.readexactly(length)
            writer.write(
                b"HTTP/1.1 200 OK\r\n"
                + f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n".encode("ascii")
                + (b"" if keep_alive else b"Connection: close\r\n")
                + b"\r\n"
                + body
            )
            await writer.drain()
            if not keep_alive:
                return

    return await start_tls_server(ctx, handler, host=host, port=port)
