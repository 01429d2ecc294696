"""Buffer, push and transparent modes together: switching mid-stream, push overflow, twelve sockets."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Literal

import pytest

from quectel_aio import Modem, ModemSocketTransport, SSLConfig
from quectel_aio.testing import CertificateAuthority, ModemEmulator, TlsTestServer

from ..conftest import ECHO_HOST
from ..helpers import commands, eventually
from .conftest import pattern

Mode = Literal["buffer", "push", "transparent"]


@pytest.mark.parametrize("mode", ["buffer", "push", "transparent"])
async def test_each_mode_carries_one_mebibyte_both_ways(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig, mode: Mode
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode=mode)
    data = pattern(1 << 20, seed=3) + b'\r\nOK\r\n+QSSLURC: "recv",0,5\r\nNO CARRIER'

    async def send() -> None:
        for offset in range(0, len(data), 20_000):
            writer.write(data[offset : offset + 20_000])
            await writer.drain()

    sender = asyncio.create_task(send())
    received = await reader.readexactly(len(data))
    await sender
    assert hashlib.sha256(received).digest() == hashlib.sha256(data).digest()
    writer.close()
    await writer.wait_closed()


async def test_mode_switches_mid_stream_lose_and_duplicate_nothing(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    transport = writer.transport
    assert isinstance(transport, ModemSocketTransport)
    data = pattern(512 * 1024, seed=7)
    sent = asyncio.Event()

    async def send() -> None:
        for offset in range(0, len(data), 4096):
            writer.write(data[offset : offset + 4096])
            await writer.drain()
            await asyncio.sleep(0)
        sent.set()

    async def switch() -> list[Mode]:
        order: list[Mode] = ["push", "transparent", "buffer", "transparent", "push", "buffer"]
        done: list[Mode] = []
        # At least one full cycle, and on until everything was sent.
        while not sent.is_set() or len(done) < len(order):
            mode = order[len(done) % len(order)]
            await transport.switch_mode(mode)
            done.append(mode)
            await asyncio.sleep(0.01)
        return done

    sender = asyncio.create_task(send())
    switcher = asyncio.create_task(switch())
    received = await reader.readexactly(len(data))
    await sender
    switched = await switcher
    assert received == data
    assert len(switched) >= 6, switched
    client_id = transport.get_extra_info("client_id")
    assert {mode for _, mode in commands(emulator, "+QISWTMD")} >= {0, 1, 2}
    assert all(cid == client_id for cid, _ in commands(emulator, "+QISWTMD"))
    writer.close()
    await writer.wait_closed()


class SlowConsumer(asyncio.Protocol):
    """Buffers what arrives and pauses the transport above ``high`` bytes."""

    def __init__(self, high: int) -> None:
        self.high = high
        self.buffer = bytearray()
        self.received = bytearray()
        self.max_buffered = 0
        self.paused = False
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.max_buffered = max(self.max_buffered, len(self.buffer))
        if len(self.buffer) > self.high and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def take(self) -> None:
        self.received += self.buffer
        self.buffer.clear()
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


async def test_push_mode_falls_back_to_buffer_mode_while_the_reader_is_paused(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    high = 16 * 1024
    consumer = SlowConsumer(high)
    transport, _ = await modem.create_connection(
        lambda: consumer, ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push"
    )
    client_id = transport.get_extra_info("client_id")
    data = pattern(1 << 20, seed=11)
    transport.write(data)
    await eventually(lambda: (client_id, 0) in commands(emulator, "+QISWTMD"), 20, "switch to buffer mode")
    async with asyncio.timeout(60):
        while len(consumer.received) + len(consumer.buffer) < len(data):
            await asyncio.sleep(0.02)
            consumer.take()
    consumer.take()
    assert bytes(consumer.received) == data
    assert (client_id, 1) in commands(emulator, "+QISWTMD")
    # Memory stays bounded, whatever the amount of data: the high-water mark plus
    # what was already in flight when the switch took effect (the module's
    # output queue and the pty buffer, each up to about 64 KiB here).
    assert consumer.max_buffered <= high + 160 * 1024, consumer.max_buffered
    transport.close()
    await asyncio.wait_for(consumer.closed.wait(), 15)


async def test_twelve_sockets_on_six_contexts_in_mixed_modes(
    modem: Modem, echo_server: TlsTestServer, ca: CertificateAuthority
) -> None:
    configs = [SSLConfig(cafile=ca.cert_pem, negotiate_time=60 + index) for index in range(6)]
    modes: list[Mode] = ["buffer", "push"]
    streams = [
        await modem.open_connection(
            ECHO_HOST, echo_server.port, ssl=configs[index % 6], mode=modes[index % 2]
        )
        for index in range(12)
    ]
    contexts = {writer.transport.get_extra_info("quectel_ssl_ctx") for _, writer in streams}
    assert contexts == set(range(6))
    assert sorted(writer.transport.get_extra_info("client_id") for _, writer in streams) == list(range(12))

    async def exchange(index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        data = pattern(96 * 1024, seed=100 + index)

        async def send() -> None:
            for offset in range(0, len(data), 8192):
                writer.write(data[offset : offset + 8192])
                await writer.drain()

        sender = asyncio.create_task(send())
        received = await reader.readexactly(len(data))
        await sender
        return hashlib.sha256(received).digest() if received == data else b"mismatch"

    results = await asyncio.gather(*(exchange(i, r, w) for i, (r, w) in enumerate(streams)))
    assert results == [hashlib.sha256(pattern(96 * 1024, seed=100 + i)).digest() for i in range(12)]
    for _, writer in streams:
        writer.close()
    for _, writer in streams:
        await writer.wait_closed()
