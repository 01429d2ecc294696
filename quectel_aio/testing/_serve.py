"""Transports that connect a :class:`ModemEmulator` to a host: pty and TCP."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, cast

from ._config import EmulatorConfig
from ._pty import PtyPair, open_pty_pair

if TYPE_CHECKING:
    from ._emulator import ModemEmulator

__all__ = [
    "PtyServer",
    "Serving",
    "SocketServer",
    "run_emulator_forever",
    "serve_pty_forever",
    "serve_socket_forever",
]

_READ_SIZE = 65536


class PtyServer:
    """Serve an emulator on the master side of a pty with ``add_reader``."""

    def __init__(self, emu: ModemEmulator, pair: PtyPair) -> None:
        self._emu = emu
        self._pair = pair
        self._loop = asyncio.get_running_loop()
        self._out = bytearray()
        self._writing = False
        self._drained = asyncio.Event()
        self._drained.set()
        self._paused = False
        self._resume_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop.add_reader(self._pair.master_fd, self._on_readable)
        self._emu.attach(self._sink, self._drain)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._pair.master_fd, _READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            # EIO cannot happen while we hold the slave open; be defensive.
            self._loop.remove_reader(self._pair.master_fd)
            return
        if data:
            self._emu.feed(data)
            if self._emu.input_backlog and not self._paused:
                # Keep the pty's backpressure: read no faster than the link.
                self._paused = True
                self._loop.remove_reader(self._pair.master_fd)
                self._resume_task = self._loop.create_task(self._resume())

    async def _resume(self) -> None:
        await self._emu.wait_input_room()
        self._paused = False
        if self._pair.master_fd >= 0:
            self._loop.add_reader(self._pair.master_fd, self._on_readable)

    def _sink(self, data: bytes) -> None:
        if self._out:
            self._out += data
            return
        try:
            written = os.write(self._pair.master_fd, data)
        except BlockingIOError:
            written = 0
        except OSError:
            return
        if written < len(data):
            self._out += data[written:]
            self._drained.clear()
            if not self._writing:
                self._writing = True
                self._loop.add_writer(self._pair.master_fd, self._on_writable)

    def _on_writable(self) -> None:
        try:
            written = os.write(self._pair.master_fd, self._out)
        except BlockingIOError:
            return
        except OSError:
            self._out.clear()
            written = 0
        del self._out[:written]
        if not self._out:
            self._loop.remove_writer(self._pair.master_fd)
            self._writing = False
            self._drained.set()

    async def _drain(self) -> None:
        await self._drained.wait()

    async def aclose(self) -> None:
        if self._resume_task is not None:
            self._resume_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resume_task
        with contextlib.suppress(Exception):
            self._loop.remove_reader(self._pair.master_fd)
        if self._writing:
            with contextlib.suppress(Exception):
                self._loop.remove_writer(self._pair.master_fd)
            self._writing = False
        self._drained.set()
        await self._emu.aclose()
        self._pair.close()


class SocketServer:
    """Serve an emulator over TCP, one host connection at a time."""

    def __init__(self, emu: ModemEmulator) -> None:
        self._emu = emu
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._on_connection, host, port)
        self._emu.attach(self._sink, self._drain)
        sockname = self._server.sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    def _sink(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    async def _drain(self) -> None:
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            if self._writer is not None:
                return
            self._writer = writer
            try:
                while True:
                    data = await reader.read(_READ_SIZE)
                    if not data:
                        break
                    self._emu.feed(data)
                    await self._emu.wait_input_room()
            except ConnectionError:
                pass
            except asyncio.CancelledError:
                # Only aclose() cancels; ending normally keeps asyncio's
                # stream callback (task.exception()) from raising.
                pass
            finally:
                self._writer = None
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._writer is not None:
            self._writer.transport.abort()
        if self._tasks:
            _done, stuck = await asyncio.wait(list(self._tasks), timeout=1.0)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)
        if self._server is not None:
            await self._server.wait_closed()
        await self._emu.aclose()


class Serving:
    """How a :class:`ModemEmulator` is served: on a pty or over TCP."""

    @contextlib.asynccontextmanager
    async def serve_pty(self) -> AsyncIterator[str]:
        """Serve on a new pseudo-terminal; yields the slave path (``/dev/pts/N``).

        The slave is in raw mode. The emulator keeps its own descriptor on the
        slave so a client may close and reopen the path. Leaving the context
        stops the emulator (:meth:`aclose`).

        Yields:
            The slave path, to pass to ``Modem.open()`` or any serial program.
        """
        pair = open_pty_pair()
        server = PtyServer(cast("ModemEmulator", self), pair)
        try:
            server.start()
            yield pair.path
        finally:
            await server.aclose()

    @contextlib.asynccontextmanager
    async def serve_socket(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[tuple[str, int]]:
        """Serve over TCP (for ``socket://host:port`` URLs); yields ``(host, port)``.

        One host connection at a time; a second connection is refused while
        one is active. Module state persists across host connections. Leaving
        the context stops the emulator (:meth:`aclose`).

        Args:
            host: address to listen on.
            port: TCP port; 0 picks a free one.

        Yields:
            The address and port actually bound.
        """
        server = SocketServer(cast("ModemEmulator", self))
        try:
            address = await server.start(host, port)
            yield address
        finally:
            await server.aclose()


async def serve_pty_forever(emu: ModemEmulator, on_ready: Callable[[str], None]) -> None:
    """Serve ``emu`` on a pty until cancelled. Prints nothing.

    Args:
        emu: the emulator to serve.
        on_ready: called once with the slave path (``/dev/pts/N``) when the
            pty is ready for a client.
    """
    async with emu.serve_pty() as path:
        on_ready(path)
        await asyncio.Event().wait()


async def serve_socket_forever(
    emu: ModemEmulator, on_ready: Callable[[str], None], host: str = "127.0.0.1", port: int = 0
) -> None:
    """Serve ``emu`` over TCP until cancelled, for ``socket://`` URLs. Prints nothing.

    Args:
        emu: the emulator to serve.
        on_ready: called once with the URL (``socket://127.0.0.1:<port>``)
            when the listening socket is ready for a client.
        host: address to listen on.
        port: TCP port; 0 picks a free one.
    """
    async with emu.serve_socket(host, port) as (address, bound):
        shown = f"[{address}]" if ":" in address else address
        on_ready(f"socket://{shown}:{bound}")
        await asyncio.Event().wait()


async def run_emulator_forever(
    config: EmulatorConfig | None = None, on_ready: Callable[[str], None] | None = None
) -> None:
    """Create an emulator and serve it on a pty until cancelled. Prints nothing.

    Args:
        config: emulator knobs (defaults: a factory-fresh EC200U).
        on_ready: called once with the slave path when the pty is ready.
    """
    from ._emulator import ModemEmulator

    await serve_pty_forever(ModemEmulator(config), on_ready or (lambda _path: None))
