"""Raw command lines that would act on what the modem's own sockets hold are refused unsent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from quectel_aio import LocalProtocolError, Modem, SSLConfig
from quectel_aio._channel import ExchangeResult
from quectel_aio._commands import Command, Raw
from quectel_aio._ports import open_port
from quectel_aio.testing import ModemEmulator, TlsTestServer

from .conftest import ECHO_HOST
from .helpers import commands, count, eventually

#: Server bytes that read as lines would end the command and close client 1.
POISON = b'\r\nOK\r\n+QSSLURC: "closed",1\r\nRDY\r\n'


async def _refused(modem: Modem, line: str, match: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Expect ``line`` refused before it reaches the channel (the socket's own reads may go on meanwhile)."""
    sent: list[Command] = []
    execute = modem._channel.execute

    async def recording(command: Command, *args: Any, **kwargs: Any) -> ExchangeResult:
        sent.append(command)
        return await execute(command, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(modem._channel, "execute", recording)
        with pytest.raises(LocalProtocolError, match=match):
            await modem.command(line)
    assert not [command for command in sent if isinstance(command, Raw)]


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()
    assert await reader.readexactly(len(data)) == data


@pytest.mark.parametrize(
    ("template", "match"),
    [
        ("AT+QSSLRECV={id},1500", "client ID {id}"),
        ("at+qsslrecv={id},10", "client ID {id}"),
        ("AT+QSSLRECV={id}", "client ID {id}"),
        ('AT+QSSLRECV="{id}",5', "client ID {id}"),
        ("AT+QSSLCLOSE={id}", "writer.close"),
        ("AT+QSSLCLOSE={id},10", "client ID {id}"),
        ("AT+CSQ;+QSSLCLOSE={id}", "client ID {id}"),
        ("AT+QISWTMD={id},1", "switch_mode"),
        ("AT+QISWTMD={id},0", "client ID {id}"),
        ("AT+QSSLCLOSE=x{id}", "unspecified client ID"),
        ('AT+QSSLOPEN=1,5,11,"{host}",443,0', "Modem.open_connection"),
        ('AT+QSSLCFG="seclevel",{ctx},0', "SSL context {ctx}"),
        ('AT+QSSLCFG="cacert",{ctx},"UFS:other.pem"', "SSL context {ctx}"),
        ("AT+QIDEACT=1", "Modem.deactivate_pdp"),
        ("AT+QIDEACTEX=1", "PDP context 1"),
        ("AT+CGACT=0,1", "PDP context 1"),
        ("AT+CGACT=0", "unspecified PDP context"),
        ("AT+CFUN=4", "every PDP context"),
        ("AT+CGATT=0", "every PDP context"),
    ],
)
async def test_a_raw_line_on_a_live_sockets_resources_is_refused_unsent(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    template: str,
    match: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    ident, ctx = writer.get_extra_info("client_id"), writer.get_extra_info("quectel_ssl_ctx")
    values = {"id": ident, "ctx": ctx, "host": ECHO_HOST}
    await _refused(modem, template.format(**values), match.format(**values), monkeypatch)
    await _echo(reader, writer, b"still in step")
    assert [settings.seclevel for _, settings in emulator.opened_with] == [1]
    writer.close()
    await writer.wait_closed()


async def test_queries_on_a_live_sockets_resources_are_answered(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    ident, ctx = writer.get_extra_info("client_id"), writer.get_extra_info("quectel_ssl_ctx")
    await _echo(reader, writer, b"0123456789")
    assert await modem.command(f"AT+QSSLRECV={ident},0") == ["+QSSLRECV: 10,10,0"]
    assert await modem.command(f'AT+QSSLCFG="seclevel",{ctx}') == [f'+QSSLCFG: "seclevel",{ctx},1']
    assert (await modem.command(f"AT+QSSLSTATE={ident}"))[0].startswith(f"+QSSLSTATE: {ident},")
    assert (await modem.command("AT+QSSLRECV=?"))[0].startswith("+QSSLRECV: ")
    assert (await modem.command("AT+QIACT?"))[0].startswith("+QIACT: 1,")
    await _echo(reader, writer, b"still in step")
    writer.close()
    await writer.wait_closed()


async def test_a_closed_sockets_ids_and_contexts_are_free_for_raw_lines(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    ident, ctx = writer.get_extra_info("client_id"), writer.get_extra_info("quectel_ssl_ctx")
    writer.close()
    await writer.wait_closed()
    with pytest.raises(Exception, match="ERROR"):
        await modem.command(f"AT+QSSLCLOSE={ident};+QSSLRECV={ident},10")  # no such connection
    # The context the modem configured is written by someone else: the next open
    # writes and reads it again, and takes nothing for an unseen restart.
    assert await modem.command(f'AT+QSSLCFG="seclevel",{ctx},0') == []
    echo_off = count(emulator, "E")
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    assert writer.get_extra_info("quectel_ssl_ctx") == ctx
    assert count(emulator, "E") == echo_off  # the port settings were not sent again
    assert modem.boot_epoch == 0
    assert [settings.seclevel for _, settings in emulator.opened_with] == [1, 1]
    await _echo(reader, writer, b"verified again")
    writer.close()
    await writer.wait_closed()


async def test_a_raw_line_cannot_turn_on_a_payload_echo_the_parser_does_not_expect(
    modem: Modem,
    emulator: ModemEmulator,
    echo_server: TlsTestServer,
    ssl_config: SSLConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, _ = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
    for line in ("AT+QISDE=1", "AT+CSQ;+QISDE=1", "AT+QISDE=x"):
        await _refused(modem, line, "payload echo", monkeypatch)
    assert await modem.command("AT+QISDE?") == ["+QISDE: 0"]
    assert await modem.command("AT+QISDE=0;&D2") == []  # what the modem set; DTR is not its to use
    # Echoed, these bytes would close the first socket and end the send early.
    await _echo(reader, writer, b'x\r\n+QSSLURC: "closed",0\r\nSEND OK\r\n')
    assert not first.at_eof()
    await modem.aclose()


async def test_a_raw_context_write_during_an_open_waits_for_it_and_is_refused(
    modem: Modem, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    opening = asyncio.create_task(modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config))
    # The open is writing context 0 and has not read it back yet.
    await eventually(lambda: count(emulator, "+QSSLCFG") > 0)
    with pytest.raises(LocalProtocolError, match="SSL context 0"):
        await modem.command('AT+QSSLCFG="seclevel",0,0')
    reader, writer = await opening
    assert writer.get_extra_info("quectel_ssl_ctx") == 0
    assert ("seclevel", 0, 0) not in commands(emulator, "+QSSLCFG")
    assert [settings.seclevel for _, settings in emulator.opened_with] == [1]
    await _echo(reader, writer, b"verified")
    writer.close()
    await writer.wait_closed()


async def _foreign_socket_with_data(device: str, server_port: int, data: bytes) -> None:
    """Another program opens client 0, sends ``data`` to the echo server and leaves the answer unread."""
    port = await open_port(device)
    seen = b""

    async def until(marker: bytes) -> None:
        nonlocal seen
        async with asyncio.timeout(10):
            while marker not in seen:
                seen += await port.read()
        seen = seen[seen.index(marker) + len(marker) :]

    try:
        port.write(b'AT+QICSGP=1,1,"internet","","",0\rAT+QIACT=1\r')
        port.write(f'AT+QSSLOPEN=1,5,0,"{ECHO_HOST}",{server_port},0\r'.encode())
        await until(b"+QSSLOPEN: 0,0")
        port.write(f"AT+QSSLSEND=0,{len(data)}\r".encode())
        await until(b">")
        port.write(data)
        await until(b"SEND OK")
        await until(b'+QSSLURC: "recv",0')
    finally:
        await port.aclose()


async def test_a_raw_read_of_a_foreign_socket_takes_its_block_by_count(
    device: str, emulator: ModemEmulator, echo_server: TlsTestServer, ssl_config: SSLConfig
) -> None:
    await _foreign_socket_with_data(device, echo_server.port, POISON)
    async with Modem.open(device, margin=3.0) as modem:
        reader, writer = await modem.open_connection(ECHO_HOST, echo_server.port, ssl=ssl_config)
        assert writer.get_extra_info("client_id") == 1  # client 0 is the other program's
        assert await modem.command("AT+QSSLRECV=0,1500") == [f"+QSSLRECV: {len(POISON)}"]
        assert await modem.command("AT+QSSLCLOSE=0") == []
        await _echo(reader, writer, b"client 1 was not closed")
        assert modem.boot_epoch == 0
        writer.close()
        await writer.wait_closed()
