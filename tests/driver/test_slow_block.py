"""A data block that arrives slowly, without a pause, is never taken for a dead one (decision 84)."""

from __future__ import annotations

import asyncio
import contextlib

from quectel_aio import CommandTimeout
from quectel_aio import _commands as cmd
from quectel_aio import _events as ev
from quectel_aio._channel import AtChannel
from quectel_aio._memory_ports import memory_port_pair
from quectel_aio._ports import Port

# Peer bytes that would read as module lines if the block were cut short.
_FORGED = b"y" * 1200 + b'\r\n+QSSLURC: "closed",3\r\n' + b"\r\nRDY\r\n"
PAYLOAD = _FORGED + b"z" * (1500 - len(_FORGED))


async def _slow_module(port: Port) -> None:
    pending = b""
    while chunk := await port.read():
        pending += chunk
        while b"\r" in pending:
            line, _, pending = pending.partition(b"\r")
            if line.startswith(b"AT+QSSLRECV"):
                await asyncio.sleep(0.9)  # so late that the caller gives up
                port.write(b"\r\n+QSSLRECV: 1500\r\n")
                for offset in range(0, 1500, 15):  # about 15 kB/s, never a pause over 10 ms
                    port.write(PAYLOAD[offset : offset + 15])
                    await asyncio.sleep(0.01)
                port.write(b"\r\n\r\nOK\r\n")
            else:
                port.write(b"\r\nOK\r\n")


async def test_a_slow_block_after_a_timeout_is_consumed_not_parsed() -> None:
    host_port, module_port = memory_port_pair()
    unsolicited: list[ev.Unsolicited] = []
    failures: list[BaseException] = []
    channel = AtChannel(host_port, unsolicited.append, failures.append, margin=0.0)
    channel.start()
    module = asyncio.create_task(_slow_module(module_port))
    try:
        with contextlib.suppress(CommandTimeout):
            await channel.execute(cmd.SslRecv(1, 1500), timeout=0.3)
        await asyncio.sleep(2.5)  # the block takes about 1.5 s after the header
        assert not any(isinstance(event, ev.SslClosed | ev.ModemReady) for event in unsolicited)
        assert (await channel.execute(cmd.Raw("AT", 5.0))).result == "OK"
        assert not failures
    finally:
        await channel.aclose()
        module.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await module
        await module_port.aclose()
