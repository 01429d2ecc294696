"""Awaiting emulator state: ``ModemEmulator.wait_for`` wakes on state changes, never by polling."""

from __future__ import annotations

import asyncio

import pytest

from quectel_aio.testing import (
    CertificateAuthority,
    EmulatorConfig,
    ModemEmulator,
    SocketState,
    TlsTestServer,
)

from .helpers import configure_verified, echo_off, memory_host


async def test_wait_for_returns_at_once_when_the_predicate_holds() -> None:
    emu = ModemEmulator(EmulatorConfig(emit_rdy_on_start=False))
    await emu.wait_for(lambda: True, timeout=0)


async def test_wait_for_times_out() -> None:
    async with memory_host() as host:
        with pytest.raises(TimeoutError):
            await host.emu.wait_for(lambda: bool(host.emu.sockets), timeout=0.05)


async def test_wait_for_a_command_and_a_socket_state(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        emu = host.emu
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        connected = asyncio.create_task(
            emu.wait_for(lambda: 0 in emu.sockets and emu.sockets[0].state is SocketState.CONNECTED)
        )
        logged = asyncio.create_task(
            emu.wait_for(lambda: any(c.name == "+QSSLOPEN" for c in emu.command_log))
        )
        await asyncio.sleep(0)
        assert not connected.done()
        assert not logged.done()
        host.send(f'AT+QSSLOPEN=1,1,0,"localhost",{echo_server.port},0\r'.encode())
        async with asyncio.timeout(10):
            await logged
            await connected
        await host.expect(b"\r\nOK\r\n\r\n+QSSLOPEN: 0,0\r\n")
        # The peer's close is seen without polling either.
        emu.close_from_peer(0)
        await emu.wait_for(lambda: emu.sockets[0].state is SocketState.CLOSING, timeout=5)
        await host.expect(b'\r\n+QSSLURC: "closed",0\r\n')


async def test_wait_for_restart() -> None:
    async with memory_host() as host:
        emu = host.emu
        waiting = asyncio.create_task(emu.wait_for(lambda: emu.restarts == 1, timeout=5))
        await asyncio.sleep(0)
        emu.restart()
        await waiting
        await host.expect(b"\r\nRDY\r\n")


async def test_inspected_state_has_public_types(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    from quectel_aio.testing import CommandKind, ParsedCommand, TlsSocket

    async with memory_host() as host:
        emu = host.emu
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        host.send(f'AT+QSSLOPEN=1,1,3,"localhost",{echo_server.port},0\r'.encode())
        await host.expect(b"\r\nOK\r\n\r\n+QSSLOPEN: 3,0\r\n")
        sock = emu.sockets[3]
        assert isinstance(sock, TlsSocket)
        assert (sock.client_id, sock.cid, sock.ctx_id, sock.mode) == (3, 1, 1, 0)
        assert sock.state is SocketState.CONNECTED
        assert sock.remote_ip == "127.0.0.1"
        opened = [c for c in emu.command_log if c.name == "+QSSLOPEN"]
        assert all(isinstance(c, ParsedCommand) for c in opened)
        assert opened[0].kind is CommandKind.WRITE
        assert opened[0].params == (1, 1, 3, "localhost", echo_server.port, 0)
