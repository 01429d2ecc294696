"""End to end: driver on a real pty, emulator on the master, real TLS to a loopback echo server."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Literal

import pytest

from quectel_aio import CommandError, CommandTimeout, Modem, SocketOpenError, SSLConfig
from quectel_aio.testing import CertificateAuthority, ModemEmulator, TlsTestServer

from .conftest import ECHO_HOST

MIB = 1024 * 1024


async def _pump(writer: asyncio.StreamWriter, data: bytes, chunk: int) -> None:
    for offset in range(0, len(data), chunk):
        writer.write(data[offset : offset + chunk])
        await writer.drain()


async def test_streams_one_mib_each_way_sha256_equal(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert isinstance(reader, asyncio.StreamReader)
    assert isinstance(writer, asyncio.StreamWriter)
    data = os.urandom(MIB)
    sender = asyncio.create_task(_pump(writer, data, 7919))
    received = await reader.readexactly(len(data))
    await sender
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(data).hexdigest()
    writer.close()
    await writer.wait_closed()


async def test_payloads_holding_protocol_tokens_arrive_unchanged(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    files_before = dict(emulator.files)
    tokens = [
        b"\r\nOK\r\n",
        b'\r\n+QSSLURC: "closed",0\r\n',
        b"\r\n> ",
        b"\x1a",
        b"\x1b",
        b"+++",
        b"\r\nSEND OK\r\n",
        b"\r\n+QSSLRECV: 9\r\n",
        b'AT+QFDEL="*"\r',
        b"\r\nRDY\r\n",
        b"\r\nERROR\r\n",
        b"\x00\xff",
    ]
    for token in tokens:
        for payload in (token, b"x" * 1459 + token, token * 200):
            writer.write(payload)
            await writer.drain()
            assert await reader.readexactly(len(payload)) == payload
    assert emulator.files == files_before
    writer.close()
    await writer.wait_closed()


async def test_four_sockets_at_once(modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig) -> None:
    async def session(index: int) -> str:
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        data = os.urandom(64 * 1024 + index)
        sender = asyncio.create_task(_pump(writer, data, 4000))
        echoed = await reader.readexactly(len(data))
        await sender
        writer.close()
        await writer.wait_closed()
        assert echoed == data
        return str(writer.get_extra_info("client_id"))

    ids = await asyncio.gather(*(session(i) for i in range(4)))
    assert sorted(ids) == ["0", "1", "2", "3"]
    assert await modem.ssl_state() == []


async def test_server_close_delivers_every_byte_then_eof(
    modem: Modem, emulator: ModemEmulator, server_cert: object, ssl_config: SSLConfig
) -> None:
    from quectel_aio.testing import start_tls_server

    body = os.urandom(200_000)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(body)
        await writer.drain()
        writer.close()

    from quectel_aio.testing import server_ssl_context

    cert = server_cert
    ctx = server_ssl_context(cert.chain_pem, cert.key_pem)  # type: ignore[attr-defined]
    async with await start_tls_server(ctx, handler) as server:
        reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=ssl_config)
        received = await reader.read()
        assert received == body
        assert reader.at_eof()
        writer.close()
        await writer.wait_closed()
    assert any(entry.name == "+QSSLCLOSE" for entry in emulator.command_log)


async def test_untrusted_ca_fails_with_the_modules_code(
    modem: Modem, echo_server: TlsTestServer, untrusted_ca: CertificateAuthority
) -> None:
    with pytest.raises(SocketOpenError) as info:
        await modem.open_connection(ECHO_HOST, echo_server.port, ssl=SSLConfig(cafile=untrusted_ca.cert_pem))
    assert info.value.code == 579
    assert "SSL handshake fail" in str(info.value)
    # The failed client ID is free again.
    assert await modem.ssl_state() == []


@pytest.mark.parametrize("mode", ["buffer", "transparent"])
async def test_a_failed_handshake_names_the_server_and_what_to_check(
    modem: Modem,
    echo_server: TlsTestServer,
    untrusted_ca: CertificateAuthority,
    mode: Literal["buffer", "transparent"],
) -> None:
    with pytest.raises(SocketOpenError) as info:
        await modem.open_connection(
            ECHO_HOST, echo_server.port, ssl=SSLConfig(cafile=untrusted_ca.cert_pem), mode=mode
        )
    message = str(info.value)
    assert f"{ECHO_HOST}:{echo_server.port}" in message
    assert "cafile" in message
    assert info.value.target == f"{ECHO_HOST}:{echo_server.port}"


async def test_an_open_without_an_active_pdp_context_says_to_activate_one(
    device: str, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    async with Modem.open(device) as fresh:
        with pytest.raises(SocketOpenError) as info:
            await fresh.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert info.value.code == 561
    assert "activate_pdp" in str(info.value)


async def test_socket_opens_with_verified_settings_read_back(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    _reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    client_id, settings = emulator.opened_with[-1]
    assert client_id == writer.get_extra_info("client_id")
    assert settings.seclevel == 1
    assert settings.sni == 1
    assert settings.sslversion == 3
    assert settings.ignorelocaltime == 0
    assert echo_server.server_names[-1] == ECHO_HOST
    writer.close()
    await writer.wait_closed()


async def test_ca_uploaded_once_and_reused(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    for _ in range(2):
        _, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        writer.close()
        await writer.wait_closed()
    uploads = [entry for entry in emulator.command_log if entry.name == "+QFUPL"]
    assert len(uploads) == 1
    files = await modem.list_files()
    assert [f.size for f in files] == [len(ssl_config.ca_bytes or b"")]


async def test_push_mode_round_trip(modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, mode="push")
    data = os.urandom(100_000)
    sender = asyncio.create_task(_pump(writer, data, 1460))
    assert await reader.readexactly(len(data)) == data
    await sender
    writer.close()
    await writer.wait_closed()


async def test_backpressure_stops_qsslrecv_while_reader_is_full(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, limit=4096)
    data = os.urandom(200_000)
    writer.write(data)
    await writer.drain()
    await asyncio.sleep(0.3)
    transport = writer.transport
    assert not transport.is_reading()  # type: ignore[attr-defined]
    before = sum(1 for e in emulator.command_log if e.name == "+QSSLRECV")
    await asyncio.sleep(0.3)
    after = sum(1 for e in emulator.command_log if e.name == "+QSSLRECV")
    assert after == before  # nothing is pulled from the module while the reader is over its limit
    assert await reader.readexactly(len(data)) == data
    writer.close()
    await writer.wait_closed()


async def test_raw_command_and_typed_error(modem: Modem) -> None:
    lines = await modem.command("ATI")
    assert lines[0] == "Quectel"
    with pytest.raises(CommandError) as info:
        await modem.command("AT+QSSLSTATE=99")
    assert info.value.command == "AT+QSSLSTATE=99" or info.value.result == "ERROR"


async def test_a_failed_raw_command_names_its_command_and_carries_the_module_code(modem: Modem) -> None:
    # An ERROR to an SSL command is explained by AT+QIGETERROR, raw or not.
    with pytest.raises(CommandError) as info:
        await modem.command('AT+QSSLCFG="seclevel",9,9')
    assert info.value.command == "AT+QSSLCFG"
    assert info.value.code not in (None, 0)
    assert str(info.value).startswith("AT+QSSLCFG failed: ERROR (code ")


async def test_a_raw_command_timeout_names_its_command(modem: Modem, emulator: ModemEmulator) -> None:
    emulator.mute_next_command("+CSQ")
    with pytest.raises(CommandTimeout) as info:
        await modem.command("AT+CSQ", timeout=0.3)
    assert info.value.command == "AT+CSQ"
    assert await modem.command("AT+CSQ")


@pytest.mark.parametrize("backend", ["serialx", "pyserial-asyncio"])
async def test_each_serial_backend_carries_a_session(
    backend: str, device: str, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    async with Modem.open(device, backend=backend) as modem:
        await modem.activate_pdp(1, apn="internet")
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        data = os.urandom(50_000)
        writer.write(data)
        await writer.drain()
        assert await reader.readexactly(len(data)) == data
        writer.close()
        await writer.wait_closed()


async def test_socket_url_reaches_an_emulator_served_over_tcp(
    emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    async with (
        emulator.serve_socket("127.0.0.1", 0) as (host, port),
        Modem.open(f"socket://{host}:{port}") as modem,
    ):
        await modem.activate_pdp(1, apn="internet")
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        writer.write(b"over tcp")
        await writer.drain()
        assert await reader.readexactly(8) == b"over tcp"
        writer.close()
        await writer.wait_closed()


async def test_transport_contract_basics(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    events: list[str] = []
    got_data = asyncio.Event()
    lost = asyncio.get_running_loop().create_future()

    class Recorder(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            events.append("made")

        def data_received(self, data: bytes) -> None:
            events.append("data")
            got_data.set()

        def eof_received(self) -> bool | None:
            events.append("eof")
            return None

        def connection_lost(self, exc: Exception | None) -> None:
            events.append("lost")
            lost.set_result(exc)

    transport, _ = await modem.create_connection(Recorder, ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert transport.get_extra_info("sslcontext") is None
    assert transport.get_extra_info("peername") == (ECHO_HOST, echo_server.port)
    assert not transport.can_write_eof()
    transport.write(b"ping")
    await asyncio.wait_for(got_data.wait(), 10)
    transport.close()
    assert transport.is_closing()
    transport.write(b"late")  # dropped, as asyncio's transports do after close()
    assert await lost is None
    await asyncio.sleep(0.05)
    assert events[0] == "made"
    assert events.count("lost") == 1
    assert events[-1] == "lost"


async def test_error_carries_the_qigeterror_code(modem: Modem, emulator: ModemEmulator) -> None:
    from quectel_aio import CommandError, _commands

    with pytest.raises(CommandError) as info:
        await modem._channel.execute(_commands.SslRecv(5, 100))
    assert info.value.result == "ERROR"
    assert info.value.code is not None
    assert 550 <= info.value.code <= 579
    assert info.value.text
    assert any(entry.name == "+QIGETERROR" for entry in emulator.command_log)


async def test_unknown_host_is_a_typed_open_error(modem: Modem, ssl_config: SSLConfig) -> None:
    with pytest.raises(SocketOpenError) as info:
        await modem.open_connection("unmapped.example.test", 443, ssl=ssl_config)
    assert info.value.code == 565
    assert info.value.text == "DNS parse failed"


async def test_ssl_context_settings_reads_what_the_module_holds(
    modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    factory = await modem.ssl_context_settings(3)
    assert factory["seclevel"] == 0
    assert factory["sslversion"] == 4
    _, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config, ssl_context_id=3)
    held = await modem.ssl_context_settings(3)
    assert held["seclevel"] == 1
    assert held["sslversion"] == 3
    assert held["ciphersuite"] == 0xC02F
    assert held["sni"] == 1
    assert held["ignorelocaltime"] == 0
    assert held["negotiatetime"] == 60
    assert str(held["cacert"]).endswith(".pem")
    writer.close()
    await writer.wait_closed()
    with pytest.raises(ValueError):
        await modem.ssl_context_settings(6)
