"""Fault injection: URC placement, scripted failures, restart, PDP loss, send errors."""

from __future__ import annotations

import asyncio

from quectel_aio.testing import CertificateAuthority, EmulatorConfig, ModemEmulator, TlsTestServer

from .helpers import configure_verified, echo_off, memory_host, open_socket


async def test_injected_urc_when_idle_is_written_at_once() -> None:
    async with memory_host() as host:
        host.emu.inject_urc('+QIURC: "pdpdeact",1')
        await host.expect(b'\r\n+QIURC: "pdpdeact",1\r\n')


async def test_injected_urc_waits_for_the_end_of_a_data_phase(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        host.send(b"AT+QSSLSEND=0,4\r")
        await host.expect(b"\r\n> ")
        host.emu.inject_urc("+CUSTOM: 1")
        await host.expect_silence(0.05)
        host.send(b"ab")
        await host.expect_silence(0.05)
        host.send(b"cd")
        await host.expect(b"\r\nSEND OK\r\n\r\n+CUSTOM: 1\r\n")


async def test_injected_urc_waits_for_the_end_of_an_upload() -> None:
    async with memory_host() as host:
        await echo_off(host)
        host.send(b'AT+QFUPL="f.bin",4\r')
        await host.expect(b"\r\nCONNECT\r\n")
        host.emu.inject_urc("+CUSTOM: 2")
        await host.expect_silence(0.05)
        host.send(b"1234")
        response = await host.read_until(b"\r\n+CUSTOM: 2\r\n")
        assert response.startswith(b"\r\n+QFUPL: 4,")
        assert b"\r\n\r\nOK\r\n\r\n+CUSTOM" in response


async def test_urc_before_next_response_lands_after_the_echo() -> None:
    async with memory_host() as host:
        host.emu.inject_urc('+QSSLURC: "recv",3', before_next_response=True)
        await host.expect_silence(0.05)
        host.send(b"AT\r")
        await host.expect(b'AT\r\r\n+QSSLURC: "recv",3\r\n\r\nOK\r\n')


async def test_urc_after_ok_delay() -> None:
    config = EmulatorConfig(emit_rdy_on_start=False, urc_after_ok_delay=0.2, command_latency=0.05)
    async with memory_host(config) as host:
        await echo_off(host)
        host.send(b"AT\r")
        await asyncio.sleep(0.01)
        host.emu.inject_urc("+LATE: 1")
        await host.expect(b"\r\nOK\r\n")
        await host.expect_silence(0.1)
        await host.expect(b"\r\n+LATE: 1\r\n")


async def test_mute_and_fail_next_command() -> None:
    async with memory_host() as host:
        await echo_off(host)
        host.emu.mute_next_command("AT+QIACT")
        host.send(b"AT+QIACT=1\r")
        await host.expect_silence(0.1)
        await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")
        host.emu.fail_next_command('+QSSLCFG="seclevel"', b"\r\n+CME ERROR: 3\r\n")
        await host.command(b'AT+QSSLCFG="seclevel",1,1', b"\r\n+CME ERROR: 3\r\n")
        assert host.emu.ssl_contexts[1].seclevel == 0
        await host.command(b'AT+QSSLCFG="seclevel",1,1', b"\r\nOK\r\n")


async def test_send_fail_injection_and_send_errors(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        host.emu.fail_next_sends(1)
        host.send(b"AT+QSSLSEND=0,3\r")
        await host.expect(b"\r\n> ")
        host.send(b"abc")
        await host.expect(b"\r\nSEND FAIL\r\n")
        await host.expect_silence(0.1)  # nothing was sent, nothing echoed back
        # ERROR comes instead of the prompt for an unknown socket or bad length
        await host.command(b"AT+QSSLSEND=1,3", b"\r\nERROR\r\n")
        await host.command(b"AT+QSSLSEND=0,0", b"\r\nERROR\r\n")
        await host.command(b"AT+QSSLSEND=0,1461", b"\r\nERROR\r\n")
        await host.command(b"AT+QSSLSEND=12,1", b"\r\nERROR\r\n")


async def test_variable_length_send_ctrl_z_and_esc(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        host.send(b"AT+QSSLSEND=0\r")
        await host.expect(b"\r\n> ")
        host.send(b"hello\x1a")
        await host.expect(b"\r\nSEND OK\r\n")
        await host.expect(b'\r\n+QSSLURC: "recv",0\r\n')
        await host.command(b"AT+QSSLRECV=0,100", b"\r\n+QSSLRECV: 5\r\nhello\r\n\r\nOK\r\n")
        host.send(b"AT+QSSLSEND=0\r")
        await host.expect(b"\r\n> ")
        host.send(b"never sent\x1b")
        await host.expect(b"\r\nERROR\r\n")
        await host.command(b"AT+QIGETERROR", b"\r\n+QIGETERROR: 571,Cancel send\r\n\r\nOK\r\n")
        await host.expect_silence(0.1)


async def test_send_input_timeout(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    config = EmulatorConfig(emit_rdy_on_start=False, send_input_timeout=0.1)
    async with memory_host(config) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        host.send(b"AT+QSSLSEND=0,10\r")
        await host.expect(b"\r\n> ")
        host.send(b"abc")
        await host.expect(b"\r\nERROR\r\n")
        await host.command(b"AT", b"\r\nOK\r\n")


async def test_payload_echo_via_qisde(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        await host.command(b"AT+QISDE=1", b"\r\nOK\r\n")
        host.send(b"AT+QSSLSEND=0,2\r")
        await host.expect(b"\r\n> ")
        host.send(b"hi")
        await host.expect(b"hi\r\nSEND OK\r\n")


async def test_restart_drops_sockets_and_settings(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        host.emu.restart()
        await host.expect(b"\r\nRDY\r\n")
        host.send(b"AT+QSSLSTATE\r")
        await host.expect(b"AT+QSSLSTATE\r\r\nOK\r\n")  # echo is back on
        assert host.emu.ssl_contexts[1].seclevel == 0
        assert not host.emu.pdp[1].active
        assert "ca.pem" in host.emu.files


async def test_restart_discards_an_open_data_phase(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        host.send(b"AT+QSSLSEND=0,100\r")
        await host.expect(b"\r\n> ")
        host.send(b"partial")
        await asyncio.sleep(0.01)
        host.emu.restart()
        await host.expect(b"\r\nRDY\r\n")
        host.send(b"AT\r")
        await host.expect(b"AT\r\r\nOK\r\n")


async def test_deactivate_pdp(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port, client_id=2)
        host.emu.deactivate_pdp(1)
        await host.expect(b'\r\n+QIURC: "pdpdeact",1\r\n\r\n+QSSLURC: "closed",2\r\n')
        host.send(b"AT+QSSLSTATE=2\r")
        assert b",4,1,2,0," in await host.read_until(b"OK\r\n")
        await host.command(b"AT+QSSLCLOSE=2", b"\r\nOK\r\n")
        assert await open_socket(host, echo_server.port, client_id=2) == b"\r\n+QSSLOPEN: 2,561\r\n"


async def test_qideact_closes_sockets_after_ok(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port, client_id=5)
        await host.command(b"AT+QIDEACT=1", b'\r\nOK\r\n\r\n+QSSLURC: "closed",5\r\n')


async def test_close_from_peer(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        host.emu.close_from_peer(0)
        await host.expect(b'\r\n+QSSLURC: "closed",0\r\n')
        await host.command(b"AT+QSSLRECV=0,10", b"\r\n+QSSLRECV: 0\r\n\r\nOK\r\n")
        await host.command(b"AT+QSSLCLOSE=0", b"\r\nOK\r\n")


async def test_id_in_use(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,0\r\n"
        assert await open_socket(host, echo_server.port) == b"\r\n+QSSLOPEN: 0,563\r\n"
        await host.command(
            b"AT+QIGETERROR", b"\r\n+QIGETERROR: 563,Socket identity has been used\r\n\r\nOK\r\n"
        )
        assert host.emu.sockets[0].state == 2


async def test_input_before_rdy_is_ignored_during_boot_delay() -> None:
    """A booting module does not answer: commands sent before RDY get nothing."""
    emulator = ModemEmulator(EmulatorConfig(echo=False, boot_delay=0.2))
    out = bytearray()
    emulator.attach(out.extend)
    try:
        emulator.feed(b"AT\r")
        await asyncio.sleep(0.1)
        assert out == b""
        await asyncio.sleep(0.2)
        assert out == b"\r\nRDY\r\n"
        emulator.feed(b"AT\r")
        await asyncio.sleep(0.05)
        assert out == b"\r\nRDY\r\n\r\nOK\r\n"
        emulator.restart()
        emulator.feed(b"AT\r")
        await asyncio.sleep(0.1)
        assert out.count(b"OK") == 1
    finally:
        await emulator.aclose()
