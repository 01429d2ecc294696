"""Far ends of a port link for the tests: a pty master, a TCP peer, a memory port."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import os
from collections.abc import Awaitable, Callable

from quectel_aio._ports import Port


class Peer(abc.ABC):
    """The other end of the link under test."""

    @abc.abstractmethod
    async def send(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def recv_exactly(self, n: int) -> bytes: ...

    @abc.abstractmethod
    async def close(self) -> None: ...


class Pty:
    """A raw pseudo-terminal; the test drives the master, the port opens ``path``."""

    def __init__(self) -> None:
        import tty

        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.master_open = True

    def close_master(self) -> None:
        if self.master_open:
            self.master_open = False
            os.close(self.master)

    def close(self) -> None:
        self.close_master()
        os.close(self.slave)


class PtyPeer(Peer):
    """Drives a pty master fd with os.read/os.write and loop readers/writers."""

    def __init__(self, pty: Pty) -> None:
        os.set_blocking(pty.master, False)
        self.pty = pty
        self.fd = pty.master
        self.loop = asyncio.get_running_loop()

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.fd, view[: 64 * 1024])
            except BlockingIOError:
                writable = self.loop.create_future()
                self.loop.add_writer(self.fd, writable.set_result, None)
                try:
                    await writable
                finally:
                    self.loop.remove_writer(self.fd)
            else:
                view = view[n:]

    async def recv_exactly(self, n: int) -> bytes:
        buf = bytearray()
        done: asyncio.Future[None] = self.loop.create_future()

        def ready() -> None:
            try:
                chunk = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return
            except OSError as exc:
                if not done.done():
                    done.set_exception(exc)
                return
            buf.extend(chunk)
            if len(buf) >= n and not done.done():
                done.set_result(None)

        if n:
            self.loop.add_reader(self.fd, ready)
            try:
                await done
            finally:
                self.loop.remove_reader(self.fd)
        return bytes(buf)

    async def close(self) -> None:
        self.pty.close_master()


class SocketPeer(Peer):
    """The server side of a socket:// link."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def recv_exactly(self, n: int) -> bytes:
        return await self.reader.readexactly(n)

    async def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class MemoryPeer(Peer):
    """The other half of a memory_port_pair()."""

    def __init__(self, port: Port) -> None:
        self.port = port
        self.pending = bytearray()

    async def send(self, data: bytes) -> None:
        self.port.write(data)
        await self.port.drain(timeout=5)

    async def recv_exactly(self, n: int) -> bytes:
        while len(self.pending) < n:
            chunk = await self.port.read()
            if not chunk:
                break
            self.pending += chunk
        data, self.pending = bytes(self.pending[:n]), self.pending[n:]
        return data

    async def close(self) -> None:
        await self.port.aclose()


class Link:
    """A port under test and its far end."""

    def __init__(self, port: Port, peer: Peer) -> None:
        self.port = port
        self.peer = peer


MakeLink = Callable[..., Awaitable[Link]]
"""``await make_link(backend, **open_kwargs)`` -> :class:`Link`."""


async def read_exactly(port: Port, n: int) -> bytes:
    """Read from ``port`` until ``n`` bytes arrived (or EOF)."""
    chunks: list[bytes] = []
    got = 0
    while got < n:
        chunk = await port.read()
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


async def write_all(port: Port, data: bytes, chunk: int = 16 * 1024) -> None:
    """Write ``data`` in chunks, draining (bounded) as a driver would."""
    view = memoryview(data)
    for start in range(0, len(view), chunk):
        port.write(bytes(view[start : start + chunk]))
        await port.drain(timeout=5)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
