"""Certificate dates are checked against the module clock, so the clock must really be set.

The driver sets the module clock from the host (``AT+CCLK``) before the first
verified open of each boot, then reads it back: a module that answers ``OK``
but keeps its own time (a stale real-time clock) would otherwise accept a
certificate that expired in between.
"""

from __future__ import annotations

import datetime as dt

import pytest

from quectel_aio import CommandError, Modem, SocketOpenError, SSLConfig
from quectel_aio._grammar import CommandKind, ParsedCommand
from quectel_aio.testing import CertificateAuthority, EmulatorConfig, ModemEmulator, start_tls_echo_server
from quectel_aio.testing._registry import HANDLERS

from .conftest import ECHO_HOST
from .helpers import count

#: How far behind the module clock starts.
STALE = dt.timedelta(hours=12)


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, initial_clock=dt.datetime.now(dt.UTC) - STALE)


def _expired_six_hours_ago(ca: CertificateAuthority) -> tuple[bytes, bytes]:
    now = dt.datetime.now(dt.UTC)
    cert = ca.issue_server_cert(
        [ECHO_HOST],
        key_type="rsa",
        not_before=now - dt.timedelta(days=3),
        not_after=now - dt.timedelta(hours=6),
    )
    return cert.chain_pem, cert.key_pem


async def test_a_clock_set_from_the_host_refuses_a_recently_expired_certificate(
    modem: Modem, ca: CertificateAuthority
) -> None:
    chain, key = _expired_six_hours_ago(ca)
    async with await start_tls_echo_server(chain, key) as server:
        with pytest.raises(SocketOpenError):
            await modem.open_connection(ECHO_HOST, server.port, ssl=SSLConfig(cafile=ca.cert_pem))


async def test_a_clock_write_the_module_ignores_stops_the_open(
    modem: Modem, emulator: ModemEmulator, ca: CertificateAuthority, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = HANDLERS["+CCLK"]

    async def stale(emu: ModemEmulator, command: ParsedCommand) -> bytes:
        if command.kind is CommandKind.WRITE:
            return b"\r\nOK\r\n"  # acknowledged, and the clock keeps its own time
        return await original(emu, command)

    monkeypatch.setitem(HANDLERS, "+CCLK", stale)
    chain, key = _expired_six_hours_ago(ca)
    async with await start_tls_echo_server(chain, key) as server:
        with pytest.raises(CommandError) as info:
            await modem.open_connection(ECHO_HOST, server.port, ssl=SSLConfig(cafile=ca.cert_pem))
    assert "clock" in str(info.value)
    assert count(emulator, "+QSSLOPEN") == 0


async def test_a_raw_clock_write_is_not_trusted_by_the_next_open(
    modem: Modem, emulator: ModemEmulator, ca: CertificateAuthority
) -> None:
    """The context is reused, but the clock a raw line moved back is set from the host again."""
    config = SSLConfig(cafile=ca.cert_pem)
    fresh = ca.issue_server_cert([ECHO_HOST], key_type="rsa")
    async with await start_tls_echo_server(fresh.chain_pem, fresh.key_pem) as server:
        _, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=config)
        writer.close()
        await writer.wait_closed()
    # Twelve hours back: the certificate that expired six hours ago looks valid again.
    past = dt.datetime.now(dt.UTC) - STALE
    await modem.command(f'AT+CCLK="{past:%y/%m/%d,%H:%M:%S}+00"')
    chain, key = _expired_six_hours_ago(ca)
    async with await start_tls_echo_server(chain, key) as server:
        with pytest.raises(SocketOpenError):
            await modem.open_connection(ECHO_HOST, server.port, ssl=config)
    assert count(emulator, "+CCLK") == 5  # set and read back twice by the modem, once raw
