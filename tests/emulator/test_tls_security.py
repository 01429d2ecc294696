"""How the QSSLCFG security settings drive the real TLS handshake."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl

import pytest

from quectel_aio.testing import (
    CertificateAuthority,
    EmulatorConfig,
    IssuedCert,
    TlsTestServer,
    server_ssl_context,
    start_tls_echo_server,
    start_tls_server,
)

from .helpers import configure_verified, echo_off, memory_host, open_socket, upload


def _now_cclk() -> bytes:
    now = dt.datetime.now(dt.UTC)
    return f'AT+CCLK="{now:%y/%m/%d,%H:%M:%S}+00"'.encode()


async def test_tls13_is_never_negotiated(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,0\r\n"
        assert echo_server.tls_versions == ["TLSv1.2"]


async def test_expired_certificate_and_the_module_clock(
    ca: CertificateAuthority, expired_cert: IssuedCert, server_cert: IssuedCert
) -> None:
    expired = await start_tls_echo_server(expired_cert.chain_pem, expired_cert.key_pem)
    valid = await start_tls_echo_server(server_cert.chain_pem, server_cert.key_pem)
    async with expired, valid, memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        # ignorelocaltime=1 (factory): dates are ignored entirely
        assert await open_socket(host, expired.port, client_id=0) == b"\r\n+QSSLOPEN: 0,0\r\n"
        await host.command(b'AT+QSSLCFG="ignorelocaltime",1,0', b"\r\nOK\r\n")
        # factory clock is 2000-01-01: even the valid certificate is "not yet valid"
        assert await open_socket(host, valid.port, client_id=1) == b"\r\n+QSSLOPEN: 1,579\r\n"
        await host.command(_now_cclk(), b"\r\nOK\r\n")
        assert await open_socket(host, valid.port, client_id=1) == b"\r\n+QSSLOPEN: 1,0\r\n"
        assert await open_socket(host, expired.port, client_id=2) == b"\r\n+QSSLOPEN: 2,579\r\n"
        # ignorecertitem bit 1 ignores expiry
        await host.command(b'AT+QSSLCFG="ignorecertitem",1,1', b"\r\nOK\r\n")
        assert await open_socket(host, expired.port, client_id=2) == b"\r\n+QSSLOPEN: 2,0\r\n"


async def test_missing_cacert_file_fails(echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")
        await host.command(b'AT+QSSLCFG="seclevel",1,1', b"\r\nOK\r\n")
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,579\r\n"
        await host.command(b'AT+QSSLCFG="cacert",1,"UFS:nothere.pem"', b"\r\nOK\r\n")
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,579\r\n"


async def test_untrusted_chain_can_be_ignored(
    other_ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, other_ca.cert_pem)
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,579\r\n"
        await host.command(b'AT+QSSLCFG="ignoreinvalidcertsign",1,1', b"\r\nOK\r\n")
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,0\r\n"


@pytest.mark.parametrize(("version", "expected"), [(1, 579), (2, 579), (3, 0), (4, 0), (0, 579)])
async def test_sslversion_against_a_tls12_only_server(
    ca: CertificateAuthority, server_cert: IssuedCert, version: int, expected: int
) -> None:
    ctx = server_ssl_context(
        server_cert.chain_pem, server_cert.key_pem, minimum_version=ssl.TLSVersion.TLSv1_2
    )
    server = await start_tls_echo_server(ssl_context=ctx)
    async with server, memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await host.command(f'AT+QSSLCFG="sslversion",1,{version}'.encode(), b"\r\nOK\r\n")
        assert await open_socket(host, server.port) == f"\r\n+QSSLOPEN: 0,{expected}\r\n".encode()


@pytest.mark.parametrize(("suite", "expected"), [("0XC02F", 579), ("0XC023", 0), ("0X0005", 579)])
async def test_single_cipher_suite(
    ca: CertificateAuthority, echo_server: TlsTestServer, suite: str, expected: int
) -> None:
    # the test server has an ECDSA certificate: RSA suites cannot be negotiated
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await host.command(f'AT+QSSLCFG="ciphersuite",1,{suite}'.encode(), b"\r\nOK\r\n")
        assert await open_socket(host, echo_server.port) == f"\r\n+QSSLOPEN: 0,{expected}\r\n".encode()


async def test_client_certificate_seclevel_2(ca: CertificateAuthority, server_cert: IssuedCert) -> None:
    client = ca.issue_client_cert()
    server = await start_tls_echo_server(
        server_cert.chain_pem, server_cert.key_pem, client_ca_pem=ca.cert_pem
    )
    async with server, memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        assert await open_socket(host, server.port) == b"\r\n+QSSLOPEN: 0,579\r\n"
        await upload(host, "client.pem", client.cert_pem)
        await upload(host, "client.key", client.key_pem)
        await host.command(b'AT+QSSLCFG="clientcert",1,"UFS:client.pem"', b"\r\nOK\r\n")
        await host.command(b'AT+QSSLCFG="clientkey",1,"client.key"', b"\r\nOK\r\n")
        await host.command(b'AT+QSSLCFG="seclevel",1,2', b"\r\nOK\r\n")
        assert await open_socket(host, server.port) == b"\r\n+QSSLOPEN: 0,0\r\n"
        assert server.peer_certs[-1] is not None


async def test_negotiate_timeout_is_569() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.read()
        finally:
            writer.close()

    plain = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = plain.sockets[0].getsockname()[1]
    config = EmulatorConfig(emit_rdy_on_start=False, time_scale=0.02)
    try:
        async with memory_host(config) as host:
            await echo_off(host)
            await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")
            await host.command(b'AT+QSSLCFG="negotiatetime",1,10', b"\r\nOK\r\n")
            assert await open_socket(host, port) == b"\r\n+QSSLOPEN: 0,569\r\n"
    finally:
        plain.close()
        await plain.wait_closed()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("unknown.example.test", 565), ("192.0.2.1", 566), ("127.0.0.1", 566)],
    ids=["unmapped-dns", "non-loopback", "refused"],
)
async def test_target_errors(name: str, expected: int) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")
        # port 1 on loopback: nothing listens there
        assert await open_socket(host, 1, name=name) == f"\r\n+QSSLOPEN: 0,{expected}\r\n".encode()


async def test_dtls_is_not_supported(echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")
        await host.command(b'AT+QSSLCFG="dtls",1,1', b"\r\nOK\r\n")
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,555\r\n"


async def test_qsslopen_parameter_errors() -> None:
    async with memory_host() as host:
        await echo_off(host)
        for line in (
            b'AT+QSSLOPEN=0,1,0,"localhost",443,0',
            b'AT+QSSLOPEN=1,6,0,"localhost",443,0',
            b'AT+QSSLOPEN=1,1,12,"localhost",443,0',
            b"AT+QSSLOPEN=1,1,0,localhost,443,0",
            b'AT+QSSLOPEN=1,1,0,"localhost",443,3',
            b'AT+QSSLOPEN=1,1,0,"localhost"',
            b'AT+QSSLOPEN=1,1,0,"localhost",443,2',
        ):
            await host.command(line, b"\r\nERROR\r\n")
        await host.command(
            b"AT+QSSLOPEN=?",
            b"\r\n+QSSLOPEN: (1-7),(0-5),(0-11),<serveraddr>,(1-65535),(0-2)\r\n\r\nOK\r\n",
        )


async def test_receive_buffer_full_stops_reading(ca: CertificateAuthority, server_cert: IssuedCert) -> None:
    blob = bytes(i % 256 for i in range(300_000))
    done = asyncio.Event()

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(blob)
        await writer.drain()
        done.set()
        await reader.read()

    ctx = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    config = EmulatorConfig(emit_rdy_on_start=False, recv_buffer_size=4096)
    server = await start_tls_server(ctx, flood)
    async with server, memory_host(config) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        assert await open_socket(host, server.port) == b"\r\n+QSSLOPEN: 0,0\r\n"
        await host.expect(b'\r\n+QSSLURC: "recv",0\r\n')
        await asyncio.sleep(0.2)
        sock = host.emu.sockets[0]
        # the module took only what fits in its buffer and stopped reading
        assert len(sock.recv_buffer) == 4096
        assert sock.total_received == 4096
        received = b""
        while len(received) < len(blob):
            host.send(b"AT+QSSLRECV=0,1500\r")
            header = await host.read_until(b"\r\n", within=5) + await host.read_until(b"\r\n")
            n = int(header.split(b":")[1])
            if n:
                received += await host.read_exactly(n)
                await host.expect(b"\r\n\r\nOK\r\n")
            else:
                await host.expect(b"\r\nOK\r\n")
                await host.read_until(b'"recv",0\r\n')
        assert received == blob
        assert done.is_set()


async def test_switch_buffer_to_push_delivers_buffered_data(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        host.send(b"AT+QSSLSEND=0,5\r")
        await host.expect(b"\r\n> ")
        host.send(b"hello")
        await host.expect(b'\r\nSEND OK\r\n\r\n+QSSLURC: "recv",0\r\n')
        await host.command(b"AT+QISWTMD=0,1", b'\r\nOK\r\n\r\n+QSSLURC: "recv",0,5\r\nhello\r\n')
        await host.command(b"AT+QISWTMD=0,0", b"\r\nOK\r\n")
        await host.command(b"AT+QISWTMD=0,3", b"\r\nERROR\r\n")
        await host.command(b"AT+QISWTMD=9,1", b"\r\nERROR\r\n")
