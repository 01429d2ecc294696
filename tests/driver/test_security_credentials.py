"""Credentials on the module: host files, bytes and module paths; listing, space, ephemeral keys."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from quectel_aio import LocalProtocolError, Modem, SocketOpenError, SSLConfig
from quectel_aio.testing import (
    CertificateAuthority,
    IssuedCert,
    ModemEmulator,
    TlsTestServer,
    make_ca,
    start_tls_echo_server,
)

from .conftest import ECHO_HOST
from .helpers import count


def _key_files(emulator: ModemEmulator) -> list[str]:
    return [name for name in emulator.files if name.startswith("key_")]


async def _round_trip(modem: Modem, port: int, config: SSLConfig, data: bytes = b"ping") -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, port, ssl=config)
    writer.write(data)
    await writer.drain()
    assert await reader.readexactly(len(data)) == data
    writer.close()
    await writer.wait_closed()


async def test_client_key_is_deleted_after_each_handshake_and_uploaded_again(
    modem: Modem, emulator: ModemEmulator, ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    client = ca.issue_client_cert("ephemeral-key-device", key_type="rsa")
    config = SSLConfig(
        cafile=ca.cert_pem,
        certfile=client.cert_pem,
        keyfile=client.key_pem,
        delete_key_after_handshake=True,
    )
    async with await start_tls_echo_server(
        server_cert.chain_pem, server_cert.key_pem, client_ca_pem=ca.cert_pem
    ) as server:
        await _round_trip(modem, server.port, config)
        assert _key_files(emulator) == []
        assert server.peer_certs[-1] is not None
        # the same context is reused; the key is uploaded again for the next handshake
        await _round_trip(modem, server.port, config)
        assert _key_files(emulator) == []
        assert len(server.peer_certs) == 2
        assert server.peer_certs[-1] is not None
    uploads = [e.params[0] for e in emulator.command_log if e.name == "+QFUPL"]
    assert sum(1 for name in uploads if str(name).startswith("UFS:key_")) == 2
    assert count(emulator, "+QFDEL") == 2
    remaining = {f.name.split(":", 1)[-1] for f in await modem.list_files()}
    assert remaining
    assert not any(name.startswith("key_") for name in remaining)


async def test_concurrent_opens_share_an_ephemeral_key_safely(
    modem: Modem, emulator: ModemEmulator, ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    client = ca.issue_client_cert("ephemeral-key-device", key_type="rsa")
    config = SSLConfig(
        cafile=ca.cert_pem, certfile=client.cert_pem, keyfile=client.key_pem, delete_key_after_handshake=True
    )
    async with await start_tls_echo_server(
        server_cert.chain_pem, server_cert.key_pem, client_ca_pem=ca.cert_pem
    ) as server:
        await asyncio.gather(*(_round_trip(modem, server.port, config, bytes([i]) * 50) for i in range(4)))
        assert server.accepted == 4
        assert all(cert is not None for cert in server.peer_certs)
    assert _key_files(emulator) == []


async def test_a_failed_handshake_deletes_the_ephemeral_key_too(
    modem: Modem, emulator: ModemEmulator, untrusted_ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    client = untrusted_ca.issue_client_cert("stranger", key_type="rsa")
    config = SSLConfig(
        cafile=untrusted_ca.cert_pem,
        certfile=client.cert_pem,
        keyfile=client.key_pem,
        delete_key_after_handshake=True,
    )
    async with await start_tls_echo_server(server_cert.chain_pem, server_cert.key_pem) as server:
        with pytest.raises(SocketOpenError):
            await modem.open_connection(ECHO_HOST, server.port, ssl=config)
    assert count(emulator, "+QFUPL") == 3
    assert _key_files(emulator) == []


async def test_free_space_follows_uploads_and_deletions(modem: Modem, emulator: ModemEmulator) -> None:
    before = await modem.file_space()
    assert before.total == emulator.ufs.capacity
    assert before.free == emulator.ufs.free()
    await modem.upload_file("UFS:space.bin", bytes(10_000))
    during = await modem.file_space()
    assert during.free == before.free - emulator.ufs.allocated(10_000)
    assert during.total == before.total
    await modem.delete_file("UFS:space.bin")
    assert await modem.file_space() == before


async def test_credentials_from_host_files(
    modem: Modem, emulator: ModemEmulator, ca: CertificateAuthority, server_cert: IssuedCert, tmp_path: Path
) -> None:
    client = ca.issue_client_cert("file-device", key_type="rsa")
    paths = {"ca.pem": ca.cert_pem, "client.pem": client.cert_pem, "client.key": client.key_pem}
    for name, data in paths.items():
        (tmp_path / name).write_bytes(data)
    config = SSLConfig(
        cafile=tmp_path / "ca.pem", certfile=str(tmp_path / "client.pem"), keyfile=tmp_path / "client.key"
    )
    async with await start_tls_echo_server(
        server_cert.chain_pem, server_cert.key_pem, client_ca_pem=ca.cert_pem
    ) as server:
        await _round_trip(modem, server.port, config)
        assert server.peer_certs[-1] is not None
    assert sorted(emulator.files.values()) == sorted(paths.values())


async def test_credentials_already_on_the_module(
    modem: Modem, emulator: ModemEmulator, ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    client = ca.issue_client_cert("preloaded-device", key_type="rsa")
    await modem.upload_file("UFS:trust.pem", ca.cert_pem)
    await modem.upload_file("UFS:dev.pem", client.cert_pem)
    await modem.upload_file("UFS:dev.key", client.key_pem)
    config = SSLConfig(
        ca_module_path="UFS:trust.pem", cert_module_path="UFS:dev.pem", key_module_path="UFS:dev.key"
    )
    async with await start_tls_echo_server(
        server_cert.chain_pem, server_cert.key_pem, client_ca_pem=ca.cert_pem
    ) as server:
        await _round_trip(modem, server.port, config)
        assert server.peer_certs[-1] is not None
    assert count(emulator, "+QFUPL") == 3  # only the explicit uploads above
    settings = emulator.opened_with[-1][1]
    assert (settings.cacert, settings.clientcert, settings.clientkey) == (
        "UFS:trust.pem",
        "UFS:dev.pem",
        "UFS:dev.key",
    )


async def test_a_missing_module_file_fails_the_open_and_names_the_code(
    modem: Modem, echo_server: TlsTestServer
) -> None:
    with pytest.raises(SocketOpenError) as info:
        await modem.open_connection(
            ECHO_HOST, echo_server.port, ssl=SSLConfig(ca_module_path="UFS:not-there.pem")
        )
    assert info.value.code == 579


async def test_a_file_planted_under_the_ca_name_is_replaced_not_trusted(
    modem: Modem, emulator: ModemEmulator, ca: CertificateAuthority
) -> None:
    """The content-addressed name and the size of a public CA are predictable.

    Anyone else on the AT port can upload their own CA under that name, padded
    to the same size; a name and size match must not make the driver skip the
    upload, or it would trust that CA instead of the caller's.
    """
    config = SSLConfig(cafile=ca.cert_pem)
    rogue_ca = make_ca("x", key_type="ec")
    assert len(rogue_ca.cert_pem) < len(ca.cert_pem)
    planted = rogue_ca.cert_pem + b"\n" * (len(ca.cert_pem) - len(rogue_ca.cert_pem))
    assert config.ca_path_on_module is not None
    await modem.upload_file(config.ca_path_on_module, planted)
    impostor = rogue_ca.issue_server_cert([ECHO_HOST], key_type="rsa")
    async with await start_tls_echo_server(impostor.chain_pem, impostor.key_pem) as server:
        with pytest.raises(SocketOpenError):
            await modem.open_connection(ECHO_HOST, server.port, ssl=config)
    assert emulator.files[config.ca_path_on_module.split(":", 1)[1]] == ca.cert_pem
    uploads = count(emulator, "+QFUPL")
    # Once uploaded and verified by this Modem, the file is not uploaded again.
    with pytest.raises(SocketOpenError):
        await modem.open_connection(ECHO_HOST, server.port, ssl=config)
    assert count(emulator, "+QFUPL") == uploads


async def test_an_ephemeral_key_is_deleted_before_a_socket_goes_transparent(
    modem: Modem, emulator: ModemEmulator, ca: CertificateAuthority, server_cert: IssuedCert
) -> None:
    # Opened in transparent mode, the port would be the socket's from CONNECT
    # on, and the key could not be deleted (nor the open return) until it left.
    client = ca.issue_client_cert("ephemeral-key-device", key_type="rsa")
    config = SSLConfig(
        cafile=ca.cert_pem, certfile=client.cert_pem, keyfile=client.key_pem, delete_key_after_handshake=True
    )
    async with await start_tls_echo_server(
        server_cert.chain_pem, server_cert.key_pem, client_ca_pem=ca.cert_pem
    ) as server:
        before = len(emulator.command_log)
        async with asyncio.timeout(10):
            with pytest.raises(LocalProtocolError, match="switch_mode"):
                await modem.open_connection(ECHO_HOST, server.port, ssl=config, mode="transparent")
        assert len(emulator.command_log) == before  # refused before any byte went out
        # What the error suggests: the key goes with the handshake, then the port.
        reader, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=config)
        assert _key_files(emulator) == []
        await writer.transport.switch_mode("transparent")  # type: ignore[attr-defined]
        writer.write(b"ping")
        async with asyncio.timeout(10):
            assert await reader.readexactly(4) == b"ping"
        writer.close()
        await writer.wait_closed()
