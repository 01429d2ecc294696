"""Fixtures for the integration tests: emulator on a pty, a modem, a throwaway CA."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from quectel_aio import Modem, SSLConfig
from quectel_aio.testing import (
    CertificateAuthority,
    EmulatorConfig,
    IssuedCert,
    ModemEmulator,
    make_ca,
    server_ssl_context,
)

from .peer import PeerServer, StallingServer
from .web import WebServer

#: Host names the emulator maps to 127.0.0.1; the server certificate covers them.
PEER_HOST = "peer.test"
WEB_HOST = "web.test"
#: Mapped to loopback too, but absent from the server certificate.
UNCERTIFIED_HOST = "uncertified.test"


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


def make_emulator() -> ModemEmulator:
    """An emulated EC200U that maps the test host names to loopback."""
    return ModemEmulator(
        EmulatorConfig(
            host_map={PEER_HOST: "127.0.0.1", WEB_HOST: "127.0.0.1", UNCERTIFIED_HOST: "127.0.0.1"}
        )
    )


@contextlib.asynccontextmanager
async def open_emulated_modem(emulator: ModemEmulator | None = None) -> AsyncIterator[Modem]:
    """Serve ``emulator`` (or a new one) on a pty and open it with PDP context 1 active."""
    emu = emulator or make_emulator()
    try:
        async with emu.serve_pty() as device, Modem.open(device, margin=3.0) as opened:
            await opened.activate_pdp(1, apn="internet")
            yield opened
    finally:
        if emulator is None:
            await emu.aclose()


@pytest.fixture
async def emulator() -> AsyncIterator[ModemEmulator]:
    emu = make_emulator()
    try:
        yield emu
    finally:
        await emu.aclose()


@pytest.fixture
async def modem(emulator: ModemEmulator) -> AsyncIterator[Modem]:
    async with open_emulated_modem(emulator) as opened:
        yield opened


@pytest.fixture
async def peer(server_cert: IssuedCert) -> AsyncIterator[PeerServer]:
    ctx = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    async with await PeerServer().start(ctx) as server:
        yield server


@pytest.fixture
async def stalling_server(server_cert: IssuedCert) -> AsyncIterator[StallingServer]:
    ctx = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    async with await StallingServer().start(ctx) as server:
        yield server


@pytest.fixture
async def web_server(server_cert: IssuedCert) -> AsyncIterator[WebServer]:
    async with WebServer(server_ssl_context(server_cert.chain_pem, server_cert.key_pem)) as server:
        yield server


def opened_client_ids(emulator: ModemEmulator) -> list[int]:
    """Client IDs of every AT+QSSLOPEN the emulator received, in order."""
    return [int(entry.params[2]) for entry in emulator.command_log if entry.name == "+QSSLOPEN"]


async def wait_for_module_close(emulator: ModemEmulator, closes: int = 1, timeout: float = 10) -> None:
    """Wait until the emulator has received ``closes`` AT+QSSLCLOSE commands in all."""
    async with asyncio.timeout(timeout):
        while sum(entry.name == "+QSSLCLOSE" for entry in emulator.command_log) < closes:  # noqa: ASYNC110 (no event for this)
            await asyncio.sleep(0.005)
