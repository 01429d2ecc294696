"""End-to-end SSL sessions: the emulator does real TLS to a loopback echo server."""

from __future__ import annotations

import asyncio

import pytest

from quectel_aio.testing import (
    CertificateAuthority,
    EmulatorConfig,
    IssuedCert,
    ModemEmulator,
    TlsTestServer,
    server_ssl_context,
    start_tls_echo_server,
    start_tls_server,
)

from .helpers import (
    Host,
    configure_verified,
    echo_off,
    memory_host,
    open_socket,
    pty_host,
)

PAYLOAD = b"Test data from SSL"


async def _session(host: Host, emu: ModemEmulator, ca: CertificateAuthority, server: TlsTestServer) -> None:
    await echo_off(host)
    await configure_verified(host, ca.cert_pem)
    assert await open_socket(host, server.port) == b"\r\n+QSSLOPEN: 0,0\r\n"
    assert server.server_names == ["localhost"]
    host.send(b"AT+QSSLSEND=0,18\r")
    await host.expect(b"\r\n> ")
    host.send(PAYLOAD)
    await host.expect(b"\r\nSEND OK\r\n")
    await host.expect(b'\r\n+QSSLURC: "recv",0\r\n')
    await host.command(b"AT+QSSLRECV=0,1500", b"\r\n+QSSLRECV: 18\r\n" + PAYLOAD + b"\r\n\r\nOK\r\n")
    await host.command(b"AT+QSSLRECV=0,1500", b"\r\n+QSSLRECV: 0\r\n\r\nOK\r\n")
    await host.command(b"AT+QSSLRECV=0,0", b"\r\n+QSSLRECV: 18,18,0\r\n\r\nOK\r\n")
    await host.command(b"AT+QSSLCLOSE=0", b"\r\nOK\r\n")
    await host.command(b"AT+QSSLSTATE", b"\r\nOK\r\n")
    client_id, settings = emu.opened_with[-1]
    assert client_id == 0
    assert (settings.seclevel, settings.sni, settings.cacert) == (1, 1, "UFS:ca.pem")


async def test_buffer_mode_session_over_pty(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with pty_host() as (host, emu):
        await _session(host, emu, ca, echo_server)


async def test_buffer_mode_session_in_memory(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await _session(host, host.emu, ca, echo_server)


async def test_qsslstate_while_connected(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port, client_id=4)
        host.send(b"AT+QSSLSTATE=4\r")
        line = await host.read_until(b"\r\n\r\nOK\r\n")
        sock = host.emu.sockets[4]
        assert (
            line
            == (
                f'\r\n+QSSLSTATE: 4,"SSLClient","127.0.0.1",{echo_server.port},{sock.local_port},'
                f'2,1,4,0,"uart1",1\r\n\r\nOK\r\n'
            ).encode()
        )
        assert sock.local_port > 0


@pytest.mark.parametrize(
    "payload",
    [
        b'\r\nOK\r\nAT+QFDEL="*"\r',
        b'\r\n+QSSLURC: "closed",0\r\n\x1a\x1b+++\r\n> ',
        bytes(range(256)) * 5,
    ],
    ids=["ok-and-qfdel", "urc-ctrlz-esc", "all-bytes"],
)
async def test_payload_is_never_parsed(
    ca: CertificateAuthority, echo_server: TlsTestServer, payload: bytes
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        commands_before = len(host.emu.command_log)
        host.send(f"AT+QSSLSEND=0,{len(payload)}\r".encode())
        await host.expect(b"\r\n> ")
        host.send(payload)
        await host.expect(b"\r\nSEND OK\r\n")
        await host.expect(b'\r\n+QSSLURC: "recv",0\r\n')
        received = b""
        while len(received) < len(payload):
            host.send(b"AT+QSSLRECV=0,1500\r")
            header = await host.read_until(b"\r\n", within=5) + await host.read_until(b"\r\n")
            n = int(header.split(b":")[1])
            if n == 0:
                await host.expect(b"\r\nOK\r\n")
                await asyncio.sleep(0.01)
                continue
            received += await host.read_exactly(n)
            await host.expect(b"\r\n\r\nOK\r\n")
        assert received == payload
        assert "ca.pem" in host.emu.files
        names = [c.name for c in host.emu.command_log[commands_before:]]
        assert "+QFDEL" not in names
        assert names[0] == "+QSSLSEND"
        assert set(names[1:]) == {"+QSSLRECV"}


async def test_untrusted_ca_fails_with_579(
    ca: CertificateAuthority, other_ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, other_ca.cert_pem)
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,579\r\n"
        await host.command(b"AT+QIGETERROR", b"\r\n+QIGETERROR: 579,SSL handshake fail\r\n\r\nOK\r\n")
        await host.command(b"AT+QSSLSTATE=0", b"\r\nOK\r\n")
        assert 0 not in host.emu.sockets


async def test_cert_failure_code_566_knob(other_ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host(EmulatorConfig(emit_rdy_on_start=False, cert_failure_code=566)) as host:
        await echo_off(host)
        await configure_verified(host, other_ca.cert_pem)
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,566\r\n"


async def test_seclevel_0_accepts_any_certificate(other_ca: CertificateAuthority) -> None:
    stranger = other_ca.issue_server_cert(["not-this-host.example"])
    server = await start_tls_echo_server(stranger.cert_pem, stranger.key_pem)
    async with server, memory_host() as host:
        await echo_off(host)
        await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")
        assert await open_socket(host, server.port) == b"\r\n+QSSLOPEN: 0,0\r\n"
        assert host.emu.opened_with[-1][1].seclevel == 0
        # factory SNI is off
        assert server.server_names == [None]


async def test_hostname_mismatch_fails(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    config = EmulatorConfig(emit_rdy_on_start=False, host_map={"wrong.example.test": "127.0.0.1"})
    async with memory_host(config) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        line = await open_socket(host, echo_server.port, name="wrong.example.test")
        assert line == b"\r\n+QSSLOPEN: 0,579\r\n"
        # ignorecertitem bit 4 disables the name check
        await host.command(b'AT+QSSLCFG="ignorecertitem",1,4', b"\r\nOK\r\n")
        line = await open_socket(host, echo_server.port, name="wrong.example.test")
        assert line == b"\r\n+QSSLOPEN: 0,0\r\n"


async def test_host_map_keeps_the_name_for_sni(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    config = EmulatorConfig(
        emit_rdy_on_start=False, host_map={"api.example.test": ("127.0.0.1", echo_server.port)}
    )
    async with memory_host(config) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        assert await open_socket(host, 443, name="api.example.test") == b"\r\n+QSSLOPEN: 0,0\r\n"
        assert echo_server.server_names == ["api.example.test"]


async def test_sni_disabled_sends_no_server_name(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await host.command(b'AT+QSSLCFG="sni",1,0', b"\r\nOK\r\n")
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,0\r\n"
        assert echo_server.server_names == [None]


async def test_direct_push_mode(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        assert await open_socket(host, echo_server.port, mode=1) == b"\r\n+QSSLOPEN: 0,0\r\n"
        host.send(b"AT+QSSLSEND=0,18\r")
        await host.expect(b"\r\n> ")
        host.send(PAYLOAD)
        await host.expect(b"\r\nSEND OK\r\n")
        await host.expect(b'\r\n+QSSLURC: "recv",0,18\r\n' + PAYLOAD + b"\r\n")
        await host.command(b"AT+QSSLRECV=0,1500", b"\r\nERROR\r\n")
        # The length query answers for any existing connection (note §2.2.4): pushed bytes count as read.
        await host.command(b"AT+QSSLRECV=0,0", b"\r\n+QSSLRECV: 18,18,0\r\n\r\nOK\r\n")


async def test_direct_push_chunks_and_no_trailer(server_cert: IssuedCert) -> None:
    greeting = bytes(range(256)) * 16  # 4096 bytes
    config = EmulatorConfig(emit_rdy_on_start=False, max_push_chunk=1000, push_trailing_crlf=False)
    async with (
        await start_tls_echo_server(server_cert.chain_pem, server_cert.key_pem, greeting=greeting) as server,
        memory_host(config) as host,
    ):
        await echo_off(host)
        await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")
        assert await open_socket(host, server.port, mode=1) == b"\r\n+QSSLOPEN: 0,0\r\n"
        received = b""
        while len(received) < len(greeting):
            header = await host.read_until(b"\r\n") + await host.read_until(b"\r\n")
            assert header.startswith(b'\r\n+QSSLURC: "recv",0,')
            n = int(header.rsplit(b",", 1)[1])
            assert 0 < n <= 1000
            received += await host.read_exactly(n)
        assert received == greeting


async def test_peer_close_keeps_unread_data(server_cert: IssuedCert, ca: CertificateAuthority) -> None:
    async def send_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"bye-bye")
        await writer.drain()

    ctx = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    async with await start_tls_server(ctx, send_and_close) as server, memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        assert await open_socket(host, server.port) == b"\r\n+QSSLOPEN: 0,0\r\n"
        await host.expect(b'\r\n+QSSLURC: "recv",0\r\n')
        await host.expect(b'\r\n+QSSLURC: "closed",0\r\n')
        sock = host.emu.sockets[0]
        host.send(b"AT+QSSLSTATE=0\r")
        assert b",4,1,0,0," in await host.read_until(b"OK\r\n")
        await host.command(b"AT+QSSLSEND=0,5", b"\r\nERROR\r\n")
        await host.command(b"AT+QSSLRECV=0,3", b"\r\n+QSSLRECV: 3\r\nbye\r\n\r\nOK\r\n")
        await host.command(b"AT+QSSLRECV=0,100", b"\r\n+QSSLRECV: 4\r\n-bye\r\n\r\nOK\r\n")
        await host.command(b"AT+QSSLRECV=0,100", b"\r\n+QSSLRECV: 0\r\n\r\nOK\r\n")
        assert sock.state == 4
        await host.command(b"AT+QSSLCLOSE=0", b"\r\nOK\r\n")
        await host.command(b"AT+QSSLSTATE", b"\r\nOK\r\n")


async def test_recv_urc_only_on_empty_to_non_empty(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)

        async def send(data: bytes) -> None:
            host.send(f"AT+QSSLSEND=0,{len(data)}\r".encode())
            await host.expect(b"\r\n> ")
            host.send(data)
            await host.expect(b"\r\nSEND OK\r\n")

        await send(b"first")
        await host.expect(b'\r\n+QSSLURC: "recv",0\r\n')
        await send(b"second")  # unread data: no new URC
        await host.expect_silence(0.2)
        await host.command(b"AT+QSSLRECV=0,5", b"\r\n+QSSLRECV: 5\r\nfirst\r\n\r\nOK\r\n")
        await send(b"third")  # still not drained: no URC
        await host.expect_silence(0.2)
        await host.command(b"AT+QSSLRECV=0,1500", b"\r\n+QSSLRECV: 11\r\nsecondthird\r\n\r\nOK\r\n")
        await send(b"fourth")  # drained to zero: re-armed
        await host.expect(b'\r\n+QSSLURC: "recv",0\r\n')
        await host.command(b"AT+QSSLRECV=0,0", b"\r\n+QSSLRECV: 22,16,6\r\n\r\nOK\r\n")


async def test_send_fail_when_backlog_would_exceed_send_buffer(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    config = EmulatorConfig(emit_rdy_on_start=False, send_buffer_size=10)
    async with memory_host(config) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        host.send(b"AT+QSSLSEND=0,18\r")
        await host.expect(b"\r\n> ")
        host.send(PAYLOAD)
        await host.expect(b"\r\nSEND FAIL\r\n")
        host.send(b"AT+QSSLSEND=0,10\r")
        await host.expect(b"\r\n> ")
        host.send(PAYLOAD[:10])
        await host.expect(b"\r\nSEND OK\r\n")


async def test_qsslstate_two_parameter_form_knob(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    config = EmulatorConfig(emit_rdy_on_start=False, qsslstate_two_param=True)
    async with memory_host(config) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port, client_id=3)
        host.send(b"AT+QSSLSTATE=1,3\r")
        assert (await host.read_until(b"OK\r\n")).startswith(b'\r\n+QSSLSTATE: 3,"SSLClient",')


async def test_serve_socket_session(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    emu = ModemEmulator(EmulatorConfig(emit_rdy_on_start=False))
    async with emu.serve_socket() as (address, port):
        reader, writer = await asyncio.open_connection(address, port)
        try:
            writer.write(b"ATE0\rAT+QIACT=1\r")
            assert await asyncio.wait_for(reader.readexactly(17), 5) == b"ATE0\r\r\nOK\r\n\r\nOK\r\n"
            writer.write(f'AT+QSSLOPEN=1,0,0,"localhost",{echo_server.port}\r'.encode())
            expected = b"\r\nOK\r\n\r\n+QSSLOPEN: 0,0\r\n"
            assert await asyncio.wait_for(reader.readexactly(len(expected)), 5) == expected
        finally:
            writer.close()
            await writer.wait_closed()
