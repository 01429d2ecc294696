"""SSLConfig: every QSSLCFG item typed and range-checked, warnings, refusals, read-back."""

from __future__ import annotations

import ssl
import warnings
from typing import Any

import pytest

from quectel_aio import (
    CipherSuite,
    DtlsVersion,
    IgnoreCertItem,
    LocalProtocolError,
    Modem,
    SecLevel,
    SecurityConfigError,
    SecurityWarning,
    SocketBroken,
    SSLConfig,
    SslVersion,
)
from quectel_aio._commands import SSL_CONFIG_ITEMS
from quectel_aio._grammar import ParsedCommand
from quectel_aio.testing import CertificateAuthority, ModemEmulator, TlsTestServer
from quectel_aio.testing._registry import HANDLERS

from .conftest import ECHO_HOST
from .helpers import count

CA = b"-----BEGIN CERTIFICATE-----\nnot parsed on the host\n-----END CERTIFICATE-----\n"


def _quiet(**kwargs: Any) -> SSLConfig:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return SSLConfig(cafile=CA, **kwargs)


def test_the_default_profile_writes_every_item() -> None:
    settings = _quiet().settings(host_is_name=True)
    assert settings == {
        "sslversion": 3,
        "dtls": 0,
        "dtlsversion": 1,
        "ciphersuite": 0xC02F,
        "seclevel": 1,
        "cacert": settings["cacert"],
        "sni": 1,
        "ignorelocaltime": 0,
        "negotiatetime": 60,
        "ignoreinvalidcertsign": 0,
        "ignorecertitem": 0,
        "ignoremulticertchainverify": 0,
        "session_cache": 0,
    }
    assert str(settings["cacert"]).startswith("UFS:ca_")
    assert _quiet().settings(host_is_name=False)["sni"] == 0  # no SNI for an IP address


def test_with_a_client_certificate_all_fifteen_items_are_written() -> None:
    config = _quiet(certfile=b"cert", keyfile=b"key")
    settings = config.settings(host_is_name=True)
    assert set(settings) == set(SSL_CONFIG_ITEMS)
    assert config.security_level is SecLevel.MUTUAL
    assert settings["seclevel"] == 2


@pytest.mark.parametrize(
    ("kwargs", "item", "value"),
    [
        ({"ssl_version": SslVersion.TLS1_1}, "sslversion", 2),
        ({"ciphersuite": CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384}, "ciphersuite", 0xC030),
        ({"ciphersuite": 0xC023}, "ciphersuite", 0xC023),
        ({"check_time": False}, "ignorelocaltime", 1),
        ({"negotiate_time": 10}, "negotiatetime", 10),
        ({"ignore_invalid_cert_sign": True}, "ignoreinvalidcertsign", 1),
        ({"ignore_cert_items": IgnoreCertItem.EXPIRED | IgnoreCertItem.COMMON_NAME}, "ignorecertitem", 5),
        ({"ignore_cert_items": IgnoreCertItem.ALL}, "ignorecertitem", 1048575),
        ({"ignore_multi_cert_chain_verify": True}, "ignoremulticertchainverify", 1),
        ({"session_cache": True}, "session_cache", 1),
        ({"dtls_version": DtlsVersion.DTLS1_0}, "dtlsversion", 0),
        ({"sni": False}, "sni", 0),
    ],
)
def test_each_argument_sets_exactly_its_item(kwargs: dict[str, Any], item: str, value: int) -> None:
    default = _quiet().settings(host_is_name=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SecurityWarning)
        changed = SSLConfig(cafile=CA, **kwargs).settings(host_is_name=True)
    assert changed[item] == value
    assert {k: v for k, v in changed.items() if k != item} == {k: v for k, v in default.items() if k != item}


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"seclevel": SecLevel.NONE}, "seclevel=0"),
        ({"ssl_version": SslVersion.ALL}, "ssl_version=ALL"),
        ({"ciphersuite": CipherSuite.ALL}, "0xFFFF"),
        ({"ciphersuite": CipherSuite.TLS_RSA_WITH_RC4_128_MD5}, "TLS_RSA_WITH_RC4_128_MD5"),
        ({"check_time": False}, "check_time=False"),
        ({"sni": False}, "sni=False"),
        ({"ignore_invalid_cert_sign": True}, "ignore_invalid_cert_sign"),
        ({"ignore_multi_cert_chain_verify": True}, "ignore_multi_cert_chain_verify"),
        ({"ignore_cert_items": IgnoreCertItem.NOT_TRUSTED}, "NOT_TRUSTED"),
        ({"ignore_cert_items": IgnoreCertItem.ALL}, "ALL"),
        ({"ignore_cert_items": 2}, "0x2"),
    ],
)
def test_each_weakening_warns_exactly_once(kwargs: dict[str, Any], needle: str) -> None:
    with pytest.warns(SecurityWarning) as record:
        SSLConfig(cafile=CA, **kwargs)
    assert len(record) == 1, [str(r.message) for r in record]
    assert needle in str(record[0].message)


def test_weakenings_add_up_one_warning_each() -> None:
    with pytest.warns(SecurityWarning) as record:
        SSLConfig(
            cafile=CA,
            check_time=False,
            ignore_cert_items=IgnoreCertItem.EXPIRED | IgnoreCertItem.COMMON_NAME | IgnoreCertItem.KEY_USAGE,
        )
    assert len(record) == 4


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"seclevel": 3}, "seclevel"),
        ({"seclevel": True}, "seclevel"),
        ({"ssl_version": 5}, "ssl_version"),
        ({"ciphersuite": 0x1234}, "ciphersuite"),
        ({"ciphersuite": "0xC02F"}, "ciphersuite"),
        ({"negotiate_time": 9}, "negotiate_time"),
        ({"negotiate_time": 301}, "negotiate_time"),
        ({"negotiate_time": 60.0}, "negotiate_time"),
        ({"ignore_cert_items": 1048576}, "ignore_cert_items"),
        ({"ignore_cert_items": -1}, "ignore_cert_items"),
        ({"dtls_version": 2}, "dtls_version"),
        ({"sni": 1}, "sni"),
        ({"session_cache": "yes"}, "session_cache"),
        ({"dtls": True}, "DTLS"),
        ({"seclevel": SecLevel.MUTUAL}, "certfile"),
        ({"certfile": b"cert"}, "go together"),
        ({"certfile": b"c", "keyfile": b"k", "seclevel": 1}, "MUTUAL"),
        ({"ca_module_path": "UFS:ca.pem"}, "either cafile or ca_module_path"),
        (
            {
                "key_module_path": "UFS:k.pem",
                "cert_module_path": "UFS:c.pem",
                "delete_key_after_handshake": True,
            },
            "keyfile",
        ),
        ({"verify_callback": lambda *_: True}, "verify_callback"),
        ({"pinned_sha256": "ab" * 32}, "pinning"),
        ({"alpn_protocols": ["h2"]}, "ALPN"),
        ({"cafile": 42}, "cafile"),
    ],
)
def test_invalid_or_unsupported_values_raise_before_anything_is_sent(
    kwargs: dict[str, Any], needle: str
) -> None:
    config = {"cafile": CA, **kwargs}
    with pytest.raises(SecurityConfigError) as info:
        SSLConfig(**config)
    assert needle in str(info.value)


@pytest.mark.parametrize("path", ['UFS:ca.pem",1;+QFDEL="*', "UFS:ca.pem\n", "ca.pem\n"])
def test_module_paths_are_validated(path: str) -> None:
    with pytest.raises(LocalProtocolError):
        SSLConfig(ca_module_path=path)


@pytest.mark.parametrize("name", ["cafile", "certfile", "keyfile"])
def test_pem_text_given_as_a_path_is_refused_without_being_echoed(name: str) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n"
    config: dict[str, Any] = {"cafile": CA, "certfile": b"cert", "keyfile": b"key", name: pem}
    with pytest.raises(SecurityConfigError) as info:
        SSLConfig(**config)
    assert name in str(info.value)
    assert "c2VjcmV0" not in str(info.value)
    assert "c2VjcmV0" not in repr(info.value)


def test_values_are_normalised_to_their_enums() -> None:
    config = _quiet(ciphersuite=0xC030, ignore_cert_items=0, dtls_version=1)
    assert config.cipher_suite is CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    assert config.ignore_cert_items_flags is IgnoreCertItem.NONE
    assert config.dtls_version is DtlsVersion.DTLS1_2
    assert config.tls_version is SslVersion.TLS1_2


def test_repr_never_shows_key_bytes() -> None:
    key = b"-----BEGIN PRIVATE KEY-----\nsecret-key-material\n-----END PRIVATE KEY-----\n"
    config = _quiet(certfile=b"cert", keyfile=key)
    text = repr(config)
    assert "secret-key-material" not in text
    assert f"keyfile=<{len(key)} bytes>" in text
    assert "seclevel=SecLevel.MUTUAL" in text


async def test_an_ssl_context_is_refused_before_anything_is_sent(
    modem: Modem, emulator: ModemEmulator
) -> None:
    before = emulator.bytes_received
    with pytest.raises(LocalProtocolError):
        await modem.open_connection(ECHO_HOST, 443, ssl=ssl.create_default_context())  # type: ignore[arg-type]
    assert emulator.bytes_received == before


#: A wrong value the module could report back for each item.
WRONG_READ_BACK = {
    "sslversion": "4",
    "dtls": "1",
    "dtlsversion": "0",
    "ciphersuite": "0XFFFF",
    "seclevel": "0",
    "cacert": '"UFS:other.pem"',
    "sni": "0",
    "ignorelocaltime": "1",
    "negotiatetime": "300",
    "ignoreinvalidcertsign": "1",
    "ignorecertitem": "1048575",
    "ignoremulticertchainverify": "1",
    "session_cache": "1",
}


@pytest.mark.parametrize("item", list(WRONG_READ_BACK))
async def test_a_read_back_that_differs_stops_the_open(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ca: CertificateAuthority,
    monkeypatch: pytest.MonkeyPatch,
    item: str,
) -> None:
    original = HANDLERS["+QSSLCFG"]

    async def lying(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        if len(command.params) == 2 and command.params[0] == item:
            ctx = command.params[1]
            return f'\r\n+QSSLCFG: "{item}",{ctx},{WRONG_READ_BACK[item]}\r\n\r\nOK\r\n'.encode()
        return await original(emu, command)

    monkeypatch.setitem(HANDLERS, "+QSSLCFG", lying)
    with pytest.raises(SocketBroken) as info:
        await modem.open_connection(ECHO_HOST, echo_server.port, ssl=SSLConfig(cafile=ca.cert_pem))
    assert item in str(info.value)
    assert count(emulator, "+QSSLOPEN") == 0


@pytest.mark.parametrize("answer", ["another context", "another item"])
async def test_a_read_back_line_for_another_context_or_item_stops_the_open(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ca: CertificateAuthority,
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
) -> None:
    """The value must come from the line about the item and context that were asked for.

    Here the module's reply names a context (or item) holding seclevel 1 while
    the context asked about was left at seclevel 0.
    """
    original = HANDLERS["+QSSLCFG"]

    async def confused(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        if command.params[:1] == ("seclevel",):
            ctx = command.params[1]
            if len(command.params) == 3:
                return b"\r\nOK\r\n"  # the write is acknowledged and ignored
            line = f'"seclevel",{int(ctx) + 1},1' if answer == "another context" else f'"sslversion",{ctx},1'
            return f"\r\n+QSSLCFG: {line}\r\n\r\nOK\r\n".encode()
        return await original(emu, command)

    monkeypatch.setitem(HANDLERS, "+QSSLCFG", confused)
    with pytest.raises(SocketBroken) as info:
        await modem.open_connection(ECHO_HOST, echo_server.port, ssl=SSLConfig(cafile=ca.cert_pem))
    assert "seclevel" in str(info.value)
    assert count(emulator, "+QSSLOPEN") == 0


async def test_turning_clock_sync_off_is_a_warned_opt_out(device: str) -> None:
    with pytest.warns(SecurityWarning, match="sync_clock=False"):
        async with Modem.open(device, sync_clock=False) as modem:
            assert modem.boot_epoch == 0
