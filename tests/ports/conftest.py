"""Fixtures: a pty, a link (port + far end) per backend, leak checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from quectel_aio._memory_ports import memory_port_pair
from quectel_aio._ports import open_port

from .helpers import Link, MakeLink, MemoryPeer, Pty, PtyPeer, SocketPeer

ALL_BACKENDS = ["serialx", "pyserial-asyncio", "socket", "memory"]
SERIAL_BACKENDS = ["serialx", "pyserial-asyncio"]


@pytest.fixture(autouse=True)
def leak_checks(no_leaked_fds: None, no_leaked_tasks: None) -> None:
    """Every test here must leave no file descriptor and no task behind."""


@pytest.fixture
def pty() -> Iterator[Pty]:
    """A raw pty. The test keeps a slave fd open throughout: with none open,
    reads on the master fail with EIO until the port opens the slave."""
    handle = Pty()
    yield handle
    handle.close()


@pytest.fixture
async def make_link(pty: Pty) -> AsyncIterator[MakeLink]:
    """Factory: ``await make_link(backend, **open_kwargs)`` -> Link."""
    links: list[Link] = []
    servers: list[asyncio.Server] = []

    async def make(backend: str, **kwargs: Any) -> Link:
        if backend in SERIAL_BACKENDS:
            port = await open_port(pty.path, backend=backend, **kwargs)
            link = Link(port, PtyPeer(pty))
        elif backend == "socket":
            accepted: asyncio.Future[SocketPeer] = asyncio.get_running_loop().create_future()

            async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                accepted.set_result(SocketPeer(reader, writer))

            server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
            servers.append(server)
            host, tcp_port = server.sockets[0].getsockname()[:2]
            port = await open_port(f"socket://{host}:{tcp_port}", **kwargs)
            link = Link(port, await accepted)
        else:
            a, b = memory_port_pair(**kwargs)
            link = Link(a, MemoryPeer(b))
        links.append(link)
        return link

    yield make
    for link in links:
        await link.port.aclose()
        await link.peer.close()
    for server in servers:
        server.close()
        await server.wait_closed()
