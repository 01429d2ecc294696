"""The real aiohttp client through ModemConnector, the emulator and a real aiohttp.web HTTPS server."""

from __future__ import annotations

import asyncio
import hashlib
import io
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest

from quectel_aio import LocalProtocolError, Modem, SocketOpenError, SSLConfig
from quectel_aio.contrib.aiohttp import ModemConnector, UnsupportedRequest
from quectel_aio.testing import ModemEmulator

from .conftest import UNCERTIFIED_HOST, WEB_HOST, opened_client_ids, wait_for_module_close
from .peer import StallingServer, pattern
from .web import WebServer

SIZES = [0, 1, 1460, 1461, 70_001]
MIB = 1024 * 1024


@pytest.fixture
async def session(modem: Modem, ssl_config: SSLConfig) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=ModemConnector(modem, ssl=ssl_config)) as opened:
        yield opened


def url(server: WebServer | StallingServer, path: str, host: str = WEB_HOST) -> str:
    return f"https://{host}:{server.port}{path}"


@pytest.mark.parametrize("size", SIZES)
async def test_get_and_post_bodies(session: aiohttp.ClientSession, web_server: WebServer, size: int) -> None:
    body = pattern(size)
    async with session.get(url(web_server, f"/bytes/{size}")) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(size)
        assert hashlib.sha256(await response.read()).digest() == hashlib.sha256(body).digest()
    async with session.get(url(web_server, f"/chunked/{size}")) as response:
        assert response.status == 200
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert await response.read() == body
    upload = pattern(size + 3)[3:]
    async with session.post(url(web_server, "/digest"), data=upload) as response:
        assert await response.json() == {"size": size, "sha256": hashlib.sha256(upload).hexdigest()}


async def test_one_mebibyte_each_way(session: aiohttp.ClientSession, web_server: WebServer) -> None:
    async with session.get(url(web_server, f"/bytes/{MIB}")) as response:
        assert hashlib.sha256(await response.read()).digest() == hashlib.sha256(pattern(MIB)).digest()
    upload = pattern(MIB + 1)[1:]
    async with session.post(url(web_server, "/digest"), data=upload) as response:
        assert await response.json() == {"size": MIB, "sha256": hashlib.sha256(upload).hexdigest()}


async def test_hundred_keep_alive_requests_share_one_socket(
    session: aiohttp.ClientSession, web_server: WebServer, emulator: ModemEmulator
) -> None:
    for i in range(100):
        async with session.get(url(web_server, f"/bytes/{i}")) as response:
            assert await response.read() == pattern(i)
    assert len(web_server.peers) == 100
    assert len(set(web_server.peers)) == 1
    assert len(opened_client_ids(emulator)) == 1


async def test_idle_connection_closed_by_the_server_is_replaced(
    session: aiohttp.ClientSession, web_server: WebServer, emulator: ModemEmulator
) -> None:
    async with session.get(url(web_server, "/bytes/5")) as response:
        assert await response.read() == pattern(5)
    web_server.drop_connections()
    await wait_for_module_close(emulator)
    async with session.get(url(web_server, "/bytes/6")) as response:
        assert await response.read() == pattern(6)
    assert len(set(web_server.peers)) == 2
    assert opened_client_ids(emulator) == [0, 0]


async def test_twelve_concurrent_requests_use_twelve_client_ids(
    session: aiohttp.ClientSession, web_server: WebServer, emulator: ModemEmulator
) -> None:
    async def one() -> str:
        async with session.get(url(web_server, "/together/12")) as response:
            return await response.text()

    # The server answers only when all twelve wait at once, so they must run in parallel.
    assert await asyncio.gather(*(one() for _ in range(12))) == ["12 together"] * 12
    assert sorted(opened_client_ids(emulator)) == list(range(12))


async def test_thirteenth_request_waits_for_a_free_connection(
    session: aiohttp.ClientSession, web_server: WebServer, emulator: ModemEmulator
) -> None:
    async def one(path: str) -> int:
        async with session.get(url(web_server, path)) as response:
            await response.read()
            return response.status

    results = await asyncio.gather(*(one("/together/12") for _ in range(12)), one("/bytes/10"))
    assert results == [200] * 13
    assert len(opened_client_ids(emulator)) == 12


async def test_requests_beyond_twelve_wait_for_client_ids_still_closing(
    modem: Modem, ssl_config: SSLConfig, web_server: WebServer, emulator: ModemEmulator
) -> None:
    # aiohttp counts a connection free once it has closed it; the module frees
    # its client ID only after AT+QSSLCLOSE. The next requests wait for that.
    connector = ModemConnector(modem, ssl=ssl_config, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(path: str) -> bytes:
            async with session.get(url(web_server, path)) as response:
                return await response.read()

        first = [one("/together/12") for _ in range(12)]
        assert (
            await asyncio.gather(*first, *(one("/bytes/10") for _ in range(12)))
            == [b"12 together"] * 12 + [pattern(10)] * 12
        )
    assert len(opened_client_ids(emulator)) == 24
    await wait_for_module_close(emulator, 24)
    assert await modem.ssl_state() == []


async def test_uploads_given_up_on_do_not_hold_the_client_ids(
    session: aiohttp.ClientSession, stalling_server: StallingServer, web_server: WebServer
) -> None:
    # Twelve uploads to a server that stopped reading time out. A graceful
    # close would keep each client ID busy retrying SEND FAIL for 30 s, and
    # the next request, to a sound server, would wait for one that long.
    async def upload() -> None:
        with pytest.raises(TimeoutError):
            async with session.post(
                url(stalling_server, "/upload"),
                data=io.BytesIO(bytes(MIB)),
                timeout=aiohttp.ClientTimeout(total=1),
            ) as response:
                await response.read()

    await asyncio.gather(*(upload() for _ in range(12)))
    async with asyncio.timeout(10):
        async with session.get(url(web_server, "/bytes/10")) as response:
            assert await response.read() == pattern(10)


@pytest.mark.parametrize("path", ["/cut/100000", "/cut-chunked/100000"])
async def test_server_closing_mid_response_is_an_error(
    session: aiohttp.ClientSession, web_server: WebServer, path: str
) -> None:
    async with session.get(url(web_server, path)) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


async def test_the_url_host_is_verified(session: aiohttp.ClientSession, web_server: WebServer) -> None:
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await session.get(url(web_server, "/bytes/1", host=UNCERTIFIED_HOST))
    cause = caught.value.__cause__
    assert isinstance(cause, SocketOpenError)
    assert cause.code in (566, 579)  # certificate failure, as the note and devices report it


@pytest.mark.parametrize(
    ("scheme_and_kwargs", "message"),
    [
        (("http", {}), "http://"),
        (("https", {"proxy": "http://127.0.0.1:3128"}), "prox"),
        (("https", {"ssl": False}), "ssl="),
        (("https", {"ssl": ssl.create_default_context()}), "ssl="),
        (("https", {"ssl": aiohttp.Fingerprint(b"\0" * 32)}), "ssl="),
        (("https", {"server_hostname": "other.test"}), "server_hostname"),
    ],
    ids=["http", "proxy", "ssl-false", "ssl-context", "fingerprint", "server-hostname"],
)
async def test_refuses_what_the_module_cannot_honour(
    session: aiohttp.ClientSession,
    web_server: WebServer,
    emulator: ModemEmulator,
    scheme_and_kwargs: tuple[str, dict[str, object]],
    message: str,
) -> None:
    scheme, kwargs = scheme_and_kwargs
    logged = len(emulator.command_log)
    with pytest.raises(UnsupportedRequest, match=message) as caught:
        await session.get(f"{scheme}://{WEB_HOST}:{web_server.port}/bytes/1", **kwargs)  # type: ignore[arg-type]
    assert isinstance(caught.value, aiohttp.ClientError)
    assert isinstance(caught.value, LocalProtocolError)
    assert len(emulator.command_log) == logged  # nothing reached the module


async def test_a_host_name_the_module_cannot_take_is_an_aiohttp_error(
    session: aiohttp.ClientSession, emulator: ModemEmulator
) -> None:
    logged = len(emulator.command_log)
    # aiohttp takes the underscore; the module's host names are letters, digits and hyphens.
    with pytest.raises(UnsupportedRequest, match="DNS name") as caught:
        await session.get("https://under_score.test:4433/")
    assert isinstance(caught.value, aiohttp.ClientError)
    assert isinstance(caught.value.__cause__, LocalProtocolError)
    assert len(emulator.command_log) == logged  # nothing reached the module


async def test_connector_arguments_are_checked(modem: Modem, ssl_config: SSLConfig) -> None:
    with pytest.raises(LocalProtocolError, match="SSLConfig"):
        ModemConnector(modem, ssl=ssl.create_default_context())  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="limit"):
        ModemConnector(modem, ssl=ssl_config, limit=13)
