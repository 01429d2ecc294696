"""Fixtures for driver tests: the emulator on a real pty, a TLS echo server, leak checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from quectel_aio import Modem, SSLConfig
from quectel_aio.testing import (
    CertificateAuthority,
    EmulatorConfig,
    IssuedCert,
    ModemEmulator,
    TlsTestServer,
    make_ca,
    start_tls_echo_server,
)

ECHO_HOST = "echo.test"


@pytest.fixture(autouse=True)
def leak_checks(no_leaked_fds: None, no_leaked_tasks: None) -> None:
    """Every test here must leave no file descriptor and no task behind."""


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return make_ca("driver test CA", key_type="rsa")


@pytest.fixture(scope="session")
def untrusted_ca() -> CertificateAuthority:
    return make_ca("an untrusted CA", key_type="rsa")


@pytest.fixture(scope="session")
def server_cert(ca: CertificateAuthority) -> IssuedCert:
    return ca.issue_server_cert([ECHO_HOST, "localhost"], key_type="rsa")


@pytest.fixture
def ssl_config(ca: CertificateAuthority) -> SSLConfig:
    return SSLConfig(cafile=ca.cert_pem)


@pytest.fixture
async def echo_server(server_cert: IssuedCert) -> AsyncIterator[TlsTestServer]:
    async with await start_tls_echo_server(server_cert.chain_pem, server_cert.key_pem) as server:
        yield server


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"})


@pytest.fixture
async def emulator(emulator_config: EmulatorConfig) -> AsyncIterator[ModemEmulator]:
    emu = ModemEmulator(emulator_config)
    try:
        yield emu
    finally:
        await emu.aclose()


@pytest.fixture
async def device(emulator: ModemEmulator) -> AsyncIterator[str]:
    async with emulator.serve_pty() as path:
        yield path


@pytest.fixture
async def modem(device: str) -> AsyncIterator[Modem]:
    async with Modem.open(device, margin=3.0) as opened:
        await opened.activate_pdp(1, apn="internet")
        yield opened
