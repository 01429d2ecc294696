"""With debug logging and the wire trace on, secrets and payloads never reach a log record.

Canaries are planted in the APN password, the client private key (the key is
uploaded through QFUPL on every open: ``delete_key_after_handshake``) and the
payload; they are searched in raw, hex and base64 form in every log record,
in the text of the exceptions raised on the way, and in the reprs of the
objects a user would print. Payload tracing is a separate switch: with it on,
payload bytes appear in the trace (which also proves the search finds them)
while the password still does not.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import secrets
from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog

from quectel_aio import CommandError, Modem, QuectelError, SSLConfig
from quectel_aio.testing import CertificateAuthority, IssuedCert, start_tls_echo_server

from .conftest import ECHO_HOST


def _forms(secret: bytes) -> list[str]:
    return [secret.decode("latin-1"), secret.hex(), base64.b64encode(secret).decode()]


def _key_lines(client: IssuedCert) -> list[str]:
    return [line for line in client.key_pem.decode().splitlines() if not line.startswith("-----")]


async def _session(
    device: str,
    ca: CertificateAuthority,
    server_cert: IssuedCert,
    *,
    password: str,
    payload: bytes,
    client: IssuedCert,
    trace_payloads: bool,
) -> tuple[list[MutableMapping[str, Any]], list[str]]:
    config = SSLConfig(
        cafile=ca.cert_pem,
        certfile=client.cert_pem,
        keyfile=client.key_pem,
        delete_key_after_handshake=True,
    )
    texts: list[str] = [repr(config), str(config)]
    # Every stdlib logger at DEBUG too (the serial backend's among them).
    stdlib_records: list[logging.LogRecord] = []
    handler = _Collect(stdlib_records)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        records, more = await _traced_session(
            device,
            ca,
            server_cert,
            config,
            client_key=client.key_pem,
            password=password,
            payload=payload,
            trace_payloads=trace_payloads,
        )
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    texts.extend(more)
    texts.extend(record.getMessage() for record in stdlib_records)
    return records, texts


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


async def _traced_session(
    device: str,
    ca: CertificateAuthority,
    server_cert: IssuedCert,
    config: SSLConfig,
    *,
    client_key: bytes,
    password: str,
    payload: bytes,
    trace_payloads: bool,
) -> tuple[list[MutableMapping[str, Any]], list[str]]:
    texts: list[str] = []
    client_ca = ca.cert_pem
    with structlog.testing.capture_logs() as records:
        async with (
            await start_tls_echo_server(
                server_cert.chain_pem, server_cert.key_pem, client_ca_pem=client_ca
            ) as server,
            Modem.open(device, wire_trace=True, trace_payloads=trace_payloads) as modem,
        ):
            await modem.activate_pdp(1, apn="internet", username="user", password=password)
            reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=config)
            writer.write(payload)
            await writer.drain()
            assert await reader.readexactly(len(payload)) == payload
            texts.extend((repr(writer.transport), repr(modem), repr(reader), repr(writer)))
            writer.close()
            await writer.wait_closed()
            # Failures on the way: their messages must not carry the secrets either.
            with pytest.raises(QuectelError) as refused:
                await modem.open_connection(ECHO_HOST, 1, ssl=config)
            texts.extend((str(refused.value), repr(refused.value)))
            await modem.upload_file("UFS:dup.key", client_key)
            with pytest.raises(QuectelError) as exists:
                await modem.upload_file("UFS:dup.key", client_key)
            texts.extend((str(exists.value), repr(exists.value)))
    return records, texts


async def test_canaries_stay_out_of_logs_errors_and_reprs(
    device: str, ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    password = "pw" + secrets.token_hex(12)
    payload = b"payload-" + secrets.token_hex(16).encode()
    client = ca.issue_client_cert("canary-device", key_type="rsa")
    records, texts = await _session(
        device, ca, server_cert, password=password, payload=payload, client=client, trace_payloads=False
    )
    assert any(r.get("event") == "tx" for r in records), "the wire trace was not on"
    blob = "\n".join(texts + [repr(record) for record in records])
    for form in _forms(password.encode()) + _forms(payload) + _key_lines(client):
        assert form not in blob


async def test_payload_tracing_is_a_separate_switch_that_shows_only_payloads(
    device: str, ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    password = "pw" + secrets.token_hex(12)
    payload = b"payload-" + secrets.token_hex(16).encode()
    client = ca.issue_client_cert("canary-device", key_type="rsa")
    records, texts = await _session(
        device, ca, server_cert, password=password, payload=payload, client=client, trace_payloads=True
    )
    blob = "\n".join(texts + [repr(record) for record in records])
    assert payload.hex() in blob  # the switch works, and the search would find a leak
    for form in _forms(password.encode()):
        assert form not in blob
    # File uploads (the client key among them) are never payload-traced.
    for form in _forms(client.key_pem):
        assert form not in blob


@pytest.mark.parametrize(
    "line",
    [
        'AT+QICSGP=2,1,"apn","user","{secret}",1',
        'at+qicsgp=2,1,"apn","user","{secret}"',
        'AT+CSQ;+QICSGP=2,1,"apn","user","{secret}",1;+CREG?',
        'AT+QICSGP=2,1,"apn","user",{secret},1',
        # Spellings the module reads the same way (V.250: spaces outside quotes are ignored).
        'AT+QICSGP =2,1,"apn","user","{secret}",1',
        'AT+QI CSGP=2,1,"apn","user","{secret}",1',
        'AT+QICSGP 2,1,"apn","user","{secret}",1',  # no "=": malformed, answered with ERROR
    ],
)
async def test_a_password_in_a_raw_pdp_command_is_masked_in_the_wire_trace(device: str, line: str) -> None:
    secret = secrets.token_hex(8)
    with structlog.testing.capture_logs() as records:
        async with Modem.open(device, wire_trace=True) as modem:
            errors: list[str] = []
            try:
                await modem.command(line.format(secret=secret))
            except CommandError as exc:  # the emulator does not run every form
                errors.append(f"{exc} {exc!r}")
    assert not any(secret in text for text in errors)
    tx = [str(record.get("line")) for record in records if record.get("event") == "tx"]
    assert any("QICSGP" in text.upper() for text in tx)
    assert not any(secret in str(record) for record in records)


@pytest.mark.parametrize(
    "line",
    [
        'AT+CPIN="{secret}"',
        'at+cpin = "{secret}"',
        'AT+CSQ;+CPIN="{secret}","1234"',
        'AT+CLCK="SC",0,"{secret}"',
    ],
)
async def test_a_sim_pin_in_a_raw_command_is_masked_in_the_wire_trace(device: str, line: str) -> None:
    secret = str(secrets.randbelow(10**8)).zfill(8)
    with structlog.testing.capture_logs() as records:
        async with Modem.open(device, wire_trace=True) as modem:
            with contextlib.suppress(CommandError):  # the emulator has no SIM lock
                await modem.command(line.format(secret=secret))
    tx = [str(record.get("line")) for record in records if record.get("event") == "tx"]
    assert any("CPIN" in text.upper() or "CLCK" in text.upper() for text in tx)
    assert not any(secret in str(record) for record in records)
