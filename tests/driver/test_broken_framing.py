"""A module that answers late, loses bytes or resets inside a block: the channel stays in step (decision 84)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Iterable

import pytest

from quectel_aio import CommandTimeout, Modem, SocketBroken, SSLConfig
from quectel_aio import _commands as cmd
from quectel_aio import _events as ev
from quectel_aio._channel import AtChannel
from quectel_aio._memory_ports import memory_port_pair
from quectel_aio._ports import Port
from quectel_aio.testing import (
    CertificateAuthority,
    EmulatorConfig,
    IssuedCert,
    ModemEmulator,
    TlsTestServer,
    server_ssl_context,
    start_tls_server,
)

from .conftest import ECHO_HOST
from .helpers import commands, eventually


class ScriptedModule:
    """The module end of a memory port: a late prompt, a block that stops, RDY."""

    def __init__(self, port: Port) -> None:
        self.port = port
        self.pending = b""
        self.lines: list[bytes] = []
        self.payloads: list[bytes] = []

    async def _line(self) -> bytes:
        while b"\r" not in self.pending:
            chunk = await self.port.read()
            if not chunk:
                raise EOFError
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\r")
        self.lines.append(line)
        return line

    async def _exactly(self, size: int) -> bytes:
        while len(self.pending) < size:
            self.pending += await self.port.read()
        data, self.pending = self.pending[:size], self.pending[size:]
        return data

    async def run(self) -> None:
        with contextlib.suppress(EOFError):
            while True:
                line = await self._line()
                if line.startswith(b"AT+QSSLSEND="):
                    size = int(line.rpartition(b",")[2])
                    await asyncio.sleep(0.1)  # the prompt comes late
                    self.port.write(b"\r\n> ")
                    self.payloads.append(await self._exactly(size))
                    self.port.write(b"\r\nSEND OK\r\n")
                elif line.startswith(b"AT+QSSLRECV="):
                    self.port.write(b"\r\n+QSSLRECV: 100\r\n" + b"x" * 40)  # then the module resets
                    await asyncio.sleep(1.5)
                    self.port.write(b"\r\nRDY\r\n")
                else:
                    self.port.write(b"\r\nOK\r\n")


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[AtChannel, ScriptedModule, list[ev.Unsolicited]]]:
    host_port, module_port = memory_port_pair()
    failures: list[BaseException] = []
    unsolicited: list[ev.Unsolicited] = []
    channel = AtChannel(host_port, unsolicited.append, failures.append, margin=0.0)
    channel.start()
    module = ScriptedModule(module_port)
    task = asyncio.create_task(module.run())
    try:
        yield channel, module, unsolicited
    finally:
        await channel.aclose()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await module_port.aclose()
    assert not failures


async def test_a_prompt_that_comes_after_the_deadline_gets_the_real_payload(
    scripted: tuple[AtChannel, ScriptedModule, list[ev.Unsolicited]],
) -> None:
    channel, module, _ = scripted
    send = asyncio.create_task(channel.execute(cmd.SslSend(1, 5), b"hello", timeout=0.3))
    await asyncio.sleep(0.05)
    time.sleep(0.5)  # noqa: ASYNC251 (a stalled host: the deadline passes while the prompt waits)
    with contextlib.suppress(CommandTimeout):
        await send
    assert (await channel.execute(cmd.Raw("AT", 5.0))).result == "OK"
    assert module.payloads == [b"hello"]  # not the next command line, not zeros
    assert module.lines[-1] == b"AT"


async def test_a_module_reset_inside_a_recv_block_is_seen(
    scripted: tuple[AtChannel, ScriptedModule, list[ev.Unsolicited]],
) -> None:
    channel, _, unsolicited = scripted
    with pytest.raises(CommandTimeout):
        await channel.execute(cmd.SslRecv(1, 100), timeout=0.3)
    await eventually(lambda: any(isinstance(event, ev.ModemReady) for event in unsolicited), timeout=5.0)
    assert (await channel.execute(cmd.Raw("AT", 5.0))).result == "OK"


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, prompt_latency=0.2)


async def test_abort_while_a_prompt_is_on_its_way_sends_the_written_bytes_not_zeros(
    modem: Modem,
    emulator: ModemEmulator,
    ca: CertificateAuthority,
    server_cert: IssuedCert,
    ssl_config: SSLConfig,
) -> None:
    received = bytearray()
    finished = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                received.extend(data)
        finally:
            finished.set()

    context = server_ssl_context(server_cert.chain_pem, server_cert.key_pem)
    async with await start_tls_server(context, sink) as server:
        _, writer = await modem.open_connection(ECHO_HOST, server.port, ssl=ssl_config)
        writer.write(b"GET /report HTTP/1.1\r\n\r\n")
        await eventually(lambda: bool(commands(emulator, "+QSSLSEND")))
        writer.transport.abort()
        async with asyncio.timeout(5):
            await finished.wait()
    assert b"\x00" not in received
    assert bytes(received) in (b"", b"GET /report HTTP/1.1\r\n\r\n")


class TestByteLostInARecvHeader:
    """One byte of a ``+QSSLRECV: <n>`` header lost on the way to the host (no flow control)."""

    armed = False
    #: "prefix": the "+"; "digit": the last digit of the length.
    lose = "prefix"

    @pytest.fixture
    def emulator_config(self) -> EmulatorConfig:
        def lose_a_header_byte(data: bytes) -> Iterable[bytes]:
            match = re.search(rb"\+QSSLRECV: ([1-9][0-9]*)\r\n", data)
            if self.armed and match is not None:
                self.armed = False
                index = match.start() if self.lose == "prefix" else match.end(1) - 1
                data = data[:index] + data[index + 1 :]
            return [data]

        return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, write_chunking=lose_a_header_byte)

    @pytest.mark.parametrize("lose", ["prefix", "digit"])
    async def test_the_socket_fails_instead_of_skipping_the_block_and_the_others_go_on(
        self, modem: Modem, echo_server: TlsTestServer, ssl_config: SSLConfig, lose: str
    ) -> None:
        self.lose = lose
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        other_reader, other_writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        writer.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        # Server bytes that, read as module lines, would close every socket.
        forged = b"".join(b'\r\n+QSSLURC: "closed",%d\r\n' % client_id for client_id in range(12))
        first = os.urandom(400) + forged + os.urandom(600 - len(forged))
        second = os.urandom(1000)
        self.armed = True
        writer.write(first)
        await eventually(lambda: not self.armed, what="the damaged read")
        with contextlib.suppress(ConnectionError):
            writer.write(second)
        received = bytearray()

        async def read_to_the_end() -> None:
            async with asyncio.timeout(10):
                while chunk := await reader.read(65536):
                    received.extend(chunk)
                    assert (first + second).startswith(received), "bytes were cut out of the stream"

        with pytest.raises(SocketBroken, match="QSSLRECV"):
            await read_to_the_end()
        assert received == b""
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
        other_writer.write(b"still here")
        async with asyncio.timeout(10):
            assert await other_reader.readexactly(10) == b"still here"
        other_writer.close()
        await other_writer.wait_closed()
