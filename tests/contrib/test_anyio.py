"""ModemByteStream: anyio's byte stream interface over a module TLS socket."""

from __future__ import annotations

import asyncio
import ssl

import anyio
import pytest
from anyio.abc import SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream

from quectel_aio import LocalProtocolError, Modem, SSLConfig
from quectel_aio.contrib.anyio import ModemAttribute, ModemByteStream
from quectel_aio.testing import ModemEmulator

from .conftest import PEER_HOST, wait_for_module_close
from .peer import PeerServer, StallingServer, pattern


async def connect(modem: Modem, peer: PeerServer, ssl_config: SSLConfig) -> ModemByteStream:
    return await ModemByteStream.connect(modem, PEER_HOST, peer.port, ssl=ssl_config)


async def test_echo_round_trip_with_anyio_buffered_reader(
    modem: Modem, peer: PeerServer, ssl_config: SSLConfig
) -> None:
    data = pattern(50_000)
    async with await connect(modem, peer, ssl_config) as stream:
        await stream.send(b"E")
        buffered = BufferedByteReceiveStream(stream)
        for offset in range(0, len(data), 5000):
            await stream.send(data[offset : offset + 5000])
        assert await buffered.receive_exactly(len(data)) == data


async def test_peer_close_is_end_of_stream_after_every_byte(
    modem: Modem, peer: PeerServer, ssl_config: SSLConfig
) -> None:
    async with await connect(modem, peer, ssl_config) as stream:
        await stream.send(b"C" + (30_000).to_bytes(8, "big"))
        received = bytearray()
        async for part in stream:  # anyio ends the iteration at EndOfStream
            received += part
        assert received == pattern(30_000)
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()
        with pytest.raises(anyio.BrokenResourceError):
            await stream.send(b"too late")


async def test_send_eof_is_not_supported(modem: Modem, peer: PeerServer, ssl_config: SSLConfig) -> None:
    async with await connect(modem, peer, ssl_config) as stream:
        with pytest.raises(NotImplementedError):
            await stream.send_eof()


async def test_use_after_aclose_is_closed_resource(
    modem: Modem, peer: PeerServer, ssl_config: SSLConfig
) -> None:
    stream = await connect(modem, peer, ssl_config)
    await stream.send(b"E")
    await stream.aclose()
    await stream.aclose()  # idempotent
    with pytest.raises(anyio.ClosedResourceError):
        await stream.send(b"x")
    with pytest.raises(anyio.ClosedResourceError):
        await stream.receive()


async def test_aclose_during_a_receive_is_closed_resource_not_end_of_stream(
    modem: Modem, peer: PeerServer, ssl_config: SSLConfig
) -> None:
    stream = await connect(modem, peer, ssl_config)
    await stream.send(b"E")
    receiving = asyncio.ensure_future(stream.receive())
    await asyncio.sleep(0)
    assert not receiving.done()
    await stream.aclose()
    # anyio's own socket streams: a stream closed under a receiver is not a peer's end of stream.
    with pytest.raises(anyio.ClosedResourceError):
        await asyncio.wait_for(receiving, 10)


async def test_a_forced_close_aborts_a_send_the_server_stalled(
    modem: Modem, emulator: ModemEmulator, stalling_server: StallingServer, ssl_config: SSLConfig
) -> None:
    stream = await ModemByteStream.connect(modem, PEER_HOST, stalling_server.port, ssl=ssl_config)
    # Far more than the module and the loopback socket buffers take.
    sending = asyncio.ensure_future(stream.send(bytes(8 * 1024 * 1024)))
    await asyncio.wait_for(stalling_server.stalled.wait(), 10)
    await anyio.aclose_forcefully(stream)
    # As anyio's own streams: closed without waiting on anything, the unsent
    # bytes dropped, and the sender told so (not after 30 s of SEND FAIL).
    with pytest.raises(anyio.ClosedResourceError):
        await asyncio.wait_for(sending, 10)
    await wait_for_module_close(emulator)


async def test_two_concurrent_receivers_are_refused(
    modem: Modem, peer: PeerServer, ssl_config: SSLConfig
) -> None:
    async with await connect(modem, peer, ssl_config) as stream:
        await stream.send(b"E")
        first = asyncio.ensure_future(stream.receive())
        await asyncio.sleep(0)
        with pytest.raises(anyio.BusyResourceError):
            await stream.receive()
        await stream.send(b"ping")
        assert await asyncio.wait_for(first, 10) == b"ping"


async def test_a_failed_socket_is_broken_resource(
    modem: Modem, emulator: ModemEmulator, peer: PeerServer, ssl_config: SSLConfig
) -> None:
    async with await connect(modem, peer, ssl_config) as stream:
        await stream.send(b"E")
        emulator.deactivate_pdp(1)
        with pytest.raises(anyio.BrokenResourceError) as caught:
            await asyncio.wait_for(stream.receive(), 10)
        assert isinstance(caught.value.__cause__, ConnectionError)


async def test_bytes_received_before_a_failure_come_before_broken_resource(
    modem: Modem, emulator: ModemEmulator, peer: PeerServer, ssl_config: SSLConfig
) -> None:
    async with await connect(modem, peer, ssl_config) as stream:
        # One block of the module (AT+QSSLRECV reads up to 1500 bytes at once).
        await stream.send(b"P" + (1000).to_bytes(8, "big"))
        first = await asyncio.wait_for(stream.receive(1), 10)
        emulator.deactivate_pdp(1)
        await wait_for_module_close(emulator)  # the socket has failed by now
        # As anyio's own streams: what was received is handed over, then the error.
        rest = await asyncio.wait_for(stream.receive(), 10)
        assert first + rest == pattern(1000)
        with pytest.raises(anyio.BrokenResourceError) as caught:
            await asyncio.wait_for(stream.receive(), 10)
        assert isinstance(caught.value.__cause__, ConnectionError)
        with pytest.raises(anyio.BrokenResourceError):
            await stream.send(b"more")


async def test_typed_attributes(modem: Modem, peer: PeerServer, ssl_config: SSLConfig) -> None:
    async with await connect(modem, peer, ssl_config) as stream:
        assert stream.extra(SocketAttribute.remote_address) == PEER_HOST
        assert stream.extra(SocketAttribute.remote_port) == peer.port
        assert stream.extra(ModemAttribute.server_hostname) == PEER_HOST
        assert stream.extra(ModemAttribute.client_id) in range(12)
        assert stream.extra(ModemAttribute.ssl_context_id) in range(6)
        with pytest.raises(anyio.TypedAttributeLookupError):
            stream.extra(SocketAttribute.raw_socket)


async def test_arguments_are_checked(modem: Modem, peer: PeerServer, ssl_config: SSLConfig) -> None:
    with pytest.raises(LocalProtocolError, match="SSLConfig"):
        await ModemByteStream.connect(modem, PEER_HOST, peer.port, ssl=ssl.create_default_context())  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        await ModemByteStream.connect(modem, 'bad"host', peer.port, ssl=ssl_config)
