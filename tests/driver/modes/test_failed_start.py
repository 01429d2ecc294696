"""A protocol whose ``connection_made()`` raises, in every access mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

import pytest

from quectel_aio import Modem, SocketBroken, SSLConfig
from quectel_aio.testing import IssuedCert, ModemEmulator, TlsTestServer, server_ssl_context, start_tls_server

from ..conftest import ECHO_HOST
from ..helpers import commands, eventually
from .conftest import pattern

Mode = Literal["buffer", "push", "transparent"]
GREETING = pattern(3000, seed=5)


@pytest.fixture
async def greeting_server(server_cert: IssuedCert) -> AsyncIterator[TlsTestServer]:
    """Sends GREETING as soon as a client connects (data on its way before connection_made)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(GREETING)
        await writer.drain()
        await reader.read()

    context = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    async with await start_tls_server(context, handler) as server:
        yield server


class BrokenStart(asyncio.Protocol):
    """A protocol with a bug in connection_made()."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.calls.append("connection_made")
        raise ValueError("bug in connection_made")

    def data_received(self, data: bytes) -> None:
        self.calls.append("data_received")

    def eof_received(self) -> None:
        self.calls.append("eof_received")

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append("connection_lost")
        self.lost.set_result(exc)


@pytest.mark.parametrize("mode", ["buffer", "push", "transparent"])
async def test_a_raising_connection_made_closes_the_socket_and_frees_its_id(
    modem: Modem,
    emulator: ModemEmulator,
    greeting_server: TlsTestServer,
    ssl_config: SSLConfig,
    mode: Mode,
) -> None:
    protocol = BrokenStart()
    with pytest.raises(ValueError, match="bug in connection_made"):
        await modem.create_connection(
            lambda: protocol, ECHO_HOST, greeting_server.port, ssl=ssl_config, mode=mode
        )
    async with asyncio.timeout(10):
        exc = await protocol.lost
    # Like asyncio's TLS transport: the connection ends with the protocol's error,
    # nothing is delivered to (or kept for) the protocol, and the module socket is closed.
    assert isinstance(exc, SocketBroken)
    assert isinstance(exc.__cause__, ValueError)
    assert protocol.calls == ["connection_made", "connection_lost"]
    await eventually(lambda: (0, 0) in commands(emulator, "+QSSLCLOSE"), what="AT+QSSLCLOSE=0,0")

    # The client ID is free again, and the modem serves the next connection.
    reader, writer = await modem.open_connection(ECHO_HOST, greeting_server.port, ssl=ssl_config)
    assert writer.get_extra_info("client_id") == 0
    async with asyncio.timeout(10):
        assert await reader.readexactly(len(GREETING)) == GREETING
    writer.close()
    await writer.wait_closed()
