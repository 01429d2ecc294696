"""SEND FAIL models the module's send buffer: bytes the peer has not taken yet."""

from __future__ import annotations

import asyncio

from quectel_aio.testing import (
    CertificateAuthority,
    IssuedCert,
    server_ssl_context,
    start_tls_server,
)

from .helpers import configure_verified, echo_off, memory_host, open_socket

CHUNK = b"x" * 1460
#: Far more than a stalled peer's windows and buffers hold on loopback, far
#: less than the host's own autotuned socket buffer.
LIMIT = 1024 * 1024


async def test_send_fail_once_a_peer_that_stops_reading_has_filled_the_send_buffer(
    ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    release = asyncio.Event()
    accepted: list[int] = []

    async def stalls_then_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        await reader.readexactly(accepted[0])
        writer.write(b"K")
        await writer.drain()
        await reader.read()  # until the client closes

    ctx = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    async with await start_tls_server(ctx, stalls_then_reads) as server, memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        assert await open_socket(host, server.port) == b"\r\n+QSSLOPEN: 0,0\r\n"
        total = 0
        while True:
            host.send(b"AT+QSSLSEND=0,1460\r")
            await host.expect(b"\r\n> ")
            host.send(CHUNK)
            result = await host.read_until(b"\r\n") + await host.read_until(b"\r\n")
            if result == b"\r\nSEND FAIL\r\n":
                break
            assert result == b"\r\nSEND OK\r\n"
            total += len(CHUNK)
            assert total < LIMIT, "the module kept accepting data its peer does not read"
        assert total > 0
        # The peer reads everything that was accepted: the buffer empties and sends succeed again.
        accepted.append(total)
        release.set()
        await host.expect(b'\r\n+QSSLURC: "recv",0\r\n', within=10)
        host.send(b"AT+QSSLSEND=0,1460\r")
        await host.expect(b"\r\n> ")
        host.send(CHUNK)
        await host.expect(b"\r\nSEND OK\r\n")
