"""Mutual TLS (seclevel 2): the module presents the uploaded client certificate."""

from __future__ import annotations

import pytest

from quectel_aio import Modem, SocketOpenError, SSLConfig
from quectel_aio.testing import CertificateAuthority, IssuedCert, ModemEmulator, start_tls_echo_server

from .conftest import ECHO_HOST


async def test_server_requiring_a_client_certificate_accepts_the_configured_one(
    modem: Modem, emulator: ModemEmulator, ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    client = ca.issue_client_cert("device-42", key_type="rsa")
    config = SSLConfig(cafile=ca.cert_pem, certfile=client.cert_pem, keyfile=client.key_pem, seclevel=2)
    async with await start_tls_echo_server(
        server_cert.chain_pem, server_cert.key_pem, client_ca_pem=ca.cert_pem
    ) as server:
        reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=config)
        writer.write(b"mutual")
        await writer.drain()
        assert await reader.readexactly(6) == b"mutual"
        writer.close()
        await writer.wait_closed()
        assert server.peer_certs, "the server saw no client certificate"
    _, settings = emulator.opened_with[-1]
    assert settings.seclevel == 2
    names = {f.name.split(":", 1)[-1] for f in await modem.list_files()}
    assert len(names) == 3  # CA, client certificate and key, uploaded once each


async def test_server_requiring_a_client_certificate_rejects_its_absence(
    modem: Modem, ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    async with await start_tls_echo_server(
        server_cert.chain_pem, server_cert.key_pem, client_ca_pem=ca.cert_pem
    ) as server:
        # TLS 1.2 rejects a missing client certificate inside the handshake.
        with pytest.raises(SocketOpenError) as info:
            await modem.open_connection(ECHO_HOST, server.port, ssl=SSLConfig(cafile=ca.cert_pem))
        assert info.value.code == 579
    assert await modem.ssl_state() == []
