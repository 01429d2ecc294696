"""Transparent mode under races: paused readers, cancelled callers, split result codes (decision 85)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest

from quectel_aio import Modem, ModemSocketTransport, ModemUnavailable, RemoteProtocolError, SSLConfig
from quectel_aio import _commands as cmd
from quectel_aio import _events as ev
from quectel_aio._channel import AtChannel
from quectel_aio._memory_ports import memory_port_pair
from quectel_aio._ports import open_port
from quectel_aio.testing import ModemEmulator, TlsTestServer

from ..conftest import ECHO_HOST
from ..helpers import eventually


def _transport(writer: asyncio.StreamWriter) -> ModemSocketTransport:
    transport = writer.transport
    assert isinstance(transport, ModemSocketTransport)
    return transport


@pytest.mark.parametrize("leave", ["switch", "close"])
async def test_leaving_transparent_mode_while_reading_is_paused(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig, leave: str
) -> None:
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    transport = _transport(writer)
    transport.pause_reading()  # what a StreamReader does when its buffer is full
    writer.write(b"x" * 100)  # the echo arrives while reading is paused
    await asyncio.sleep(0.2)
    if leave == "switch":
        await transport.switch_mode("buffer")
        transport.resume_reading()
        async with asyncio.timeout(5):
            assert await reader.readexactly(100) == b"x" * 100
        writer.write(b"after")
        async with asyncio.timeout(5):
            assert await reader.readexactly(5) == b"after"
    writer.close()
    await writer.wait_closed()
    assert modem.transparent_client is None
    assert await modem.command("AT") == []


async def test_a_cancel_landing_with_connect_leaves_no_wedged_port(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opening: list[asyncio.Task[object]] = []
    dispatch = AtChannel._dispatch_response

    def cancel_on_connect(self: AtChannel, event: ev.Response) -> None:
        dispatch(self, event)
        if isinstance(event, ev.CommandSucceeded) and event.result == "CONNECT" and opening:
            opening.pop().cancel()  # an asyncio.timeout() around the open expires just now

    monkeypatch.setattr(AtChannel, "_dispatch_response", cancel_on_connect)
    task: asyncio.Task[object] = asyncio.create_task(
        modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent")
    )
    opening.append(task)
    with pytest.raises(asyncio.CancelledError):
        await task
    await eventually(lambda: modem.transparent_client is None)
    assert await modem.command("AT") == []
    await eventually(lambda: not emulator.sockets)
    # The ID is free again and the port works for the next socket.
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    writer.write(b"ping")
    async with asyncio.timeout(5):
        assert await reader.readexactly(4) == b"ping"
    writer.close()
    await writer.wait_closed()


async def test_a_cancelled_escape_still_completes(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(
        ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
    )
    transport = _transport(writer)
    switch = asyncio.create_task(transport.switch_mode("buffer"))
    await asyncio.sleep(0.2)  # past the silence before "+++" (0.15 s here): "+++" is out
    switch.cancel()
    with pytest.raises(asyncio.CancelledError):
        await switch
    await eventually(lambda: modem.transparent_client is None)
    assert await modem.command("AT") == []
    assert transport.access_mode == 0
    writer.write(b"still open")
    async with asyncio.timeout(5):
        assert await reader.readexactly(10) == b"still open"
    writer.close()
    await writer.wait_closed()


# ---------------------------------------------------------------------------
# The channel against a scripted module on a TCP port
# ---------------------------------------------------------------------------


class _Session:
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.ended: list[str] = []

    def transparent_data(self, data: bytes) -> None:
        self.data.append(data)

    def transparent_ended(self, reason: str) -> None:
        self.ended.append(reason)


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[AtChannel, socket.socket]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = await open_port(f"socket://127.0.0.1:{listener.getsockname()[1]}")
    module, _ = listener.accept()
    listener.close()
    module.settimeout(5)
    failures: list[BaseException] = []
    channel = AtChannel(port, lambda event: None, failures.append, margin=0.2)
    channel.escape_guard_time = 0.1
    channel.start()
    try:
        yield channel, module
    finally:
        await channel.aclose()
        module.close()
    assert not failures


async def _received(module: socket.socket) -> bytes:
    return await asyncio.to_thread(module.recv, 100)


async def _enter(channel: AtChannel, module: socket.socket, answer: bytes) -> _Session:
    """Switch client 3 to transparent mode; the module answers ``answer`` (CONNECT and data)."""
    session = _Session()
    entering = asyncio.create_task(channel.enter_transparent(cmd.SwitchAccessMode(3, 2), session))
    assert await _received(module) == b"AT+QISWTMD=3,2\r"
    module.sendall(answer)
    await entering
    return session


async def test_no_carrier_split_across_reads_survives_a_stalled_loop(
    scripted: tuple[AtChannel, socket.socket],
) -> None:
    channel, module = scripted
    session = await _enter(channel, module, b"\r\nCONNECT\r\npayload\r\nNO CARR")
    await asyncio.sleep(0.005)  # the reader holds "\r\nNO CARR" and arms the tail timer
    module.sendall(b"IER\r\n")
    time.sleep(0.03)  # noqa: ASYNC251 (the loop is busy past the tail hold as the rest arrives)
    await eventually(lambda: session.ended == ["NO CARRIER"])
    assert b"".join(session.data) == b"payload"
    assert channel.transparent_client is None


async def test_no_carrier_during_the_second_escape_attempt_frees_the_port(
    scripted: tuple[AtChannel, socket.socket],
) -> None:
    channel, module = scripted
    await _enter(channel, module, b"\r\nCONNECT\r\n")
    escaping = asyncio.create_task(channel.escape_transparent())
    assert await _received(module) == b"+++"  # taken as data by this module: no OK
    await asyncio.sleep(0.45)  # attempt 1 gives up; attempt 2 keeps its silence
    module.sendall(b"\r\nNO CARRIER\r\n")  # the peer closed on the stray bytes
    assert await escaping == "NO CARRIER"
    assert await _received(module) == b"AT\r"  # flushes a "+++" left in the command line
    module.sendall(b"\r\nOK\r\n")
    closing = asyncio.create_task(channel.execute(cmd.SslClose(3)))
    assert await _received(module) == b"AT+QSSLCLOSE=3,10\r"
    module.sendall(b"\r\nOK\r\n")
    async with asyncio.timeout(5):
        await closing


async def test_bytes_after_a_late_connect_reach_the_abandoned_session(
    scripted: tuple[AtChannel, socket.socket],
) -> None:
    channel, module = scripted
    session = _Session()
    entering = asyncio.create_task(channel.enter_transparent(cmd.SwitchAccessMode(3, 2), session))
    assert await _received(module) == b"AT+QISWTMD=3,2\r"
    entering.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await entering
    module.sendall(b"\r\nCONNECT\r\nheld by the module")  # CONNECT after the caller gave up
    await asyncio.sleep(0.05)
    module.sendall(b", then more")
    assert await _received(module) == b"+++"  # the channel leaves the orphan session
    module.sendall(b"\r\nOK\r\n")
    await eventually(lambda: session.ended == ["OK"])
    assert b"".join(session.data) == b"held by the module, then more"
    assert channel.transparent_client is None


async def test_ok_instead_of_connect_leaves_the_port_in_command_mode(
    scripted: tuple[AtChannel, socket.socket],
) -> None:
    # Only CONNECT makes the port a raw pipe. Taking an OK for it would hand
    # the port to a session whose bytes the module reads as command lines.
    channel, module = scripted
    session = _Session()
    entering = asyncio.create_task(channel.enter_transparent(cmd.SwitchAccessMode(3, 2), session))
    assert await _received(module) == b"AT+QISWTMD=3,2\r"
    module.sendall(b"\r\nOK\r\n")
    with pytest.raises(RemoteProtocolError, match="not CONNECT"):
        await entering
    assert channel.transparent_client is None
    answering = asyncio.create_task(channel.execute(cmd.Attention()))
    assert await _received(module) == b"AT\r"  # the port is free for commands
    module.sendall(b"\r\nOK\r\n")
    async with asyncio.timeout(5):
        await answering


async def test_a_transparent_write_the_module_never_takes_fails_the_port() -> None:
    # A module that holds CTS low (or a bridge that stopped) never takes the
    # bytes: waiting for room must end, as every other write on the port does.
    host, module = memory_port_pair(write_buffer_high=1024)
    failures: list[BaseException] = []
    channel = AtChannel(host, lambda event: None, failures.append, margin=0.2, write_timeout=0.2)
    channel.start()
    try:
        session = _Session()
        entering = asyncio.create_task(channel.enter_transparent(cmd.SwitchAccessMode(3, 2), session))
        assert await module.read() == b"AT+QISWTMD=3,2\r"
        module.write(b"\r\nCONNECT\r\n")
        await entering
        channel.write_transparent(b"x" * 10_000)  # the module reads no more
        with pytest.raises(ModemUnavailable):
            async with asyncio.timeout(5):
                await channel.drain()
    finally:
        await channel.aclose()
        await module.aclose()
