"""A real aiohttp.web HTTPS server on loopback, the peer of the HTTP client tests.

Routes:

* ``GET /bytes/{n}``: ``n`` pattern bytes with Content-Length;
* ``GET /chunked/{n}``: the same bytes, chunked transfer encoding;
* ``POST /digest``: JSON ``{"size", "sha256"}`` of the request body;
* ``GET /cut/{n}``: announces ``n`` bytes, sends half, closes the connection;
* ``GET /cut-chunked/{n}``: chunked, sends half, closes without the last chunk;
* ``GET /together/{k}``: answers once ``k`` such requests are in flight at once;
* ``GET /then-408``: answers, then sends an unasked ``408 Request Timeout`` on the
  idle connection (as servers do before closing one); ``stale_sent`` is set then.

The server records the peer address of every request it served (``peers``)
and can close every connection it served (:meth:`WebServer.drop_connections`).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from types import TracebackType
from typing import Self

from aiohttp import web

from .peer import pattern

CHUNK = 8192


class WebServer:
    """The running server; use as an async context manager."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self.ssl_context = ssl_context
        self.port = 0
        self.peers: list[tuple[str, int]] = []
        self.transports: list[asyncio.BaseTransport] = []
        self._together: list[asyncio.Future[None]] = []
        self.stale_sent = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=4 * 1024 * 1024)  # above the 1 MiB uploads
        app.router.add_get("/bytes/{n}", self._bytes)
        app.router.add_get("/chunked/{n}", self._chunked)
        app.router.add_post("/digest", self._digest)
        app.router.add_get("/cut/{n}", self._cut)
        app.router.add_get("/cut-chunked/{n}", self._cut_chunked)
        app.router.add_get("/together/{k}", self._together_handler)
        app.router.add_get("/then-408", self._then_408)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def _note(self, request: web.Request) -> None:
        assert request.transport is not None
        self.peers.append(request.transport.get_extra_info("peername"))
        self.transports.append(request.transport)

    def drop_connections(self) -> None:
        """Close every connection the server has served (idle keep-alive ones included)."""
        for transport in self.transports:
            transport.close()

    async def _bytes(self, request: web.Request) -> web.Response:
        self._note(request)
        return web.Response(body=pattern(int(request.match_info["n"])))

    async def _chunked(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        body = pattern(int(request.match_info["n"]))
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for offset in range(0, len(body), CHUNK):
            await response.write(body[offset : offset + CHUNK])
        await response.write_eof()
        return response

    async def _digest(self, request: web.Request) -> web.Response:
        self._note(request)
        body = await request.read()
        return web.json_response({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})

    async def _cut(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        size = int(request.match_info["n"])
        response = web.StreamResponse(headers={"Content-Length": str(size)})
        await response.prepare(request)
        await response.write(pattern(size)[: size // 2])
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.close()
        return response

    async def _cut_chunked(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        size = int(request.match_info["n"])
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(pattern(size)[: size // 2])
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.close()
        return response

    async def _then_408(self, request: web.Request) -> web.StreamResponse:
        self._note(request)
        response = web.Response(text="fresh")
        await response.prepare(request)
        await response.write_eof()
        transport = request.transport
        assert transport is not None

        def stale() -> None:
            transport.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
            self.stale_sent.set()

        # Later, so that the client has read the whole response before it arrives.
        asyncio.get_running_loop().call_later(0.2, stale)
        return response

    async def _together_handler(self, request: web.Request) -> web.Response:
        """Answer only when ``k`` requests wait here at the same time (proves concurrency)."""
        self._note(request)
        wanted = int(request.match_info["k"])
        arrived = asyncio.get_running_loop().create_future()
        self._together.append(arrived)
        if len(self._together) >= wanted:
            for waiter in self._together:
                if not waiter.done():
                    waiter.set_result(None)
            self._together.clear()
        await asyncio.wait_for(arrived, 30)
        return web.Response(text=f"{wanted} together")
