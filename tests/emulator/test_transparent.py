"""Transparent access mode: CONNECT, raw pipe, +++ guard times, NO CARRIER, ATO."""

from __future__ import annotations

import asyncio
from typing import Literal

import pytest

from quectel_aio.testing import (
    CertificateAuthority,
    EmulatorConfig,
    IssuedCert,
    SocketState,
    TlsTestServer,
    server_ssl_context,
    start_tls_server,
)

from .helpers import Host, configure_verified, echo_off, memory_host, open_socket, pty_host

GUARD = 0.1
CONFIG = EmulatorConfig(emit_rdy_on_start=False, escape_guard_time=GUARD)


async def _enter(host: Host, port: int) -> None:
    host.send(f'AT+QSSLOPEN=1,1,0,"localhost",{port},2\r'.encode())
    await host.expect(b"\r\nCONNECT\r\n", within=10)


async def _escape(host: Host) -> None:
    await asyncio.sleep(GUARD * 1.5)
    host.send(b"+++")
    await host.expect_silence(GUARD / 2)  # OK only after the guard time after
    await host.expect(b"\r\nOK\r\n")


async def test_transparent_round_trip_escape_and_ato(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with pty_host(CONFIG) as (host, emu):
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await _enter(host, echo_server.port)
        payload = b'AT+QFDEL="*"\r\n\x1a\x1b\r\nOK\r\n'
        host.send(payload)
        await host.expect(payload)
        await _escape(host)
        assert "ca.pem" in emu.files
        host.send(b"AT+QSSLSTATE=0\r")
        assert b",2,1,0,0," in await host.read_until(b"OK\r\n")  # connected, buffer mode
        host.send(b"ATO\r")
        await host.expect(b"\r\nCONNECT\r\n")
        host.send(b"again")
        await host.expect(b"again")
        await _escape(host)


async def test_pluses_inside_data_are_data(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host(CONFIG) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await _enter(host, echo_server.port)
        host.send(b"a+++")
        await host.expect(b"a+++")
        await asyncio.sleep(GUARD * 1.5)
        host.send(b"+++b")  # data right after the pluses: not an escape
        await host.expect(b"+++b")
        await asyncio.sleep(GUARD * 1.5)
        host.send(b"+")  # pluses typed too slowly
        await asyncio.sleep(GUARD * 1.5)
        host.send(b"++")
        await host.expect(b"+", within=1)
        await host.expect(b"++", within=1)
        await _escape(host)


async def test_urcs_are_held_until_the_session_ends(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host(CONFIG) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await _enter(host, echo_server.port)
        host.emu.inject_urc("+CUSTOM: 1")
        host.send(b"x")
        await host.expect(b"x")
        await _escape(host)
        await host.expect(b"\r\n+CUSTOM: 1\r\n")


async def test_peer_close_prints_no_carrier(ca: CertificateAuthority, server_cert: IssuedCert) -> None:
    async def greet_and_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"goodbye")
        await writer.drain()

    ctx = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    server = await start_tls_server(ctx, greet_and_close)
    async with server, memory_host(CONFIG) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await _enter(host, server.port)
        await host.expect(b"goodbye\r\nNO CARRIER\r\n")
        host.send(b"AT+QSSLSTATE=0\r")
        assert b",4,1,0,2," in await host.read_until(b"OK\r\n")
        await host.command(b"ATO", b"\r\nNO CARRIER\r\n")
        await host.command(b"AT+QSSLCLOSE=0", b"\r\nOK\r\n")


async def test_open_failure_is_error(other_ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host(CONFIG) as host:
        await echo_off(host)
        await configure_verified(host, other_ca.cert_pem)
        await host.command(
            f'AT+QSSLOPEN=1,1,0,"localhost",{echo_server.port},2'.encode(), b"\r\nERROR\r\n", within=10
        )
        await host.command(b"AT+QIGETERROR", b"\r\n+QIGETERROR: 579,SSL handshake fail\r\n\r\nOK\r\n")
        await host.command(b"ATO", b"\r\nNO CARRIER\r\n")


async def test_qiswtmd_to_transparent_flushes_buffered_data(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host(CONFIG) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        host.send(f'AT+QSSLOPEN=1,1,0,"localhost",{echo_server.port},0\r'.encode())
        await host.expect(b"\r\nOK\r\n\r\n+QSSLOPEN: 0,0\r\n", within=10)
        host.send(b"AT+QSSLSEND=0,6\r")
        await host.expect(b"\r\n> ")
        host.send(b"queued")
        await host.expect(b'\r\nSEND OK\r\n\r\n+QSSLURC: "recv",0\r\n')
        host.send(b"AT+QISWTMD=0,2\r")
        await host.expect(b"\r\nCONNECT\r\nqueued")
        await _escape(host)


async def test_pdp_loss_ends_the_session(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host(CONFIG) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await _enter(host, echo_server.port)
        host.emu.deactivate_pdp(1)
        await host.expect(b'\r\nNO CARRIER\r\n\r\n+QIURC: "pdpdeact",1\r\n')
        await host.expect_silence(0.1)


async def test_guard_times_count_from_arrival_on_the_link(
    ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    received = bytearray()
    peer_done = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            received.extend(chunk)
        peer_done.set()

    baudrate = 115_200
    config = EmulatorConfig(emit_rdy_on_start=False, escape_guard_time=GUARD, link_baudrate=baudrate)
    ctx = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    server = await start_tls_server(ctx, sink)
    async with server, memory_host(config) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await _enter(host, server.port)
        sock = host.emu.sockets[0]
        released = asyncio.Event()
        drain = sock.drain

        async def held_drain() -> None:  # the peer applies backpressure until released
            await released.wait()
            await drain()

        sock.drain = held_drain  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        data = b"d" * (baudrate // 100)  # 0.1 s on the wire
        host.send(data)
        last_byte_arrives = loop.time() + len(data) * 10 / baudrate
        # The host keeps the guard time of silence on the line, types +++ and
        # keeps silent again; the module is still busy with the data meanwhile.
        await asyncio.sleep(last_byte_arrives + GUARD * 1.5 - loop.time())
        host.send(b"+++")
        await asyncio.sleep(GUARD * 1.5)
        host.send(b"AT\r")  # a command line after the escape, still unread too
        await asyncio.sleep(0.01)  # its time on the wire, and more
        assert host.emu.input_backlog == 0
        released.set()
        await host.expect(b"\r\nOK\r\n\r\nOK\r\n", within=2)
        await host.command(b"AT+QSSLCLOSE=0", b"\r\nOK\r\n")
        async with asyncio.timeout(5):
            await peer_done.wait()
        assert bytes(received) == data  # the escape never reached the peer


async def test_silence_before_an_escape_counts_from_a_lone_plus_that_was_data(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host(CONFIG) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await _enter(host, echo_server.port)
        await asyncio.sleep(GUARD * 1.5)
        host.send(b"+")  # alone after silence: it is data once no more pluses follow
        await host.expect(b"+", within=1)
        # The guard time has passed since the '+' arrived, not since the
        # module gave up waiting for more pluses: this escape is guarded.
        await asyncio.sleep(GUARD * 0.6)
        host.send(b"+++")
        await host.expect_silence(GUARD / 2)
        await host.expect(b"\r\nOK\r\n")


async def test_a_guarded_escape_after_a_lone_plus_is_seen_behind_a_backlog(
    ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    received = bytearray()
    peer_done = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while chunk := await reader.read(65536):
            received.extend(chunk)
        peer_done.set()

    ctx = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    server = await start_tls_server(ctx, sink)
    async with server, memory_host(CONFIG) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await _enter(host, server.port)
        sock = host.emu.sockets[0]
        released = asyncio.Event()
        drain = sock.drain

        async def held_drain() -> None:  # the peer applies backpressure until released
            await released.wait()
            await drain()

        sock.drain = held_drain  # type: ignore[method-assign]
        host.send(b"d")
        await asyncio.sleep(GUARD * 1.5)
        host.send(b"+")  # after silence, then too slow to be an escape: data
        await asyncio.sleep(GUARD * 1.5)
        host.send(b"+++")  # guarded on the line: an escape
        await asyncio.sleep(GUARD * 1.5)
        released.set()
        await host.expect(b"\r\nOK\r\n", within=2)
        await host.command(b"AT+QSSLCLOSE=0", b"\r\nOK\r\n")
        async with asyncio.timeout(5):
            await peer_done.wait()
        assert bytes(received) == b"d+"


@pytest.mark.parametrize("policy", ["held", "dropped"])
async def test_urcs_of_other_sockets_during_a_session(
    ca: CertificateAuthority, echo_server: TlsTestServer, policy: Literal["held", "dropped"]
) -> None:
    config = EmulatorConfig(emit_rdy_on_start=False, escape_guard_time=GUARD, transparent_urcs=policy)
    async with memory_host(config) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        assert await open_socket(host, echo_server.port, client_id=1) == b"\r\n+QSSLOPEN: 1,0\r\n"
        await _enter(host, echo_server.port)
        host.emu.close_from_peer(1)
        await host.emu.wait_for(lambda: host.emu.sockets[1].state is SocketState.CLOSING, timeout=5)
        host.emu.inject_urc("+CUSTOM: 1")  # a test's own URC is always kept
        host.send(b"x")
        await host.expect(b"x")
        await _escape(host)
        closed = b'\r\n+QSSLURC: "closed",1\r\n' if policy == "held" else b""
        await host.expect(closed + b"\r\n+CUSTOM: 1\r\n")
        await host.expect_silence(0.05)


def test_transparent_urcs_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="transparent_urcs"):
        EmulatorConfig(transparent_urcs="buffered")  # type: ignore[arg-type]
