"""Proof matrix: the default profile against real TLS servers on loopback.

Every row starts a real TLS server (Python's ``ssl``) with throwaway CAs and
opens a socket through the emulated module with ``SSLConfig(cafile=ca)`` and
nothing else. The default profile must **fail** against each bad server, with
a typed :class:`SocketOpenError` carrying the module's error code and text,
and each failure row then proves that the server itself works: the one
explicit, warned weakening that disables exactly that check lets the same
server through. Without that control a broken test server would make the row
pass for the wrong reason.

Notes on what this machine's OpenSSL can serve:

* TLS 1.0 / 1.1 only servers need OpenSSL security level 0 (``@SECLEVEL=0``
  in the cipher string) and ``ssl.TLSVersion`` limits on both ends; setting
  those limits emits a ``DeprecationWarning``, silenced where the server is built.
* RC4 and 3DES are gone from OpenSSL 3's default provider, so the weak-suite
  server offers whatever of RC4, 3DES and static-RSA suites the local
  OpenSSL still implements (static RSA, no forward secrecy, on OpenSSL 3).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import warnings
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from quectel_aio import (
    CipherSuite,
    IgnoreCertItem,
    Modem,
    SecurityWarning,
    SocketOpenError,
    SSLConfig,
    SslVersion,
)
from quectel_aio.testing import (
    CertificateAuthority,
    EmulatorConfig,
    IssuedCert,
    ModemEmulator,
    TlsTestServer,
    make_ca,
    server_ssl_context,
    start_tls_echo_server,
)

from .conftest import ECHO_HOST

#: What the module says for each ``cert_failure_code`` the emulator can be switched to.
FAILURE_TEXT = {579: "SSL handshake fail", 566: "Socket connection failed"}
#: Cipher strings OpenSSL may still know for the weak suites of the module's table.
WEAK_SUITES = "RC4-SHA:RC4-MD5:DES-CBC3-SHA:AES128-SHA:AES256-SHA:AES256-SHA256:@SECLEVEL=0"


@pytest.fixture(params=[579, 566], ids=["code579", "code566"])
def emulator_config(request: pytest.FixtureRequest) -> EmulatorConfig:
    return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, cert_failure_code=request.param)


@pytest.fixture(scope="module")
def matrix_ca() -> CertificateAuthority:
    return make_ca("matrix CA", key_type="rsa")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _context(
    cert: IssuedCert,
    *,
    version: ssl.TLSVersion | None = None,
    ciphers: str | None = None,
    client_ca: bytes | None = None,
) -> ssl.SSLContext:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 limits are deprecated
        return server_ssl_context(
            cert.chain_pem,
            cert.key_pem,
            client_ca_pem=client_ca,
            minimum_version=version,
            maximum_version=version if version is not None else ssl.TLSVersion.TLSv1_2,
            ciphers=ciphers,
        )


@dataclass(frozen=True)
class BadServer:
    """A server the default profile must refuse, and the weakening that accepts it."""

    #: Builds the server context from the trusted CA.
    build: Callable[[CertificateAuthority], ssl.SSLContext]
    #: The one explicit weakening that disables the failing check.
    weakened: Callable[[CertificateAuthority], SSLConfig]
    #: Whether building ``weakened`` must warn (trusting another CA does not).
    warns: bool = True


def _cert(
    ca: CertificateAuthority, *, not_before: dt.datetime | None = None, not_after: dt.datetime | None = None
) -> IssuedCert:
    return ca.issue_server_cert([ECHO_HOST], key_type="rsa", not_before=not_before, not_after=not_after)


_STRANGER = make_ca("a CA nobody trusts", key_type="rsa")

BAD_SERVERS: dict[str, BadServer] = {
    "untrusted CA": BadServer(
        build=lambda ca: _context(_cert(_STRANGER)),
        weakened=lambda ca: SSLConfig(cafile=_STRANGER.cert_pem),
        warns=False,
    ),
    "wrong host name": BadServer(
        build=lambda ca: _context(ca.issue_server_cert(["other.test"], key_type="rsa")),
        weakened=lambda ca: SSLConfig(cafile=ca.cert_pem, ignore_cert_items=IgnoreCertItem.COMMON_NAME),
    ),
    "expired certificate": BadServer(
        build=lambda ca: _context(
            _cert(ca, not_before=_now() - dt.timedelta(days=30), not_after=_now() - dt.timedelta(days=1))
        ),
        weakened=lambda ca: SSLConfig(cafile=ca.cert_pem, check_time=False),
    ),
    "not yet valid certificate": BadServer(
        build=lambda ca: _context(
            _cert(ca, not_before=_now() + dt.timedelta(days=1), not_after=_now() + dt.timedelta(days=30))
        ),
        weakened=lambda ca: SSLConfig(cafile=ca.cert_pem, check_time=False),
    ),
    "TLS 1.0 only": BadServer(
        build=lambda ca: _context(_cert(ca), version=ssl.TLSVersion.TLSv1, ciphers="DEFAULT:@SECLEVEL=0"),
        weakened=lambda ca: SSLConfig(
            cafile=ca.cert_pem,
            ssl_version=SslVersion.TLS1_0,
            ciphersuite=CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
        ),
    ),
    "TLS 1.1 only": BadServer(
        build=lambda ca: _context(_cert(ca), version=ssl.TLSVersion.TLSv1_1, ciphers="DEFAULT:@SECLEVEL=0"),
        weakened=lambda ca: SSLConfig(
            cafile=ca.cert_pem,
            ssl_version=SslVersion.TLS1_1,
            ciphersuite=CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
        ),
    ),
    "weak suites only": BadServer(
        build=lambda ca: _context(_cert(ca), ciphers=WEAK_SUITES),
        weakened=lambda ca: SSLConfig(
            cafile=ca.cert_pem, ciphersuite=CipherSuite.TLS_RSA_WITH_AES_128_CBC_SHA
        ),
    ),
}


async def _echo(modem: Modem, port: int, config: SSLConfig) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, port, ssl=config)
    writer.write(b"proof")
    await writer.drain()
    assert await reader.readexactly(5) == b"proof"
    writer.close()
    await writer.wait_closed()


async def _assert_refused(
    modem: Modem, emulator: ModemEmulator, port: int, config: SSLConfig
) -> SocketOpenError:
    code = emulator.config.cert_failure_code
    with pytest.raises(SocketOpenError) as info:
        await modem.open_connection(ECHO_HOST, port, ssl=config)
    error = info.value
    assert error.code == code
    assert str(code) in str(error)
    assert FAILURE_TEXT[code] in str(error)
    assert await modem.ssl_state() == []  # nothing left open on the module
    return error


def _assert_default_profile(emulator: ModemEmulator) -> None:
    """The module tried the handshake with every setting of the default profile."""
    _client_id, settings = emulator.opened_with[-1]
    assert settings.seclevel == 1
    assert settings.sslversion == 3
    assert settings.ciphersuite == 0xC02F
    assert settings.sni == 1
    assert settings.ignorelocaltime == 0
    assert settings.negotiatetime == 60
    assert settings.ignoreinvalidcertsign == 0
    assert settings.ignorecertitem == 0
    assert settings.ignoremulticertchainverify == 0
    assert settings.cacert


@pytest.mark.parametrize("case", list(BAD_SERVERS))
async def test_the_default_profile_refuses(
    modem: Modem, emulator: ModemEmulator, matrix_ca: CertificateAuthority, case: str
) -> None:
    bad = BAD_SERVERS[case]
    async with await start_tls_echo_server(ssl_context=bad.build(matrix_ca)) as server:
        await _assert_refused(modem, emulator, server.port, SSLConfig(cafile=matrix_ca.cert_pem))
        _assert_default_profile(emulator)
        # Control: the server works, and only the explicit weakening lets it through.
        if bad.warns:
            with pytest.warns(SecurityWarning):
                weakened = bad.weakened(matrix_ca)
        else:
            weakened = bad.weakened(matrix_ca)
        await _echo(modem, server.port, weakened)


async def test_the_default_profile_accepts_a_correct_server(
    modem: Modem, emulator: ModemEmulator, matrix_ca: CertificateAuthority
) -> None:
    async with await start_tls_echo_server(ssl_context=_context(_cert(matrix_ca))) as server:
        await _echo(modem, server.port, SSLConfig(cafile=matrix_ca.cert_pem))
        assert server.tls_versions == ["TLSv1.2"]
        assert server.server_names == [ECHO_HOST]  # SNI carried the host name
    _assert_default_profile(emulator)


@pytest.fixture
async def client_auth_server(matrix_ca: CertificateAuthority) -> AsyncIterator[TlsTestServer]:
    context = _context(_cert(matrix_ca), client_ca=matrix_ca.cert_pem)
    async with await start_tls_echo_server(ssl_context=context) as server:
        yield server


async def test_a_server_requiring_a_client_certificate_accepts_the_configured_one(
    modem: Modem, emulator: ModemEmulator, matrix_ca: CertificateAuthority, client_auth_server: TlsTestServer
) -> None:
    client = matrix_ca.issue_client_cert("matrix-device", key_type="rsa")
    config = SSLConfig(cafile=matrix_ca.cert_pem, certfile=client.cert_pem, keyfile=client.key_pem)
    server = client_auth_server
    await _echo(modem, server.port, config)
    assert server.peer_certs == [client.cert.public_bytes(Encoding.DER)]
    assert emulator.opened_with[-1][1].seclevel == 2


async def test_a_server_requiring_a_client_certificate_rejects_its_absence(
    modem: Modem, emulator: ModemEmulator, matrix_ca: CertificateAuthority, client_auth_server: TlsTestServer
) -> None:
    server = client_auth_server
    await _assert_refused(modem, emulator, server.port, SSLConfig(cafile=matrix_ca.cert_pem))
    assert server.accepted == 0


async def test_a_stalled_handshake_ends_with_the_negotiate_timeout(matrix_ca: CertificateAuthority) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    plain = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = plain.sockets[0].getsockname()[1]
    # time_scale shrinks the module's 10 s minimum negotiate time to 0.2 s.
    emulator = ModemEmulator(EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, time_scale=0.02))
    try:
        async with emulator.serve_pty() as device, Modem.open(device) as modem:
            await modem.activate_pdp(1, apn="internet")
            with pytest.raises(SocketOpenError) as info:
                await modem.open_connection(
                    ECHO_HOST, port, ssl=SSLConfig(cafile=matrix_ca.cert_pem, negotiate_time=10)
                )
            assert info.value.code == 569
            assert emulator.opened_with[-1][1].negotiatetime == 10
            assert await modem.ssl_state() == []
    finally:
        await emulator.aclose()
        plain.close()
        await plain.wait_closed()
