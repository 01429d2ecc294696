"""Transfers through quectel-aio itself (``Modem.open_connection`` streams).

Each transfer opens one connection to a source or sink, moves ``total``
payload bytes and closes it. A receive asks the source for the bytes with the
8-byte request header and timestamps arrivals at the ``StreamReader``; a send
announces the count, writes in 64 KiB blocks with ``drain()`` and waits for the
sink's one-byte acknowledgement; its window is taken at the sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from ..modem import Modem
from ..ssl_config import SSLConfig
from ..testing import REQUEST_HEADER, pattern_bytes
from ._sample import Arrivals, Sample

__all__ = ["BLOCK", "SSL_CONTEXT_ID", "StackPeer", "open_modem"]

BLOCK = 64 * 1024
READ_SIZE = 65536
#: The SSL context every benchmark socket uses (the raw and naive peers reuse it).
SSL_CONTEXT_ID = 1
MODE_NAMES = {"buffer", "push", "transparent"}

#: Where a sender finds the target's record of the transfer.
RecordFetcher = Callable[[], Awaitable[dict[str, Any]]]


@contextlib.asynccontextmanager
async def open_modem(
    path: str, *, backend: str, baudrate: int = 115200, guard_time: float | None = None, **options: Any
) -> AsyncIterator[Modem]:
    """``Modem.open`` with the benchmark's settings (short ``+++`` guard time where supported)."""
    if guard_time is not None and "escape_guard_time" in inspect.signature(Modem.open).parameters:
        options["escape_guard_time"] = guard_time
    async with Modem.open(path, backend=backend, baudrate=baudrate, **options) as modem:
        yield modem


class StackPeer:
    """Measures quectel-aio on an open :class:`Modem`.

    Args:
        modem: the open modem (PDP context active).
        ssl: the TLS settings of every socket.
    """

    name = "quectel-aio"

    def __init__(self, modem: Modem, ssl: SSLConfig) -> None:
        self.modem = modem
        self.ssl = ssl

    @contextlib.asynccontextmanager
    async def connection(
        self, host: str, port: int, mode: str, client_id: int | None = None, limit: int = 2**16
    ) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        """One connection in ``mode`` (``limit``: its ``StreamReader`` limit); closed on exit."""
        if mode not in MODE_NAMES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {sorted(MODE_NAMES)}")
        kwargs: dict[str, Any] = {"mode": mode, "ssl_context_id": SSL_CONTEXT_ID, "limit": limit}
        if client_id is not None:
            kwargs["client_id"] = client_id
        reader, writer = await self.modem.open_connection(host, port, ssl=self.ssl, **kwargs)
        try:
            yield reader, writer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def receive(self, host: str, port: int, mode: str, total: int) -> Sample:
        """Ask the source for ``total`` bytes and read them."""
        async with self.connection(host, port, mode) as (reader, writer):
            return await receive_on(reader, writer, total)

    async def send(self, host: str, port: int, mode: str, total: int, record: RecordFetcher) -> Sample:
        """Send ``total`` bytes to the sink; the window is taken from its ``record``."""
        async with self.connection(host, port, mode) as (reader, writer):
            cpu = await send_on(reader, writer, total)
        return Sample.from_record(await record(), total, cpu)


async def receive_on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, total: int) -> Sample:
    """Request ``total`` bytes from a source on an open connection and read them."""
    arrivals = Arrivals()
    started = time.process_time()
    writer.write(REQUEST_HEADER.pack(total))
    while arrivals.got < total:
        data = await reader.read(READ_SIZE)
        if not data:
            raise RuntimeError(f"EOF after {arrivals.got} of {total} bytes")
        arrivals.add(len(data))
    return arrivals.sample(total, time.process_time() - started)


async def send_on(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, total: int) -> float:
    """Announce and send ``total`` bytes to a sink, wait for its acknowledgement; returns CPU seconds."""
    block = pattern_bytes(0, BLOCK)
    started = time.process_time()
    writer.write(REQUEST_HEADER.pack(total))
    left = total
    while left > 0:
        n = min(left, BLOCK)
        writer.write(block[:n])
        left -= n
        await writer.drain()
    if await reader.readexactly(1) != b"K":
        raise RuntimeError("bad acknowledgement from the sink")
    return time.process_time() - started
