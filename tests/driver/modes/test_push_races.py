"""Direct push at the edges: a peer closing during a switch, cancelled switches, SEND FAIL back-off."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator

import pytest

from quectel_aio import Modem, ModemSocketTransport, SocketBroken, SSLConfig
from quectel_aio.testing import (
    EmulatorConfig,
    IssuedCert,
    ModemEmulator,
    TlsTestServer,
    _network,
    server_ssl_context,
    start_tls_server,
)
from quectel_aio.testing._network import SocketState as ModuleSocketState

from ..conftest import ECHO_HOST
from ..helpers import commands, eventually
from .conftest import GUARD, pattern

BURST = pattern(5120, seed=11)


@pytest.fixture
async def burst_server(server_cert: IssuedCert) -> AsyncIterator[TlsTestServer]:
    """Sends BURST after two bytes from the client, then closes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(2)
        writer.write(BURST)
        await writer.drain()

    context = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    async with await start_tls_server(context, handler) as server:
        yield server


@pytest.fixture
async def stream_server(server_cert: IssuedCert) -> AsyncIterator[TlsTestServer]:
    """Streams 400 KB after two bytes from the client, never reading again."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(2)
        for _ in range(400):
            writer.write(b"s" * 1000)
            await writer.drain()
            await asyncio.sleep(0.005)

    context = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    async with await start_tls_server(context, handler) as server:
        yield server


def _transport(writer: asyncio.StreamWriter) -> ModemSocketTransport:
    transport = writer.transport
    assert isinstance(transport, ModemSocketTransport)
    return transport


@pytest.mark.parametrize("push_lag", [0.0, 0.05])
async def test_peer_closing_while_push_is_paused_loses_nothing(
    modem: Modem,
    emulator: ModemEmulator,
    burst_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
    push_lag: float,
) -> None:
    # A module may push the data it held in buffer mode a moment after the OK
    # of AT+QISWTMD=<id>,1, and so after the "closed" URC it already sent.
    original = _network.TlsSocket.push_buffered

    async def lagging(self: _network.TlsSocket) -> None:
        await asyncio.sleep(push_lag)
        await original(self)

    monkeypatch.setattr(_network.TlsSocket, "push_buffered", lagging)
    reader, writer = await modem.open_connection(ECHO_HOST, burst_server.port, ssl=ssl_config, mode="push")
    transport = _transport(writer)
    client_id = transport.get_extra_info("client_id")
    transport.pause_reading()  # what a StreamReader does when it falls behind
    await eventually(lambda: transport.access_mode == 0)
    writer.write(b"go")
    module_socket = emulator.sockets[client_id]
    await eventually(
        lambda: (
            module_socket.state is ModuleSocketState.CLOSING and len(module_socket.recv_buffer) == len(BURST)
        )
    )
    await eventually(lambda: transport._remote_closed)
    transport.resume_reading()

    async with asyncio.timeout(5):
        received = await reader.read(-1)

    assert received == BURST
    assert modem._channel.failure is None
    await modem.command("AT")  # the channel still works


async def test_peer_closing_in_push_mode_reads_what_the_module_still_holds(
    modem: Modem, emulator: ModemEmulator, burst_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, burst_server.port, ssl=ssl_config, mode="push")
    client_id = _transport(writer).get_extra_info("client_id")
    writer.write(b"go")
    async with asyncio.timeout(5):
        received = await reader.read(-1)
    assert received == BURST
    # Before the end of the stream, buffer mode and one read that found the module empty.
    assert (client_id, 0) in commands(emulator, "+QISWTMD")
    assert commands(emulator, "+QSSLRECV")[-1] == (client_id, 1500)


class TestSlowModule:
    @pytest.fixture
    def emulator_config(self) -> EmulatorConfig:
        return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, escape_guard_time=GUARD, command_latency=0.1)

    async def test_resuming_while_the_overflow_switch_is_on_its_way_returns_to_push(
        self, modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
    ) -> None:
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push")
        transport = _transport(writer)
        client_id = transport.get_extra_info("client_id")
        transport.pause_reading()
        await eventually(lambda: (client_id, 0) in commands(emulator, "+QISWTMD"))
        transport.resume_reading()  # before the OK of AT+QISWTMD=<id>,0
        await eventually(lambda: (client_id, 1) in commands(emulator, "+QISWTMD"))
        await eventually(lambda: transport.access_mode == 1)
        assert emulator.sockets[client_id].mode == 1
        writer.write(b"x" * 10)
        async with asyncio.timeout(3):
            assert await reader.readexactly(10) == b"x" * 10
        writer.close()
        await writer.wait_closed()

    async def test_a_cancelled_switch_to_buffer_mode_still_completes(
        self, modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
    ) -> None:
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push")
        transport = _transport(writer)
        client_id = transport.get_extra_info("client_id")
        writer.write(b"first")
        assert await reader.readexactly(5) == b"first"

        switch = asyncio.create_task(transport.switch_mode("buffer"))
        await eventually(lambda: (client_id, 0) in commands(emulator, "+QISWTMD"))
        switch.cancel()  # the command is out: the module switches whatever the caller does
        with pytest.raises(asyncio.CancelledError):
            await switch

        await eventually(lambda: transport.access_mode == 0)
        assert emulator.sockets[client_id].mode == 0
        writer.write(b"second")
        async with asyncio.timeout(3):
            assert await reader.readexactly(6) == b"second"
        writer.close()
        await writer.wait_closed()


async def test_send_fail_back_off_does_not_hold_up_the_overflow_switch(
    modem: Modem, emulator: ModemEmulator, stream_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, stream_server.port, ssl=ssl_config, mode="push")
    transport = _transport(writer)
    client_id = transport.get_extra_info("client_id")
    writer.write(b"go")
    await eventually(lambda: len(commands(emulator, "+QSSLSEND")) == 1)
    emulator.fail_next_sends(12)  # the peer does not read: the module's send buffer is full
    writer.write(b"more")
    await eventually(lambda: len(commands(emulator, "+QSSLSEND")) >= 3)

    transport.pause_reading()
    paused_at = time.monotonic()
    await eventually(lambda: (client_id, 0) in commands(emulator, "+QISWTMD"))
    assert time.monotonic() - paused_at < 1.0  # not after the back-off's seconds
    await eventually(lambda: transport.access_mode == 0)
    held = len(reader._buffer)  # type: ignore[attr-defined]
    await asyncio.sleep(0.3)
    assert len(reader._buffer) == held  # type: ignore[attr-defined]  # nothing more arrives while paused
    transport.abort()


class _FailingProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        raise ValueError("a bug in the application's protocol")

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


@pytest.mark.parametrize("mode", ["buffer", "push"])
async def test_a_protocol_failing_in_data_received_fails_only_its_socket(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig, mode: str
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    transport, protocol = await modem.create_connection(
        _FailingProtocol,
        ECHO_HOST,
        echo_server.port,
        ssl=ssl_config,
        mode="push" if mode == "push" else "buffer",
    )
    assert isinstance(protocol, _FailingProtocol)
    transport.write(b"boom")
    async with asyncio.timeout(5):
        lost = await protocol.lost
    assert "data_received() raised ValueError" in str(lost)
    # The other socket and the channel carry on.
    writer.write(b"still here")
    async with asyncio.timeout(5):
        assert await reader.readexactly(10) == b"still here"
    assert modem._channel.failure is None
    writer.close()
    await writer.wait_closed()


@pytest.mark.parametrize("refused", ["overflow", "restore"])
async def test_a_refused_automatic_switch_is_not_lost_in_the_background(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    refused: str,
) -> None:
    # pause_reading() switches a push socket to buffer mode, resume_reading()
    # back; both run as background tasks. A module that refuses the first
    # would keep pushing into a paused protocol without bound: the socket
    # fails instead. One that refuses the second leaves the socket in buffer
    # mode, which reads all the same. Neither leaves an unretrieved exception.
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
    try:
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push")
        transport = _transport(writer)
        if refused == "overflow":
            emulator.fail_next_command("AT+QISWTMD")
            transport.pause_reading()
            await eventually(lambda: transport.is_closing())
            with pytest.raises(SocketBroken, match="buffer mode"):
                await reader.read(1)
        else:
            transport.pause_reading()
            await eventually(lambda: transport.access_mode == 0)
            emulator.fail_next_command("AT+QISWTMD")
            transport.resume_reading()
            await eventually(
                lambda: not any(t.get_name().startswith("quectel-aio-restore-push") for t in transport._tasks)
            )
            writer.write(b"still read")
            async with asyncio.timeout(5):
                assert await reader.readexactly(10) == b"still read"
            assert transport.access_mode == 0
        writer.close()
        with contextlib.suppress(SocketBroken):
            await writer.wait_closed()
        gc.collect()
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert reported == []


async def test_a_push_whose_length_was_damaged_fails_its_socket_loudly(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push")
    client_id = _transport(writer).get_extra_info("client_id")
    emulator.inject_raw(b'\r\n+QSSLURC: "recv",%d,9000\r\n' % client_id + b"x" * 9000)
    with pytest.raises(SocketBroken, match="lost on the link"):
        async with asyncio.timeout(5):
            await reader.read(1)
    await modem.command("AT")  # the channel is in step again
