"""Arguments that could inject AT syntax are refused before a single byte is written."""

from __future__ import annotations

import asyncio
import os
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from quectel_aio import (
    CommandError,
    LocalProtocolError,
    Modem,
    SecurityConfigError,
    SecurityWarning,
    SSLConfig,
)
from quectel_aio.testing import (
    CertificateAuthority,
    ModemEmulator,
    TlsTestServer,
    start_tls_echo_server,
)

from .conftest import ECHO_HOST
from .helpers import count

INJECTIONS = [
    'echo.test",443,0\rAT+QFDEL="*"',
    "echo,test",
    "echo;test",
    "echo\rtest",
    "echo\ntest",
    "echo\x1atest",
    "echo\x1btest",
    "echo\x00test",
    "\u2028echo.test",
    "echo test",
    "",
    "a" * 64 + ".test",
    "a." * 130 + "test",
    "echo.test\n",
    "echo.test\r",
    "127.0.0.1\n",
    "fe80::1%eth0",
    'fe80::1%a",443,0\rAT+QFDEL="*"',
]


async def _refused(emulator: ModemEmulator, call: Callable[[], Awaitable[Any]]) -> LocalProtocolError:
    """Run ``call``, expect LocalProtocolError (a ValueError) and prove nothing reached the module."""
    before, log = emulator.bytes_received, len(emulator.command_log)
    with pytest.raises(LocalProtocolError) as info:
        await call()
    assert isinstance(info.value, ValueError)
    await asyncio.sleep(0.02)  # a bounded wait, only to prove that nothing arrives late
    assert emulator.bytes_received == before
    assert len(emulator.command_log) == log
    return info.value


@pytest.mark.parametrize("host", INJECTIONS)
async def test_injection_in_host_names_is_refused(
    modem: Modem, emulator: ModemEmulator, ssl_config: SSLConfig, host: str
) -> None:
    await _refused(emulator, lambda: modem.open_connection(host, 443, ssl=ssl_config))


@pytest.mark.parametrize("field", ["apn", "username", "password"])
@pytest.mark.parametrize(
    "value", ['x",3,"y', "x,y", "x;y", "x\ry", "x\ny", "x\x1ay", "x\x1by", "x\x00y", "\u00e4pn", "x" * 128]
)
async def test_injection_in_pdp_settings_is_refused(
    modem: Modem, emulator: ModemEmulator, field: str, value: str
) -> None:
    kwargs: dict[str, Any] = {"apn": "internet", "username": "user", "password": "secret", field: value}
    await _refused(emulator, lambda: modem.activate_pdp(2, **kwargs))


@pytest.mark.parametrize(
    "name",
    [
        'ca".pem',
        "ca,pem",
        "ca;pem",
        "ca\r.pem",
        "ca\n.pem",
        "ca\x1a",
        "ca\x00",
        "../ca.pem",
        "c\u00e4.pem",
        "c" * 81,
        "",
        "ca.pem\n",
        "UFS:ca.pem\n",
    ],
)
async def test_injection_in_file_names_is_refused(modem: Modem, emulator: ModemEmulator, name: str) -> None:
    await _refused(emulator, lambda: modem.upload_file(name, b"data"))
    await _refused(emulator, lambda: modem.delete_file(name))
    await _refused(emulator, lambda: modem.list_files(name))


@pytest.mark.parametrize(
    "line",
    [
        'ATI\rAT+QFDEL="*"',
        "ATI\n",
        "AT+QFDEL\n",
        'AT;+QFUPL="UFS:x.bin",10',
        "ATE0O",
        'AT+QFDWL="UFS:key.pem"',
        "AT\x1a",
        "AT\x1b",
        "AT\x00",
        'AT+CGDCONT=1,"\u00e4"',
        "I",
        "",
        "+QFDEL",
    ],
)
async def test_injection_in_raw_commands_is_refused(modem: Modem, emulator: ModemEmulator, line: str) -> None:
    await _refused(emulator, lambda: modem.command(line))


@pytest.mark.parametrize(
    ("arguments", "names"),
    [
        ({"client_id": -1}, "client_id"),
        ({"client_id": 12}, "client_id"),
        ({"client_id": True}, "client_id"),
        ({"client_id": "1"}, "client_id"),
        ({"ssl_context_id": 6}, "ssl_context_id"),
        ({"ssl_context_id": -1}, "ssl_context_id"),
        ({"ssl_context_id": True}, "ssl_context_id"),
        ({"ssl_context_id": "1"}, "ssl_context_id"),
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"port": "443"}, "port"),
        ({"port": True}, "port"),
        ({"mode": "raw"}, "mode"),
        ({"mode": "BUFFER"}, "mode"),
        ({"pdp_context_id": 0}, "pdp_context_id"),
        ({"pdp_context_id": 16}, "pdp_context_id"),
    ],
)
async def test_bad_socket_arguments_are_refused(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    arguments: dict[str, Any],
    names: str,
) -> None:
    call: dict[str, Any] = {"host": ECHO_HOST, "port": echo_server.port, "ssl": ssl_config}
    call.update(arguments)
    error = await _refused(emulator, lambda: modem.open_connection(**call))
    assert names in str(error)
    # Nothing stayed reserved: the first client ID and SSL context are used next.
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert writer.get_extra_info("client_id") == 0
    assert writer.get_extra_info("quectel_ssl_ctx") == 0
    writer.write(b"ok")
    assert await reader.readexactly(2) == b"ok"
    writer.close()
    await writer.wait_closed()


async def test_ssl_must_be_an_sslconfig(modem: Modem, emulator: ModemEmulator) -> None:
    await _refused(emulator, lambda: modem.open_connection(ECHO_HOST, 443, ssl=True))  # type: ignore[arg-type]


async def test_an_unknown_urc_port_is_refused_naming_the_valid_ones(device: str) -> None:
    with pytest.raises(LocalProtocolError, match="uart1, usbat, usbmodem or all"):
        async with Modem.open(device, urc_port="uart"):
            pass


async def test_the_urc_port_is_set_at_start(device: str, emulator: ModemEmulator) -> None:
    async with Modem.open(device, urc_port="uart1"):
        pass
    assert ("+QURCCFG", ("urcport", "uart1")) in [(c.name, c.params) for c in emulator.command_log]


async def test_a_host_ssl_context_is_refused_with_the_way_out(modem: Modem) -> None:
    with pytest.raises(LocalProtocolError, match=r"not SSLContext: .*SSLConfig\(cafile="):
        await modem.open_connection(ECHO_HOST, 443, ssl=ssl.create_default_context())  # type: ignore[arg-type]


# -- SSLConfig -----------------------------------------------------------------------------------


def test_sslconfig_without_a_ca_names_both_ways_out() -> None:
    with pytest.raises(SecurityConfigError) as info:
        SSLConfig()
    assert isinstance(info.value, ValueError)
    assert "cafile" in str(info.value)
    assert "seclevel=0" in str(info.value)


def test_sslconfig_with_an_unreadable_cafile_says_which(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(SecurityConfigError) as info:
        SSLConfig(cafile=missing)
    assert str(missing) in str(info.value)
    assert "cafile" in str(info.value)
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    with pytest.raises(SecurityConfigError, match="empty"):
        SSLConfig(cafile=empty)


def test_secure_sslconfig_warns_nothing(ca: CertificateAuthority) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SSLConfig(cafile=ca.cert_pem)


@pytest.fixture
async def stranger_server(untrusted_ca: CertificateAuthority) -> AsyncIterator[TlsTestServer]:
    cert = untrusted_ca.issue_server_cert([ECHO_HOST], key_type="rsa")
    async with await start_tls_echo_server(cert.chain_pem, cert.key_pem) as server:
        yield server


async def test_seclevel_zero_warns_once_and_accepts_an_unknown_ca(
    modem: Modem, emulator: ModemEmulator, stranger_server: TlsTestServer
) -> None:
    with pytest.warns(SecurityWarning) as record:
        unverified = SSLConfig(seclevel=0)
    assert len(record) == 1
    assert "seclevel=0" in str(record[0].message)
    reader, writer = await modem.open_connection(ECHO_HOST, stranger_server.port, ssl=unverified)
    data = os.urandom(2000)
    writer.write(data)
    assert await reader.readexactly(len(data)) == data
    assert emulator.opened_with[-1][1].seclevel == 0
    writer.close()
    await writer.wait_closed()


# -- UFS -----------------------------------------------------------------------------------------


async def test_upload_list_delete_round_trip(modem: Modem, emulator: ModemEmulator) -> None:
    data = os.urandom(5001)  # odd size: the XOR checksum pads the last word
    uploaded = await modem.upload_file("UFS:round-trip.bin", data)
    assert uploaded.size == len(data)
    assert emulator.files["round-trip.bin"] == data
    listed = {f.name.split(":", 1)[-1]: f.size for f in await modem.list_files()}
    assert listed["round-trip.bin"] == len(data)
    with pytest.raises(CommandError):
        await modem.upload_file("round-trip.bin", b"other")  # exists; no silent overwrite
    assert emulator.files["round-trip.bin"] == data
    replaced = await modem.upload_file("round-trip.bin", b"other", overwrite=True)
    assert replaced.size == 5
    assert emulator.files["round-trip.bin"] == b"other"
    await modem.delete_file("UFS:round-trip.bin")
    assert "round-trip.bin" not in emulator.files
    assert all(not f.name.endswith("round-trip.bin") for f in await modem.list_files())
    assert await modem.list_files("round-trip.bin") == []


async def test_upload_corrupted_in_transit_is_deleted_and_raises(
    modem: Modem, emulator: ModemEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = b"--corrupt-me--"
    data = marker + os.urandom(3000)
    feed = emulator.feed

    def flip_one_byte(chunk: bytes) -> None:
        at = chunk.find(marker)
        if at >= 0:
            position = at + len(marker) + 7
            if position < len(chunk):
                chunk = chunk[:position] + bytes([chunk[position] ^ 0x40]) + chunk[position + 1 :]
        feed(chunk)

    monkeypatch.setattr(emulator, "feed", flip_one_byte)
    with pytest.raises(CommandError) as info:
        await modem.upload_file("corrupt.bin", data)
    assert "corrupted" in str(info.value)
    assert "corrupt.bin" not in emulator.files
    assert count(emulator, "+QFDEL") == 1


@pytest.mark.parametrize("host", ["a\u200bb.example", "\uff45xample.com", "exa\u00admple.com"])
def test_hostnames_that_idna_would_silently_rewrite_are_refused(host: str) -> None:
    from quectel_aio._grammar import validate_hostname

    with pytest.raises(LocalProtocolError, match="IDNA"):
        validate_hostname(host)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("b\u00fccher.example", "xn--bcher-kva.example"), ("Example.COM", "Example.COM"), ("::1", "::1")],
)
def test_valid_hostnames_keep_their_meaning(host: str, expected: str) -> None:
    from quectel_aio._grammar import validate_hostname

    assert validate_hostname(host) == expected
