"""Opening a protocol on a module socket the way ``loop.create_connection`` would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from ..modem import Modem
    from ..ssl_config import SSLConfig
    from ..transport import ModemSocketTransport

ProtocolT = TypeVar("ProtocolT", bound=asyncio.Protocol)


class DataFirstProtocol(asyncio.StreamReaderProtocol):
    """A stream reader protocol whose reader gets every received byte before the connection's error.

    An error set on an :class:`asyncio.StreamReader` is raised before the
    bytes it still buffers; anyio's and httpcore's own streams hand those
    bytes over first. So the reader gets an end of stream, and the error is
    kept in :attr:`error` for the adapter to raise once the bytes are read.
    """

    def __init__(self, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(reader, loop=loop)
        #: Why the connection failed (None: it ended cleanly or is open).
        self.error: Exception | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.error = exc
        super().connection_lost(None)


async def create_connection(
    modem: Modem,
    protocol_factory: Callable[[], ProtocolT],
    host: str,
    port: int,
    *,
    ssl: SSLConfig,
) -> tuple[ModemSocketTransport, ProtocolT]:
    """Open a module TLS socket and return only after ``connection_made`` ran.

    ``loop.create_connection`` returns after the protocol's ``connection_made``;
    ``Modem.create_connection`` schedules it with ``call_soon`` and returns at
    once. Libraries such as aiohttp use ``protocol.transport`` right after the
    call, so this waits for one scheduled callback: the ready queue is FIFO, so
    it runs after the ``connection_made`` already queued. If the wait is
    cancelled the socket is aborted, never left open.
    """
    protocol: ProtocolT | None = None

    def factory() -> ProtocolT:
        nonlocal protocol
        protocol = protocol_factory()
        return protocol

    transport, _ = await modem.create_connection(factory, host, port, ssl=ssl)
    loop = asyncio.get_running_loop()
    made: asyncio.Future[None] = loop.create_future()
    loop.call_soon(made.set_result, None)
    try:
        await made
    except BaseException:
        transport.abort()
        raise
    assert protocol is not None
    return transport, protocol
