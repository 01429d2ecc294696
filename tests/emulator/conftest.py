"""Fixtures for the emulator tests: a throwaway PKI and TLS echo servers."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest

from quectel_aio.testing import (
    CertificateAuthority,
    IssuedCert,
    TlsTestServer,
    make_ca,
    start_tls_echo_server,
)


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return make_ca()


@pytest.fixture(scope="session")
def other_ca() -> CertificateAuthority:
    return make_ca("an untrusted CA")


@pytest.fixture(scope="session")
def server_cert(ca: CertificateAuthority) -> IssuedCert:
    return ca.issue_server_cert(["localhost", "127.0.0.1", "api.example.test"])


@pytest.fixture(scope="session")
def expired_cert(ca: CertificateAuthority) -> IssuedCert:
    now = dt.datetime.now(dt.UTC)
    return ca.issue_server_cert(
        ["localhost"], not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )


@pytest.fixture
async def echo_server(server_cert: IssuedCert) -> AsyncIterator[TlsTestServer]:
    async with await start_tls_echo_server(server_cert.chain_pem, server_cert.key_pem) as server:
        yield server
