"""Knobs for what the SSL note leaves open: each variant behaves as configured."""

from __future__ import annotations

import pytest

from quectel_aio.testing import (
    CertificateAuthority,
    EmulatorConfig,
    SslContextSettings,
    TlsTestServer,
)

from .helpers import configure_verified, echo_off, memory_host, open_socket


async def test_ssl_defaults_are_the_factory_values_of_every_context() -> None:
    defaults = SslContextSettings(seclevel=1, ignorecertitem=4, ciphersuite=0xC02F)
    async with memory_host(EmulatorConfig(emit_rdy_on_start=False, ssl_defaults=defaults)) as host:
        await echo_off(host)
        await host.command(b'AT+QSSLCFG="seclevel",5', b'\r\n+QSSLCFG: "seclevel",5,1\r\n\r\nOK\r\n')
        await host.command(b'AT+QSSLCFG="seclevel",0,0', b"\r\nOK\r\n")
        await host.command(
            b'AT+QSSLCFG="ciphersuite",0', b'\r\n+QSSLCFG: "ciphersuite",0,0XC02F\r\n\r\nOK\r\n'
        )
        host.emu.restart()
        await host.expect(b"\r\nRDY\r\n")
        await echo_off(host)
        await host.command(b'AT+QSSLCFG="seclevel",0', b'\r\n+QSSLCFG: "seclevel",0,1\r\n\r\nOK\r\n')
        await host.command(
            b'AT+QSSLCFG="ignorecertitem",3', b'\r\n+QSSLCFG: "ignorecertitem",3,4\r\n\r\nOK\r\n'
        )


@pytest.mark.parametrize(
    "settings",
    [
        SslContextSettings(negotiatetime=5),
        SslContextSettings(seclevel=3),
        SslContextSettings(ciphersuite=0x1234),
        SslContextSettings(cacert='UFS:"ca.pem'),
    ],
)
def test_ssl_defaults_out_of_range_are_refused(settings: SslContextSettings) -> None:
    with pytest.raises(ValueError, match="AT\\+QSSLCFG"):
        EmulatorConfig(ssl_defaults=settings)


@pytest.mark.parametrize("resets", [False, True])
async def test_closing_the_last_connection_releases_the_context(
    ca: CertificateAuthority, echo_server: TlsTestServer, resets: bool
) -> None:
    config = EmulatorConfig(emit_rdy_on_start=False, release_resets_context=resets)
    async with memory_host(config) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        assert await open_socket(host, echo_server.port, client_id=0) == b"\r\n+QSSLOPEN: 0,0\r\n"
        assert await open_socket(host, echo_server.port, client_id=1) == b"\r\n+QSSLOPEN: 1,0\r\n"
        await host.command(b"AT+QSSLCLOSE=0", b"\r\nOK\r\n")
        # Another connection still uses context 1: nothing is released.
        await host.command(b'AT+QSSLCFG="seclevel",1', b'\r\n+QSSLCFG: "seclevel",1,1\r\n\r\nOK\r\n')
        await host.command(b"AT+QSSLCLOSE=1", b"\r\nOK\r\n")
        expected = b"0" if resets else b"1"
        await host.command(
            b'AT+QSSLCFG="seclevel",1', b'\r\n+QSSLCFG: "seclevel",1,' + expected + b"\r\n\r\nOK\r\n"
        )
        await host.command(
            b'AT+QSSLCFG="cacert",1',
            b'\r\n+QSSLCFG: "cacert",1,"' + (b"" if resets else b"UFS:ca.pem") + b'"\r\n\r\nOK\r\n',
        )


@pytest.mark.parametrize("bare", [False, True])
async def test_empty_qsslrecv_answer(
    ca: CertificateAuthority, echo_server: TlsTestServer, bare: bool
) -> None:
    async with memory_host(EmulatorConfig(emit_rdy_on_start=False, recv_empty_bare_ok=bare)) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        expected = b"\r\nOK\r\n" if bare else b"\r\n+QSSLRECV: 0\r\n\r\nOK\r\n"
        await host.command(b"AT+QSSLRECV=0,1500", expected)
        # The length query is the same in both variants.
        await host.command(b"AT+QSSLRECV=0,0", b"\r\n+QSSLRECV: 0,0,0\r\n\r\nOK\r\n")


@pytest.mark.parametrize("shown", [True, False])
async def test_qsslstate_local_port(
    ca: CertificateAuthority, echo_server: TlsTestServer, shown: bool
) -> None:
    async with memory_host(EmulatorConfig(emit_rdy_on_start=False, qsslstate_local_port=shown)) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port, client_id=4)
        host.send(b"AT+QSSLSTATE=4\r")
        line = (await host.read_until(b"\r\n\r\nOK\r\n")).split(b"\r\n")[1]
        fields = line.split(b",")
        assert fields[:4] == [
            b"+QSSLSTATE: 4",
            b'"SSLClient"',
            b'"127.0.0.1"',
            str(echo_server.port).encode(),
        ]
        local_port = int(fields[4])
        assert (local_port != 0) is shown
        assert fields[5:] == [b"2", b"1", b"4", b"0", b'"uart1"', b"1"]


async def test_send_length_query(ca: CertificateAuthority, echo_server: TlsTestServer) -> None:
    async with memory_host(EmulatorConfig(emit_rdy_on_start=False)) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        # Not in the SSL note (sendlen 1-1460): refused by default, with nothing sent.
        await host.command(b"AT+QSSLSEND=0,0", b"\r\nERROR\r\n")
        await host.command(b"AT+QIGETERROR", b"\r\n+QIGETERROR: 552,Invalid parameter\r\n\r\nOK\r\n")
    async with memory_host(EmulatorConfig(emit_rdy_on_start=False, send_length_query=True)) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        await host.command(b"AT+QSSLSEND=0,0", b"\r\n+QSSLSEND: 0,0,0\r\n\r\nOK\r\n")
        host.send(b"AT+QSSLSEND=0,5\r")
        await host.expect(b"\r\n> ")
        host.send(b"hello")
        await host.expect(b"\r\nSEND OK\r\n")
        await host.expect(b'\r\n+QSSLURC: "recv",0\r\n')  # echoed: the bytes have left the module
        await host.command(b"AT+QSSLSEND=0,0", b"\r\n+QSSLSEND: 5,5,0\r\n\r\nOK\r\n")
        await host.command(b"AT+QSSLSEND=7,0", b"\r\nERROR\r\n")


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"urcport": "UART1"}, "urcport"),
        ({"urcport": "uart2"}, "urcport"),
        ({"at_port": ""}, "at_port"),
        ({"active_pdp_contexts": (0,)}, "active_pdp_contexts"),
        ({"active_pdp_contexts": (8,)}, "active_pdp_contexts"),
        ({"cert_failure_code": 0}, "cert_failure_code"),
        ({"cert_failure_code": 404}, "cert_failure_code"),
        ({"esc_cancel_error_code": 1}, "esc_cancel_error_code"),
        ({"boot_delay": -1.0}, "boot_delay"),
        ({"escape_guard_time": -0.5}, "escape_guard_time"),
        ({"urc_after_ok_delay": -0.1}, "urc_after_ok_delay"),
        ({"send_input_timeout": 0.0}, "send_input_timeout"),
        ({"connect_timeout": 0.0}, "connect_timeout"),
        ({"max_command_length": 0}, "max_command_length"),
        ({"ufs_block_size": 0}, "ufs_block_size"),
        ({"ufs_capacity": 100}, "ufs_capacity"),
    ],
)
def test_bad_config_is_refused_at_construction(knobs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmulatorConfig(**knobs)  # type: ignore[arg-type]


def test_valid_port_and_context_knobs_are_accepted() -> None:
    config = EmulatorConfig(
        urcport="all", at_port="usbmodem", active_pdp_contexts=(1, 7), escape_guard_time=0
    )
    assert config.urcport == "all"


async def test_variable_length_send_holds_at_most_1460_bytes(
    ca: CertificateAuthority, echo_server: TlsTestServer
) -> None:
    async with memory_host() as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port)
        host.send(b"AT+QSSLSEND=0\r")
        await host.expect(b"\r\n> ")
        host.send(b"a" * 1460 + b"\x1a")
        await host.expect(b"\r\nSEND OK\r\n")
        await host.expect(b'\r\n+QSSLURC: "recv",0\r\n')
        host.send(b"AT+QSSLSEND=0\r")
        await host.expect(b"\r\n> ")
        host.send(b"b" * 1461)
        await host.expect(b"\r\nERROR\r\n")
        host.send(b"\r")  # the 1461st byte was left as the start of a command line: end it
        await host.command(b"AT+QIGETERROR", b"\r\n+QIGETERROR: 552,Invalid parameter\r\n\r\nOK\r\n")
        # Nothing of the refused send reached the peer.
        await host.command(b"AT+QSSLRECV=0,0", b"\r\n+QSSLRECV: 1460,0,1460\r\n\r\nOK\r\n")


@pytest.mark.parametrize("first", [True, False])
async def test_order_of_pdpdeact_and_closed(
    ca: CertificateAuthority, echo_server: TlsTestServer, first: bool
) -> None:
    async with memory_host(EmulatorConfig(emit_rdy_on_start=False, pdpdeact_first=first)) as host:
        await echo_off(host)
        await configure_verified(host, ca.cert_pem)
        await open_socket(host, echo_server.port, client_id=2)
        await open_socket(host, echo_server.port, client_id=5)
        host.emu.deactivate_pdp(1)
        deact = b'\r\n+QIURC: "pdpdeact",1\r\n'
        closed = b'\r\n+QSSLURC: "closed",2\r\n\r\n+QSSLURC: "closed",5\r\n'
        await host.expect(deact + closed if first else closed + deact)
