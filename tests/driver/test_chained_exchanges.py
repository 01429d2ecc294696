"""Chained exchanges: back-to-back data commands sent from the reader, and what stops a chain."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from quectel_aio import CommandError, CommandTimeout, Modem, SSLConfig
from quectel_aio import _commands as cmd
from quectel_aio._channel import AtChannel, ExchangeResult, NextStep
from quectel_aio._memory_ports import memory_port_pair
from quectel_aio._ports import Port
from quectel_aio.testing import ModemEmulator, TlsTestServer

from .conftest import ECHO_HOST
from .helpers import commands, eventually
from .modes.conftest import pattern


@dataclass
class ScriptedModule:
    """The module end of a memory port: answers AT+QSSLSEND and AT, logs every command."""

    port: Port
    #: 1-based numbers of the QSSLSEND commands answered with SEND FAIL.
    fail_sends: set[int] = field(default_factory=set)
    #: 1-based numbers of the QSSLSEND commands that get no answer after the payload.
    mute_sends: set[int] = field(default_factory=set)
    #: Seconds before each answer.
    delay: float = 0.0
    log: list[str] = field(default_factory=list)
    pending: bytearray = field(default_factory=bytearray)
    sends: int = 0
    progress: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_sends(self, count: int) -> None:
        while self.sends < count:
            self.progress.clear()
            await self.progress.wait()

    async def _read_until(self, size: int) -> bytes:
        while len(self.pending) < size:
            chunk = await self.port.read()
            if not chunk:
                raise EOFError
            self.pending += chunk
        data, self.pending = bytes(self.pending[:size]), self.pending[size:]
        return data

    async def _line(self) -> str:
        while b"\r" not in self.pending:
            chunk = await self.port.read()
            if not chunk:
                raise EOFError
            self.pending += chunk
        line, _, rest = bytes(self.pending).partition(b"\r")
        self.pending = bytearray(rest)
        return line.decode()

    async def serve(self) -> None:
        with contextlib.suppress(EOFError):
            while True:
                line = await self._line()
                self.log.append(line)
                await asyncio.sleep(self.delay)
                if line.startswith("AT+QSSLSEND="):
                    self.sends += 1
                    self.progress.set()
                    size = int(line.rsplit(",", 1)[1])
                    self.port.write(b"\r\n> ")
                    payload = await self._read_until(size)
                    self.log.append(f"<{len(payload)} bytes>")
                    await asyncio.sleep(self.delay)
                    if self.sends in self.mute_sends:
                        continue
                    self.port.write(
                        b"\r\nSEND FAIL\r\n" if self.sends in self.fail_sends else b"\r\nSEND OK\r\n"
                    )
                else:
                    self.port.write(b"\r\nOK\r\n")


@dataclass
class Setup:
    channel: AtChannel
    module: ScriptedModule


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    host_port, module_port = memory_port_pair()
    failures: list[BaseException] = []
    channel = AtChannel(host_port, lambda event: None, failures.append, margin=0.3)
    module = ScriptedModule(module_port)
    channel.start()
    server = asyncio.create_task(module.serve())
    try:
        yield Setup(channel, module)
    finally:
        await channel.aclose()
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
        await module_port.aclose()
    assert not failures


class Chunks:
    """A chain over a list of payloads; records every result it was handed."""

    def __init__(self, payloads: list[bytes]) -> None:
        self.payloads = payloads
        self.done = 0
        self.results: list[str] = []

    def first(self) -> tuple[cmd.Command, bytes]:
        return cmd.SslSend(0, len(self.payloads[0])), self.payloads[0]

    def __call__(self, result: ExchangeResult) -> NextStep:
        self.results.append(result.result)
        self.done += 1
        if self.done == len(self.payloads):
            return None
        nxt = self.payloads[self.done]
        return cmd.SslSend(0, len(nxt)), nxt


async def test_a_chain_sends_every_step_and_returns_the_last_result(setup: Setup) -> None:
    chunks = Chunks([b"a" * 10, b"b" * 1460, b"c"])
    command, payload = chunks.first()
    result = await setup.channel.execute(command, payload, chain=chunks)
    assert result.result == "SEND OK"
    assert chunks.results == ["SEND OK"] * 3
    assert setup.module.log == [
        "AT+QSSLSEND=0,10",
        "<10 bytes>",
        "AT+QSSLSEND=0,1460",
        "<1460 bytes>",
        "AT+QSSLSEND=0,1",
        "<1 bytes>",
    ]
    # The port is free and in step afterwards.
    assert (await setup.channel.execute(cmd.Attention())).result == "OK"


async def test_a_chain_yields_to_a_command_waiting_for_the_port(setup: Setup) -> None:
    setup.module.delay = 0.005
    chunks = Chunks([bytes([i]) * 100 for i in range(20)])
    command, payload = chunks.first()
    chained = asyncio.create_task(setup.channel.execute(command, payload, chain=chunks))
    await setup.module.wait_sends(2)
    assert (await setup.channel.execute(cmd.Attention())).result == "OK"
    await chained
    stopped_after = chunks.done
    assert stopped_after < 20  # the chain ended early; its caller sends the rest
    log = setup.module.log
    assert log[2 * stopped_after] == "AT"
    assert log[: 2 * stopped_after] == [
        entry for i in range(stopped_after) for entry in ("AT+QSSLSEND=0,100", "<100 bytes>")
    ]


async def test_a_failed_step_raises_after_handing_over_the_earlier_ones(setup: Setup) -> None:
    setup.module.fail_sends = {3}
    chunks = Chunks([b"x" * 5] * 5)
    command, payload = chunks.first()
    with pytest.raises(CommandError) as caught:
        await setup.channel.execute(command, payload, chain=chunks)
    assert caught.value.result == "SEND FAIL"
    assert chunks.results == ["SEND OK", "SEND OK"]
    assert (await setup.channel.execute(cmd.Attention())).result == "OK"


async def test_every_step_has_its_own_deadline(setup: Setup) -> None:
    # Each step takes 0.1 s: the chain runs longer than one deadline, yet
    # only the muted step times out.
    setup.module.delay = 0.05
    setup.module.mute_sends = {12}
    chunks = Chunks([b"y" * 3] * 15)
    command, payload = chunks.first()
    deadline = setup.channel.deadline_for(command)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(CommandTimeout):
        await setup.channel.execute(command, payload, chain=chunks)
    assert chunks.done == 11
    assert loop.time() - start > max(11 * 0.1, 1.5 * deadline)


async def test_a_chain_that_raises_fails_its_caller_not_the_reader(setup: Setup) -> None:
    def broken(result: ExchangeResult) -> NextStep:
        raise RuntimeError("chain bug")

    with pytest.raises(RuntimeError, match="chain bug"):
        await setup.channel.execute(cmd.SslSend(0, 4), b"abcd", chain=broken)
    assert (await setup.channel.execute(cmd.Attention())).result == "OK"


async def test_cancelling_a_chain_mid_way_keeps_the_channel_in_step(setup: Setup) -> None:
    setup.module.delay = 0.01
    chunks = Chunks([b"z" * 7] * 50)
    command, payload = chunks.first()
    chained = asyncio.create_task(setup.channel.execute(command, payload, chain=chunks))
    await setup.module.wait_sends(3)
    chained.cancel()
    with pytest.raises(asyncio.CancelledError):
        await chained
    sends_then = setup.module.sends
    assert (await setup.channel.execute(cmd.Attention())).result == "OK"
    assert setup.module.sends == sends_then  # no step was sent after the cancellation
    assert setup.module.log[-1] == "AT"


async def test_sockets_writing_at_once_take_turns_on_the_port(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    size = 40 * 1460
    streams = [await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config) for _ in range(3)]
    ids = [writer.get_extra_info("client_id") for _, writer in streams]
    logged = len(commands(emulator, "+QSSLSEND"))
    for index, (_, writer) in enumerate(streams):
        writer.write(pattern(size, seed=index))

    async def echoed(index: int) -> bytes:
        reader, writer = streams[index]
        await writer.drain()
        return await reader.readexactly(size)

    assert await asyncio.gather(*(echoed(i) for i in range(3))) == [pattern(size, seed=i) for i in range(3)]
    order = [params[0] for params in commands(emulator, "+QSSLSEND")[logged:]]
    assert sorted(set(order)) == sorted(ids)
    # Each socket's chain gives way as soon as another waits: no socket sends
    # more than a few chunks in a row while the others have data.
    first_half = order[: len(order) // 2]
    assert set(first_half) == set(ids)
    longest_run = max(len(list(run)) for _, run in itertools.groupby(first_half))
    assert longest_run <= 3, order
    for _, writer in streams:
        writer.close()
        await writer.wait_closed()


class PausedReader(asyncio.Protocol):
    """Reads nothing until resumed; collects what arrives."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.transport: asyncio.Transport | None = None

    def factory(self) -> PausedReader:
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        self.received += data


async def test_sockets_reading_at_once_take_turns_on_the_port(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    size = 30 * 1500
    readers = [PausedReader() for _ in range(3)]
    for reader in readers:
        await modem.create_connection(reader.factory, ECHO_HOST, echo_server.port, ssl=ssl_config)
    transports = [r.transport for r in readers]
    assert all(t is not None for t in transports)
    ids = [t.get_extra_info("client_id") for t in transports if t is not None]
    for index, transport in enumerate(transports):
        assert transport is not None
        transport.write(pattern(size, seed=index))
    # Everything echoed waits in the module until the readers resume together.
    await eventually(lambda: all(len(emulator.sockets[i].recv_buffer) == size for i in ids), 10, "echo")
    logged = len(commands(emulator, "+QSSLRECV"))
    for transport in transports:
        assert transport is not None
        transport.resume_reading()
    await eventually(lambda: all(len(r.received) == size for r in readers), 10, "reads")
    assert [bytes(r.received) for r in readers] == [pattern(size, seed=i) for i in range(3)]
    order = [params[0] for params in commands(emulator, "+QSSLRECV")[logged:]]
    first_half = order[: len(order) // 2]
    assert set(first_half) == set(ids)
    assert max(len(list(run)) for _, run in itertools.groupby(first_half)) <= 3, order
    for transport in transports:
        assert transport is not None
        transport.close()
