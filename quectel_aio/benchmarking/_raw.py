"""A raw host on the pty: the fastest possible reader and writer of a transparent socket.

It writes AT commands by hand and, once ``CONNECT`` has arrived, moves payload
with ``loop.add_reader`` / ``add_writer`` and ``os.read`` / ``os.write`` of
64 KiB: no parsing, no copies beyond the kernel's. Its transparent receive is
the pacing self-check of a throttled run (it must reach the configured link
rate) and the ceiling of the unthrottled transparent rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tty

from ..testing import REQUEST_HEADER, pattern_bytes
from ._process import pull_fd
from ._sample import Sample

__all__ = ["RawHost"]

BLOCK = 64 * 1024
TIMEOUT = 30.0


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class RawHost:
    """The pty opened raw, driven byte by byte.

    Args:
        path: the emulator's pty slave path.
        guard_time: the module's ``+++`` guard time in seconds.
    """

    name = "raw transparent"

    def __init__(self, path: str, guard_time: float) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.guard_time = guard_time
        self.buffer = bytearray()

    def close(self) -> None:
        """Close the descriptor."""
        os.close(self.fd)

    async def _write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                ready = loop.create_future()
                loop.add_writer(self.fd, _wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_writer(self.fd)

    async def _read_until(self, token: bytes, timeout: float = TIMEOUT) -> bytes:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while token not in self.buffer:
                if b"ERROR" in self.buffer:
                    raise RuntimeError(f"module answered {bytes(self.buffer)!r}")
                ready = loop.create_future()
                loop.add_reader(self.fd, _wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_reader(self.fd)
                try:
                    self.buffer += os.read(self.fd, BLOCK)
                except BlockingIOError:
                    continue
        end = self.buffer.index(token) + len(token)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data

    async def command(self, line: str, final: bytes = b"OK\r\n") -> bytes:
        """Send ``line`` and return everything up to ``final``."""
        await self._write(line.encode("ascii") + b"\r")
        return await self._read_until(final)

    async def start(self) -> None:
        """Echo off; forget anything earlier hosts left on the port."""
        await asyncio.sleep(0.05)
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, BLOCK)
        self.buffer.clear()
        await self.command("ATE0")

    async def _enter(self, host: str, port: int, client_id: int, ctx: int) -> None:
        await self._write(f'AT+QSSLOPEN=1,{ctx},{client_id},"{host}",{port},2\r'.encode("ascii"))
        await self._read_until(b"CONNECT\r\n")

    async def _leave(self, client_id: int) -> None:
        await asyncio.sleep(self.guard_time * 1.5)
        await self._write(b"+++")
        await self._read_until(b"OK\r\n", timeout=self.guard_time * 4 + 5)
        await self.command(f"AT+QSSLCLOSE={client_id}")
        self.buffer.clear()

    async def transparent_receive(
        self, host: str, port: int, total: int, *, client_id: int, ctx: int
    ) -> Sample:
        """Open in transparent mode, ask the source for ``total`` bytes, read them raw."""
        await self._enter(host, port, client_id, ctx)
        early = len(self.buffer)
        self.buffer.clear()
        started = time.process_time()
        await self._write(REQUEST_HEADER.pack(total))
        first, last, first_size = await pull_fd(self.fd, total - early)
        cpu = time.process_time() - started
        await self._leave(client_id)
        return Sample(total, total - early - first_size, last - first, cpu)

    async def transparent_send(self, host: str, port: int, total: int, *, client_id: int, ctx: int) -> float:
        """Open in transparent mode and write ``total`` bytes to the sink; returns CPU seconds."""
        await self._enter(host, port, client_id, ctx)
        started = time.process_time()
        block = pattern_bytes(0, BLOCK)
        await self._write(REQUEST_HEADER.pack(total))
        left = total
        while left > 0:
            n = min(left, BLOCK)
            await self._write(block[:n])
            left -= n
        await self._read_until(b"K")
        cpu = time.process_time() - started
        await self._leave(client_id)
        return cpu
