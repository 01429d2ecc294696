"""With debug logging and the wire trace on, secrets and payloads never reach a log record."""

from __future__ import annotations

import secrets

import structlog

from quectel_aio import Modem, SSLConfig
from quectel_aio.testing import CertificateAuthority, IssuedCert, start_tls_echo_server

from .conftest import ECHO_HOST


async def test_canaries_stay_out_of_logs_and_errors(
    device: str, ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    password = "pw" + secrets.token_hex(12)
    payload_canary = secrets.token_hex(16).encode()
    client = ca.issue_client_cert("canary-device", key_type="rsa")
    key_lines = [line for line in client.key_pem.decode().splitlines() if not line.startswith("-----")]
    config = SSLConfig(cafile=ca.cert_pem, certfile=client.cert_pem, keyfile=client.key_pem, seclevel=2)
    texts: list[str] = []
    with structlog.testing.capture_logs() as records:
        async with (
            await start_tls_echo_server(
                server_cert.chain_pem, server_cert.key_pem, client_ca_pem=ca.cert_pem
            ) as server,
            Modem.open(device, wire_trace=True) as modem,
        ):
            await modem.activate_pdp(1, apn="internet", username="user", password=password)
            reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=config)
            writer.write(payload_canary)
            await writer.drain()
            assert await reader.readexactly(len(payload_canary)) == payload_canary
            texts.append(repr(writer.transport))
            texts.append(repr(modem))
            writer.close()
            await writer.wait_closed()
    assert any(r.get("event") == "tx" for r in records), "the wire trace was not on"
    texts.extend(repr(record) for record in records)
    blob = "\n".join(texts)
    assert password not in blob
    assert payload_canary.decode() not in blob
    assert payload_canary.hex() not in blob
    for line in key_lines:
        assert line not in blob
