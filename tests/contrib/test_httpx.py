"""The real httpx client through ModemTransport, the emulator and a real aiohttp.web HTTPS server."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import AsyncIterator, Iterator

import httpcore
import httpx
import pytest

from quectel_aio import LocalProtocolError, Modem, SocketOpenError, SSLConfig
from quectel_aio.contrib.httpx import ModemNetworkBackend, ModemTransport, UnsupportedRequest
from quectel_aio.testing import ModemEmulator

from .conftest import PEER_HOST, UNCERTIFIED_HOST, WEB_HOST, opened_client_ids, wait_for_module_close
from .peer import PeerServer, StallingServer, pattern
from .web import WebServer

SIZES = [0, 1, 1460, 1461, 70_001]
MIB = 1024 * 1024


@pytest.fixture
async def client(modem: Modem, ssl_config: SSLConfig) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=ModemTransport(modem, ssl=ssl_config), timeout=30) as opened:
        yield opened


def chain(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception and everything it was raised from or during (httpcore keeps only the context)."""
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


def url(server: WebServer, path: str, host: str = WEB_HOST) -> str:
    return f"https://{host}:{server.port}{path}"


@pytest.mark.parametrize("size", SIZES)
async def test_get_and_post_bodies(client: httpx.AsyncClient, web_server: WebServer, size: int) -> None:
    body = pattern(size)
    response = await client.get(url(web_server, f"/bytes/{size}"))
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(size)
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(body).digest()
    response = await client.get(url(web_server, f"/chunked/{size}"))
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.content == body
    upload = pattern(size + 3)[3:]
    response = await client.post(url(web_server, "/digest"), content=upload)
    assert response.json() == {"size": size, "sha256": hashlib.sha256(upload).hexdigest()}


async def test_one_mebibyte_each_way(client: httpx.AsyncClient, web_server: WebServer) -> None:
    response = await client.get(url(web_server, f"/bytes/{MIB}"))
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(pattern(MIB)).digest()
    upload = pattern(MIB + 1)[1:]
    response = await client.post(url(web_server, "/digest"), content=upload)
    assert response.json() == {"size": MIB, "sha256": hashlib.sha256(upload).hexdigest()}


async def test_streamed_upload_and_download(client: httpx.AsyncClient, web_server: WebServer) -> None:
    async def parts() -> AsyncIterator[bytes]:
        for i in range(20):
            yield pattern(5000 + i)[i:]

    upload = b"".join([pattern(5000 + i)[i:] for i in range(20)])
    response = await client.post(url(web_server, "/digest"), content=parts())
    assert response.json() == {"size": len(upload), "sha256": hashlib.sha256(upload).hexdigest()}
    received = bytearray()
    async with client.stream("GET", url(web_server, "/chunked/200000")) as streamed:
        async for part in streamed.aiter_raw():
            received += part
    assert received == pattern(200_000)


async def test_hundred_keep_alive_requests_share_one_socket(
    client: httpx.AsyncClient, web_server: WebServer, emulator: ModemEmulator
) -> None:
    for i in range(100):
        response = await client.get(url(web_server, f"/bytes/{i}"))
        assert response.content == pattern(i)
    assert len(web_server.peers) == 100
    assert len(set(web_server.peers)) == 1
    assert len(opened_client_ids(emulator)) == 1


async def test_idle_connection_closed_by_the_server_is_replaced(
    client: httpx.AsyncClient, web_server: WebServer, emulator: ModemEmulator
) -> None:
    assert (await client.get(url(web_server, "/bytes/5"))).content == pattern(5)
    web_server.drop_connections()
    await wait_for_module_close(emulator)
    assert (await client.get(url(web_server, "/bytes/6"))).content == pattern(6)
    assert len(set(web_server.peers)) == 2
    assert opened_client_ids(emulator) == [0, 0]


async def test_an_idle_connection_with_unasked_data_is_not_reused(
    client: httpx.AsyncClient, web_server: WebServer, emulator: ModemEmulator
) -> None:
    assert (await client.get(url(web_server, "/then-408"))).text == "fresh"
    await asyncio.wait_for(web_server.stale_sent.wait(), 10)
    await asyncio.sleep(0.3)  # the module has the stray bytes by now
    # httpx on a plain socket sees the idle connection readable and drops it;
    # the stray 408 must never become the answer to the next request.
    response = await client.get(url(web_server, "/bytes/7"))
    assert response.status_code == 200
    assert response.content == pattern(7)
    assert len(opened_client_ids(emulator)) == 2


async def test_twelve_concurrent_requests_use_twelve_client_ids(
    client: httpx.AsyncClient, web_server: WebServer, emulator: ModemEmulator
) -> None:
    responses = await asyncio.gather(*(client.get(url(web_server, "/together/12")) for _ in range(12)))
    assert [r.text for r in responses] == ["12 together"] * 12
    assert sorted(opened_client_ids(emulator)) == list(range(12))


#: Far more than the module and the loopback socket buffers take: the upload stalls.
STALLED_UPLOAD = 8 * MIB
#: Well under the 30 s a socket retries SEND FAIL before it gives up.
GIVE_UP_BOUND = 10


async def test_a_write_timeout_does_not_wait_for_a_stalled_server(
    client: httpx.AsyncClient, stalling_server: StallingServer
) -> None:
    # httpcore closes the connection before it raises; its own backends abort
    # it, so a server that stopped reading cannot hold the error up.
    timeout = httpx.Timeout(30, write=1.0)
    target = f"https://{WEB_HOST}:{stalling_server.port}/upload"
    async with asyncio.timeout(GIVE_UP_BOUND):
        with pytest.raises(httpx.WriteTimeout):
            await client.post(target, content=bytes(STALLED_UPLOAD), timeout=timeout)


async def test_a_cancelled_upload_to_a_stalled_server_ends_at_once(
    client: httpx.AsyncClient, stalling_server: StallingServer, emulator: ModemEmulator
) -> None:
    target = f"https://{WEB_HOST}:{stalling_server.port}/upload"
    upload = asyncio.create_task(client.post(target, content=bytes(STALLED_UPLOAD), timeout=None))
    await asyncio.wait_for(stalling_server.stalled.wait(), 10)
    upload.cancel()
    done, _ = await asyncio.wait([upload], timeout=GIVE_UP_BOUND)
    assert upload in done
    assert upload.cancelled()
    await wait_for_module_close(emulator)


async def test_bytes_received_before_a_failure_are_read_before_the_read_error(
    modem: Modem, emulator: ModemEmulator, peer: PeerServer, ssl_config: SSLConfig
) -> None:
    stream = await ModemNetworkBackend(modem, ssl=ssl_config).open_tls(PEER_HOST, peer.port)
    try:
        # One block of the module (AT+QSSLRECV reads up to 1500 bytes at once).
        await stream.write(b"P" + (1000).to_bytes(8, "big"))
        first = await stream.read(1, timeout=10)
        emulator.deactivate_pdp(1)
        await wait_for_module_close(emulator)  # the socket has failed by now
        # As httpcore's own streams: what was received is read, then the error.
        rest = await stream.read(65536, timeout=10)
        assert first + rest == pattern(1000)
        with pytest.raises(httpcore.ReadError):
            await stream.read(65536, timeout=10)
        with pytest.raises(httpcore.WriteError) as caught:
            await stream.write(b"more", timeout=10)
        assert "PDP" in str(caught.value)  # the cause, not only "Connection lost"
    finally:
        await stream.aclose()


@pytest.mark.parametrize("path", ["/cut/100000", "/cut-chunked/100000"])
async def test_server_closing_mid_response_is_an_error(
    client: httpx.AsyncClient, web_server: WebServer, path: str
) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get(url(web_server, path))


async def test_the_url_host_is_verified(client: httpx.AsyncClient, web_server: WebServer) -> None:
    with pytest.raises(httpx.ConnectError) as caught:
        await client.get(url(web_server, "/bytes/1", host=UNCERTIFIED_HOST))
    module_errors = [exc for exc in chain(caught.value) if isinstance(exc, SocketOpenError)]
    assert [exc.code in (566, 579) for exc in module_errors] == [True]


@pytest.mark.parametrize(
    ("target", "extensions", "message"),
    [
        ("http://{host}:{port}/bytes/1", {}, "http://"),
        ("https://{host}:{port}/bytes/1", {"sni_hostname": "other.test"}, "SNI"),
    ],
    ids=["http", "sni-hostname"],
)
async def test_refuses_what_the_module_cannot_honour(
    client: httpx.AsyncClient,
    web_server: WebServer,
    emulator: ModemEmulator,
    target: str,
    extensions: dict[str, str],
    message: str,
) -> None:
    logged = len(emulator.command_log)
    with pytest.raises(UnsupportedRequest, match=message) as caught:
        await client.get(target.format(host=WEB_HOST, port=web_server.port), extensions=extensions)
    assert isinstance(caught.value, httpx.TransportError)
    assert isinstance(caught.value, LocalProtocolError)
    assert len(emulator.command_log) == logged  # nothing reached the module


async def test_a_host_name_the_module_cannot_take_is_an_httpx_error(
    client: httpx.AsyncClient, emulator: ModemEmulator
) -> None:
    logged = len(emulator.command_log)
    # httpx takes the underscore; the module's host names are letters, digits and hyphens.
    with pytest.raises(UnsupportedRequest, match="DNS name") as caught:
        await client.get("https://under_score.test:4433/")
    assert isinstance(caught.value, httpx.UnsupportedProtocol)
    assert isinstance(caught.value, LocalProtocolError)
    assert len(emulator.command_log) == logged  # nothing reached the module


async def test_transport_arguments_are_checked(modem: Modem, ssl_config: SSLConfig) -> None:
    with pytest.raises(LocalProtocolError, match="SSLConfig"):
        ModemTransport(modem, ssl=ssl.create_default_context())  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="max_connections"):
        ModemTransport(modem, ssl=ssl_config, max_connections=0)
