"""``pause_reading()`` is strict: no ``data_received()`` or ``eof_received()`` until ``resume_reading()``.

asyncio's own transports call nothing on a paused protocol. A module socket
may still have bytes on their way when the protocol pauses (a direct push
before the switch to buffer mode takes effect, port bytes read before a
transparent session stops being read); those wait in the transport and reach
the protocol, in order, once it resumes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

import pytest

from quectel_aio import Modem, SSLConfig
from quectel_aio.testing import IssuedCert, ModemEmulator, TlsTestServer, server_ssl_context, start_tls_server

from ..conftest import ECHO_HOST
from ..helpers import count, eventually
from .conftest import pattern

Mode = Literal["buffer", "push", "transparent"]
PAYLOAD = pattern(120_000, seed=5)
#: The protocol pauses once this much arrived since it last resumed.
WINDOW = 4096


@pytest.fixture
async def sending_server(server_cert: IssuedCert) -> AsyncIterator[TlsTestServer]:
    """Sends PAYLOAD after two bytes from the client, then closes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(2)
        writer.write(PAYLOAD)
        await writer.drain()

    context = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    async with await start_tls_server(context, handler) as server:
        yield server


class PausingReader(asyncio.Protocol):
    """Pauses after every WINDOW bytes and records any call made while paused."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.received = bytearray()
        self.since_resume = 0
        self.paused = False
        self.calls_while_paused: list[str] = []
        self.eof = asyncio.Event()
        self.lost = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.paused:
            self.calls_while_paused.append(f"data_received({len(data)})")
        self.received += data
        self.since_resume += len(data)
        if not self.paused and self.since_resume >= WINDOW:
            assert self.transport is not None
            self.paused = True
            self.transport.pause_reading()

    def eof_received(self) -> None:
        if self.paused:
            self.calls_while_paused.append("eof_received()")
        self.eof.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()

    def resume(self) -> None:
        assert self.transport is not None
        self.paused = False
        self.since_resume = 0
        self.transport.resume_reading()


@pytest.mark.parametrize("mode", ["buffer", "push", "transparent"])
async def test_a_paused_protocol_gets_nothing_until_it_resumes(
    modem: Modem, sending_server: TlsTestServer, ssl_config: SSLConfig, mode: Mode
) -> None:
    reader = PausingReader()
    transport, _ = await modem.create_connection(
        lambda: reader, ECHO_HOST, sending_server.port, ssl=ssl_config, mode=mode
    )
    transport.write(b"go")
    async with asyncio.timeout(30):
        while not reader.eof.is_set():
            # A slow consumer: it looks at the stream again a little later.
            await asyncio.sleep(0.01)
            if reader.paused:
                reader.resume()
        await reader.lost.wait()
    assert reader.calls_while_paused == []
    assert bytes(reader.received) == PAYLOAD


class Recorder(asyncio.Protocol):
    """Pauses on its first bytes and records every call, in order."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.calls: list[str] = []
        self.lost = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.calls.append("data_received")
        assert self.transport is not None
        self.transport.pause_reading()

    def eof_received(self) -> None:
        self.calls.append("eof_received")

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append("connection_lost")
        self.lost.set()


async def test_an_end_of_stream_held_for_a_paused_protocol_dies_with_its_socket(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    recorder = Recorder()
    transport, _ = await modem.create_connection(
        lambda: recorder, ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    client_id = transport.get_extra_info("client_id")
    # The peer's last bytes and the end of the session in one read: the
    # protocol pauses on the bytes, so the end of the stream waits behind them.
    emulator.write_now(b"tail\r\nNO CARRIER\r\n")
    await eventually(lambda: transport._eof_waiting, what="the end of the stream held")
    emulator.restart()  # the socket is gone, and its client ID is free again
    async with asyncio.timeout(10):
        await recorder.lost.wait()
    await eventually(lambda: not emulator.booting, what="the module booted")
    await modem.activate_pdp(1, apn="internet")
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, client_id=client_id
    )
    closes = count(emulator, "+QSSLCLOSE")
    transport.resume_reading()  # a protocol may resume late; asyncio ignores it on a closed transport
    writer.write(b"ping")
    async with asyncio.timeout(5):
        assert await reader.readexactly(4) == b"ping"
    assert count(emulator, "+QSSLCLOSE") == closes  # the new socket on the same ID was left alone
    assert recorder.calls == ["data_received", "connection_lost"]
    writer.close()
    await writer.wait_closed()


async def test_an_aborted_socket_delivers_no_held_end_of_stream(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    recorder = Recorder()
    transport, _ = await modem.create_connection(
        lambda: recorder, ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    emulator.write_now(b"tail\r\nNO CARRIER\r\n")
    await eventually(lambda: transport._eof_waiting, what="the end of the stream held")
    transport.abort()
    transport.resume_reading()  # still closing: asyncio calls nothing but connection_lost after abort()
    async with asyncio.timeout(10):
        await recorder.lost.wait()
    assert recorder.calls == ["data_received", "connection_lost"]
