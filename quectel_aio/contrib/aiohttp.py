"""An aiohttp connector whose connections are module TLS sockets.

Theory of operation
-------------------
aiohttp has no public seam for a custom transport. Its own
``UnixConnector`` and ``NamedPipeConnector`` subclass ``BaseConnector`` and
override one coroutine, ``_create_connection(req, traces, timeout)``, which
returns a connected ``ResponseHandler`` built by ``self._factory``. That
override has kept its signature across aiohttp 3.x and leaves pooling,
keep-alive, limits and cleanup to aiohttp, so :class:`ModemConnector` uses it
and nothing else (``TCPConnector``'s DNS, happy-eyeballs and TLS helpers
change often and do not apply: the module resolves and runs TLS itself).

Each new connection opens a module SSL socket to the URL's host and port; the
host name is what the module sends for SNI and verifies the certificate
against. What the module cannot honour is refused before anything is sent:
``http://`` (the library has only SSL sockets), proxies, ``ssl=`` contexts,
fingerprints or ``ssl=False`` (verification is what the :class:`SSLConfig`
configures), and a ``server_hostname`` different from the URL's host.

Supported aiohttp: 3.9 to 3.x (the tests pass with 3.9.5 and 3.14.5).
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

try:
    import aiohttp
    from aiohttp.client_proto import ResponseHandler
except ImportError as exc:
    raise ImportError(
        "quectel_aio.contrib.aiohttp needs aiohttp: pip install 'quectel-aio[aiohttp]'"
    ) from exc

from .._errors import LocalProtocolError, QuectelError
from ..modem import Modem
from ..ssl_config import SSLConfig
from ._opening import create_connection

if TYPE_CHECKING:
    from aiohttp.client_reqrep import ClientRequest
    from aiohttp.tracing import Trace

__all__ = ["ModemConnector", "UnsupportedRequest"]

#: The module has twelve SSL client IDs.
MAX_SOCKETS = 12


class UnsupportedRequest(LocalProtocolError, aiohttp.ClientError):
    """The request asks for something the module cannot do; nothing was sent.

    Both a :class:`quectel_aio.LocalProtocolError` and an
    :class:`aiohttp.ClientError`.
    """


class _ModemResponseHandler(ResponseHandler):
    """aiohttp's protocol; a connection closed with request bytes still queued is aborted."""

    def close(self) -> None:
        transport = self.transport
        if transport is not None and transport.get_write_buffer_size():
            # aiohttp gave up on a request still being sent (a timeout, a
            # cancellation, an early answer). A graceful close would retry
            # SEND FAIL for send_fail_timeout seconds to a server that stopped
            # reading, and keep one of the module's twelve client IDs that long.
            transport.abort()
        super().close()


class ModemConnector(aiohttp.BaseConnector):
    """Connector for :class:`aiohttp.ClientSession` over module SSL sockets.

    Example::

        connector = ModemConnector(modem, ssl=SSLConfig(cafile="ca.pem"))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get("https://example.com/") as response:
                body = await response.read()

    Args:
        modem: an open :class:`~quectel_aio.Modem` with an active PDP context.
        ssl: the TLS settings the module enforces for every connection.
        limit: most simultaneous connections (1-12; the module has 12 client IDs,
            so further requests wait for a free connection instead of failing).
        limit_per_host: most simultaneous connections per host (0: no limit).
        keepalive_timeout: seconds an idle connection stays in the pool.
        force_close: close each connection after its response.

    Raises:
        LocalProtocolError: ``ssl`` is not an :class:`SSLConfig` or ``limit`` is
            outside 1-12.
    """

    def __init__(
        self,
        modem: Modem,
        *,
        ssl: SSLConfig,
        limit: int = MAX_SOCKETS,
        limit_per_host: int = 0,
        keepalive_timeout: float | None = 15.0,
        force_close: bool = False,
    ) -> None:
        if not isinstance(ssl, SSLConfig):
            raise LocalProtocolError("ssl must be a quectel_aio.SSLConfig (TLS runs on the module)")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_SOCKETS:
            raise LocalProtocolError(f"limit must be 1-{MAX_SOCKETS} (the module's SSL client IDs)")
        super().__init__(
            limit=limit,
            limit_per_host=limit_per_host,
            keepalive_timeout=None if force_close else keepalive_timeout,
            force_close=force_close,
        )
        self._modem = modem
        self._ssl_config = ssl

    @property
    def modem(self) -> Modem:
        """The modem whose sockets this connector opens."""
        return self._modem

    async def _create_connection(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> ResponseHandler:
        host, port = _target(req)
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout.sock_connect):
                _, protocol = await create_connection(
                    self._modem,
                    functools.partial(_ModemResponseHandler, loop=loop),
                    host,
                    port,
                    ssl=self._ssl_config,
                )
        except LocalProtocolError as exc:
            # A host name or port the module cannot take: refused before
            # anything was sent, and still an aiohttp.ClientError.
            raise UnsupportedRequest(str(exc)) from exc
        except QuectelError as exc:
            raise aiohttp.ClientConnectorError(req.connection_key, ConnectionError(str(exc))) from exc
        return protocol


def _target(req: ClientRequest) -> tuple[str, int]:
    """Return ``(host, port)`` for a request, or refuse what the module cannot honour."""
    url = req.url
    if not req.is_ssl():
        raise UnsupportedRequest(
            f"{url.scheme}:// is not supported: the module connector opens only TLS sockets (use https://)"
        )
    if req.proxy is not None:
        raise UnsupportedRequest("proxies are not supported by the module connector")
    ssl_arg: Any = req.ssl
    if ssl_arg is not True:
        raise UnsupportedRequest(
            "ssl= contexts, fingerprints and ssl=False cannot be applied: TLS runs on the module and "
            "verifies with the connector's SSLConfig; leave ssl= at its default"
        )
    host = req.host
    if req.server_hostname is not None and req.server_hostname != host:
        raise UnsupportedRequest(
            "server_hostname must be the URL's host: the module sends that name for SNI and verifies it"
        )
    port = req.port
    if port is None:
        raise UnsupportedRequest(f"no port in {url}")
    return host, port
