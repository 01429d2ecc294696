"""Fixtures for the integration tests: emulator on a pty, a modem, a throwaway CA."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from quectel_aio import Modem, SSLConfig
from quectel_aio.testing import CertificateAuthority, EmulatorConfig, IssuedCert, ModemEmulator, make_ca

#: Host names the emulator maps to 127.0.0.1; the server certificate covers them.
PEER_HOST = "peer.test"
WEB_HOST = "web.test"


@pytest.fixture(autouse=True)
def leak_checks(no_leaked_fds: None, no_leaked_tasks: None) -> None:
    """Every test here must leave no file descriptor and no task behind."""


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return make_ca("contrib test CA", key_type="rsa")


@pytest.fixture(scope="session")
def server_cert(ca: CertificateAuthority) -> IssuedCert:
    return ca.issue_server_cert([PEER_HOST, WEB_HOST, "localhost"], key_type="rsa")


@pytest.fixture
def ssl_config(ca: CertificateAuthority) -> SSLConfig:
    return SSLConfig(cafile=ca.cert_pem)


@contextlib.asynccontextmanager
async def open_emulated_modem() -> AsyncIterator[Modem]:
    """An emulated EC200U on a pty (test host names mapped to loopback), opened with PDP 1 active."""
    emulator = ModemEmulator(EmulatorConfig(host_map={PEER_HOST: "127.0.0.1", WEB_HOST: "127.0.0.1"}))
    try:
        async with emulator.serve_pty() as device, Modem.open(device, margin=3.0) as opened:
            await opened.activate_pdp(1, apn="internet")
            yield opened
    finally:
        await emulator.aclose()


@pytest.fixture
async def modem() -> AsyncIterator[Modem]:
    async with open_emulated_modem() as opened:
        yield opened
