"""Closing the modem: one deadline for every socket, and the port is always closed."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator

import pytest

from quectel_aio import LocalProtocolError, Modem, ModemUnavailable, SSLConfig
from quectel_aio._ports import Port, open_port
from quectel_aio.testing import EmulatorConfig, ModemEmulator, TlsTestServer, open_pty_pair
from quectel_aio.testing._serve import PtyServer

from .conftest import ECHO_HOST
from .helpers import FAST_MARGIN, count, eventually

SOCKETS = 3


@pytest.fixture
async def lost_exceptions() -> AsyncIterator[list[str]]:
    """What asyncio reports as never retrieved (tasks and futures) while the test runs."""
    loop = asyncio.get_running_loop()
    reported: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context["message"]))
    try:
        yield reported
    finally:
        loop.set_exception_handler(previous)


@contextlib.asynccontextmanager
async def _sockets(
    device: str, echo_server: TlsTestServer, ssl_config: SSLConfig, close_timeout: float = 15.0
) -> AsyncIterator[
    tuple[Port, contextlib.AbstractAsyncContextManager[Modem], Modem, list[asyncio.StreamWriter]]
]:
    """A modem (entered by hand, so a test can time its exit) with ``SOCKETS`` open sockets."""
    port = await open_port(device)
    opening = Modem.open(port, margin=FAST_MARGIN, close_timeout=close_timeout)
    modem = await opening.__aenter__()
    try:
        await modem.activate_pdp(1, apn="internet")
        writers = []
        for _ in range(SOCKETS):
            _, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
            writers.append(writer)
        yield port, opening, modem, writers
    finally:
        await modem.aclose()  # no-op when the test closed it


def _assert_closed(port: Port, writers: list[asyncio.StreamWriter]) -> None:
    with pytest.raises(ModemUnavailable):
        port.write(b"AT\r")
    assert all(writer.transport.is_closing() for writer in writers)


@pytest.mark.parametrize("queued", [False, True], ids=["idle", "writes queued"])
async def test_a_silent_module_holds_up_the_exit_only_for_close_timeout(
    emulator: ModemEmulator,
    device: str,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    lost_exceptions: list[str],
    queued: bool,
) -> None:
    # Each AT+QSSLCLOSE waits its 10 s maximum response time, one after the
    # other: with one deadline per socket, twelve sockets kept the exit of
    # "async with Modem.open()" waiting for minutes.
    async with _sockets(device, echo_server, ssl_config, close_timeout=0.3) as (port, opening, _, writers):
        emulator.detach_sink()  # the module hangs: it reads, but answers nothing
        if queued:
            for writer in writers:
                writer.write(os.urandom(5000))
            await eventually(lambda: count(emulator, "+QSSLSEND") >= 1, what="a send on the wire")
        async with asyncio.timeout(5):
            await opening.__aexit__(None, None, None)
            for writer in writers:
                assert writer.transport.is_closing()
        _assert_closed(port, writers)
    del writers
    gc.collect()
    assert lost_exceptions == []


async def test_a_reader_waiting_when_the_modem_closes_is_told_so_not_given_an_end_of_stream(
    device: str, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    # The server did not end the stream: a reader that took the modem's close
    # for its end would accept a cut message as whole (a body read to the close).
    async with _sockets(device, echo_server, ssl_config) as (port, _, modem, writers):
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        reading = asyncio.ensure_future(reader.read())
        await modem.aclose()
        with pytest.raises(ModemUnavailable):
            await asyncio.wait_for(reading, 5)
        with pytest.raises(ModemUnavailable):
            await writer.wait_closed()
        _assert_closed(port, [*writers, writer])


async def test_sends_failing_at_close_are_given_up_at_the_deadline(
    emulator: ModemEmulator,
    device: str,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    lost_exceptions: list[str],
) -> None:
    # A peer that reads nothing: the module's send buffer stays full, every
    # chunk gets SEND FAIL, and each socket's flush would retry for 30 s.
    async with _sockets(device, echo_server, ssl_config) as (port, _, modem, writers):
        emulator.fail_next_sends(10**6)
        for writer in writers:
            writer.write(os.urandom(3000))
        await eventually(lambda: emulator._faults.fail_sends <= 10**6 - SOCKETS, what="every socket refused")
        async with asyncio.timeout(5):
            await modem.aclose(timeout=0.3)
        _assert_closed(port, writers)
    del writers
    gc.collect()
    assert lost_exceptions == []


async def test_a_cancelled_close_still_closes_the_port(
    emulator: ModemEmulator, device: str, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    async with _sockets(device, echo_server, ssl_config) as (port, _, modem, writers):
        emulator.detach_sink()
        closing = asyncio.create_task(modem.aclose())
        await eventually(lambda: modem._closed, what="the close under way")
        closing.cancel()
        async with asyncio.timeout(5):
            with pytest.raises(asyncio.CancelledError):
                await closing  # the cancellation is not swallowed by the wait for the sockets
        _assert_closed(port, writers)


@pytest.mark.parametrize("value", [-1, float("nan"), float("inf"), True, "1"])
async def test_close_timeout_must_be_seconds(device: str, value: object) -> None:
    with pytest.raises(LocalProtocolError, match="close_timeout"):
        async with Modem.open(device, close_timeout=value):  # type: ignore[arg-type]
            pass


@pytest.mark.parametrize("end", ["unplugged", "closed"])
async def test_a_command_waiting_behind_a_transparent_socket_fails_when_the_port_goes(
    emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig, end: str
) -> None:
    # The session holds the port until the module says it ended; a port that
    # fails, or a close whose +++ the module never answers, ends it without that.
    pair = open_pty_pair()
    server = PtyServer(emulator, pair)
    server.start()
    try:
        async with Modem.open(pair.path, margin=FAST_MARGIN, close_timeout=0.3) as modem:
            await modem.activate_pdp(1, apn="internet")
            _, writer = await modem.open_connection(
                ECHO_HOST, echo_server.port, ssl=ssl_config, mode="transparent"
            )
            waiting = asyncio.create_task(modem.command("AT+CSQ"))
            await eventually(lambda: modem._channel._lock.waiting > 0, what="the command waits for the port")
            if end == "unplugged":
                await server.aclose()
            else:
                emulator.detach_sink()
                await modem.aclose()
            async with asyncio.timeout(5):
                with pytest.raises(ModemUnavailable):
                    await waiting
                assert writer.transport.is_closing()
    finally:
        await server.aclose()


async def test_an_open_waiting_for_its_handshake_fails_as_unavailable_when_the_modem_closes(
    emulator: ModemEmulator, device: str, ssl_config: SSLConfig
) -> None:
    held: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with Modem.open(device, margin=FAST_MARGIN) as modem:
            await modem.activate_pdp(1, apn="internet")
            opening = asyncio.create_task(modem.open_connection(ECHO_HOST, port, ssl=ssl_config))
            await eventually(lambda: bool(held), what="the handshake under way")
            await modem.aclose(timeout=0.1)
            async with asyncio.timeout(5):
                # Not CancelledError: the task that asked was not cancelled.
                with pytest.raises(ModemUnavailable):
                    await opening
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_second_aclose_returns_once_the_port_is_closed(
    emulator: ModemEmulator, device: str, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    # A signal handler closes the modem while the main task leaves "async with":
    # the one that comes second must not go on (and reopen the port) before the
    # first has closed it.
    async with _sockets(device, echo_server, ssl_config) as (port, _, modem, writers):
        emulator.detach_sink()
        first = asyncio.create_task(modem.aclose(timeout=1.0))
        await eventually(lambda: modem._closed, what="the first close under way")
        assert not first.done()
        async with asyncio.timeout(5):
            await modem.aclose()
            _assert_closed(port, writers)
            await first


class TestSlowPrompt:
    @pytest.fixture
    def emulator_config(self) -> EmulatorConfig:
        return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, prompt_latency=0.3)

    async def test_a_send_cut_off_by_the_deadline_still_gets_its_payload(
        self, emulator: ModemEmulator, device: str, echo_server: TlsTestServer, ssl_config: SSLConfig
    ) -> None:
        # The deadline passes while AT+QSSLSEND waits for its ">" prompt. Left
        # unanswered, the module takes whatever comes next as that payload: the
        # next program's AT probes went to the server, and its start-up failed.
        async with _sockets(device, echo_server, ssl_config, close_timeout=0.05) as (_, _, modem, writers):
            writers[0].write(b"p" * 1000)
            await eventually(lambda: count(emulator, "+QSSLSEND") == 1)
            await modem.aclose()
        async with Modem.open(device, margin=FAST_MARGIN, probe_attempts=1) as again:
            assert await again.command("AT") == []
