"""Cancellation through the real pty, emulator and TLS: the channel never desynchronises."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator

import pytest

from quectel_aio import Modem, SSLConfig
from quectel_aio._commands import Raw
from quectel_aio.testing import (
    CertificateAuthority,
    IssuedCert,
    ModemEmulator,
    TlsTestServer,
    start_tls_echo_server,
)

from .conftest import ECHO_HOST
from .helpers import FAST_MARGIN, commands, count, eventually

#: A reply to AT+QSSLSTATE that names a socket which does not exist.
LATE_STATE_REPLY = b'\r\n+QSSLSTATE: 5,"SSLClient","10.9.8.7",443,4242,2,1,5,0,"uart1",0\r\n\r\nOK\r\n'


@pytest.fixture
async def fast_modem(device: str) -> AsyncIterator[Modem]:
    async with Modem.open(device, margin=FAST_MARGIN) as opened:
        await opened.activate_pdp(1, apn="internet")
        yield opened


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts and never answers the TLS handshake; yields its port."""
    handlers: set[asyncio.Task[None]] = set()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await reader.read()  # until the module side gives up
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            handlers.discard(task)

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(handlers):
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


@pytest.mark.parametrize("how", ["task.cancel", "wait_for"])
async def test_cancelled_command_late_reply_never_reaches_the_next_command(
    fast_modem: Modem, emulator: ModemEmulator, how: str
) -> None:
    emulator.mute_next_command("+QSSLSTATE")
    if how == "task.cancel":
        task = asyncio.create_task(fast_modem.ssl_state())
        await eventually(lambda: count(emulator, "+QSSLSTATE") == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    else:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(fast_modem.ssl_state(), 0.05)
        assert count(emulator, "+QSSLSTATE") == 1
    # The module answers the abandoned command late, naming a socket that does not exist.
    emulator.inject_raw(LATE_STATE_REPLY)
    assert await fast_modem.ssl_state() == []
    assert count(emulator, "+QSSLSTATE") == 2
    assert (await fast_modem.command("ATI"))[0] == "Quectel"


async def test_cancelled_command_without_reply_then_next_command_works(
    fast_modem: Modem, emulator: ModemEmulator
) -> None:
    emulator.mute_next_command("+QSSLSTATE")
    task = asyncio.create_task(fast_modem.ssl_state())
    await eventually(lambda: count(emulator, "+QSSLSTATE") == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    loop = asyncio.get_running_loop()
    started = loop.time()
    lines = await fast_modem.command("ATI")
    assert lines[0] == "Quectel"
    # The channel waited out the abandoned command, but not much longer than its deadline.
    assert loop.time() - started < 0.3 + FAST_MARGIN + 0.5 + 1.0


async def test_cancel_a_blocked_read_keeps_the_socket_working(
    fast_modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    blocked = asyncio.create_task(reader.read(100))
    for _ in range(10):
        await asyncio.sleep(0)
    assert not blocked.done()
    blocked.cancel()
    with pytest.raises(asyncio.CancelledError):
        await blocked
    payload = os.urandom(5000)
    writer.write(payload)
    await writer.drain()
    assert await reader.readexactly(len(payload)) == payload
    writer.close()
    await writer.wait_closed()


async def test_cancel_a_blocked_drain_keeps_the_socket_working(
    fast_modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    first = os.urandom(300_000)
    writer.write(first)
    high = writer.transport.get_write_buffer_limits()[1]
    assert writer.transport.get_write_buffer_size() > high
    drain = asyncio.create_task(writer.drain())
    for _ in range(10):
        await asyncio.sleep(0)
    assert not drain.done()  # really blocked on the write buffer
    drain.cancel()
    with pytest.raises(asyncio.CancelledError):
        await drain
    second = os.urandom(70_000)
    reading = asyncio.create_task(reader.readexactly(len(first) + len(second)))
    writer.write(second)
    await writer.drain()
    assert await reading == first + second
    writer.close()
    await writer.wait_closed()
    assert count(emulator, "+QSSLCLOSE") == 1


async def test_cancel_open_connection_during_the_handshake_leaves_no_socket(
    fast_modem: Modem,
    emulator: ModemEmulator,
    silent_server: int,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
) -> None:
    opening = asyncio.create_task(fast_modem.open_connection(ECHO_HOST, silent_server, ssl=ssl_config))
    await eventually(lambda: count(emulator, "+QSSLOPEN") == 1)
    assert not opening.done()  # waiting for +QSSLOPEN: <id>,<err>
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    client_id = commands(emulator, "+QSSLOPEN")[0][2]
    # The cancelled caller does not wait for it, but the orphan is closed at once.
    await eventually(lambda: [p[0] for p in commands(emulator, "+QSSLCLOSE")] == [client_id], 5, "QSSLCLOSE")
    assert await fast_modem.ssl_state() == []
    # The client ID is free again and the SSL context is reused.
    reader, writer = await fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert writer.get_extra_info("client_id") == client_id
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    writer.close()
    await writer.wait_closed()
    assert all(settings.seclevel == 1 for _, settings in emulator.opened_with)


async def test_cancel_open_connection_during_configuration_reconfigures_next_time(
    fast_modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    emulator.mute_next_command('+QSSLCFG="seclevel"')
    opening = asyncio.create_task(fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config))
    await eventually(lambda: any(p[:1] == ("seclevel",) for p in commands(emulator, "+QSSLCFG")))
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    assert count(emulator, "+QSSLOPEN") == 0
    before = len(emulator.command_log)
    reader, writer = await fast_modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    # The half-written context was not trusted: it was written and read back again.
    again = [e.params for e in emulator.command_log[before:] if e.name == "+QSSLCFG"]
    assert ("seclevel", 0, 1) in again
    assert ("seclevel", 0) in again
    assert [settings.seclevel for _, settings in emulator.opened_with] == [1]
    writer.write(b"pong")
    assert await reader.readexactly(4) == b"pong"
    writer.close()
    await writer.wait_closed()


async def test_late_open_success_for_an_unknown_socket_is_closed(
    fast_modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer
) -> None:
    # An open the driver does not track (as after an abandoned AT+QSSLOPEN; sent
    # under Modem.command, which refuses it): its +QSSLOPEN: 7,0 must lead to
    # AT+QSSLCLOSE=7, never to a leaked socket.
    await fast_modem._channel.execute(Raw(f'AT+QSSLOPEN=1,0,7,"{ECHO_HOST}",{echo_server.port},0'))
    await eventually(lambda: any(p[:1] == (7,) for p in commands(emulator, "+QSSLCLOSE")))
    assert await fast_modem.ssl_state() == []
    assert 7 not in emulator.sockets


async def test_cancel_while_an_ephemeral_key_is_deleted_closes_the_opened_socket(
    fast_modem: Modem, emulator: ModemEmulator, ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    client = ca.issue_client_cert("ephemeral-key-device", key_type="rsa")
    config = SSLConfig(
        cafile=ca.cert_pem, certfile=client.cert_pem, keyfile=client.key_pem, delete_key_after_handshake=True
    )
    async with await start_tls_echo_server(
        server_cert.chain_pem, server_cert.key_pem, client_ca_pem=ca.cert_pem
    ) as server:
        # The socket is open; the caller is cancelled while the key file is being deleted.
        emulator.mute_next_command("+QFDEL")
        opening = asyncio.create_task(fast_modem.open_connection(ECHO_HOST, server.port, ssl=config))
        await eventually(lambda: count(emulator, "+QFDEL") == 1)
        assert not opening.done()
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        client_id = commands(emulator, "+QSSLOPEN")[0][2]
        # Nobody holds the socket: it is closed on the module and its client ID is free again.
        await eventually(lambda: [p[0] for p in commands(emulator, "+QSSLCLOSE")] == [client_id], 10)
        assert await fast_modem.ssl_state() == []
        reader, writer = await fast_modem.open_connection(ECHO_HOST, server.port, ssl=config)
        assert writer.get_extra_info("client_id") == client_id
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        writer.close()
        await writer.wait_closed()
