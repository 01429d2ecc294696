"""Transparent access mode (SSL Application Note §1.4).

After ``CONNECT`` the port is exclusive: host bytes go to the TLS stream,
network bytes go to the port, unframed. The session ends with

* ``+++`` typed within the guard time, with at least the guard time of silence
  before and after it on the link (timed by the bytes' arrival): ``OK``; the connection stays up in buffer access mode
  and ``ATO`` (or ``AT+QISWTMD=<id>,2``) returns to it;
* the connection closing: ``NO CARRIER``; the socket stays in state closing
  until ``AT+QSSLCLOSE``;
* a DTR drop (:meth:`ModemEmulator.set_dtr`) after ``AT&D1`` (``OK``, as for
  ``+++``) or ``AT&D2`` (the connection ends: ``NO CARRIER``).

URCs raised meanwhile are held and printed after ``OK``/``NO CARRIER``, or
lost (``EmulatorConfig.transparent_urcs="dropped"``; pushed data is still held).
"""

from __future__ import annotations

import asyncio

from .._grammar import CommandKind, ParsedCommand
from ._emulator import ModemEmulator
from ._network import SocketState, TlsSocket
from ._registry import register
from ._wire import CONNECT, OK

__all__ = ["NO_CARRIER", "enter_transparent", "run_transparent"]

NO_CARRIER = b"\r\nNO CARRIER\r\n"
_PLUS = 0x2B
_ESCAPE = b"+++"


async def run_transparent(emu: ModemEmulator, sock: TlsSocket) -> bytes:
    """Pipe bytes until ``+++`` or the connection ends; return the final result.

    The silence around ``+++`` is timed by when bytes arrived on the link,
    not by when they are read here: a busy session (a peer that applies
    backpressure) still sees a guarded escape as one.
    """
    guard = emu.config.escape_guard_time
    loop = asyncio.get_running_loop()
    last_data = loop.time()  # CONNECT counts as the start of the silence
    pending = bytearray()  # '+' characters that may become the escape sequence
    pending_since = last_plus = 0.0
    emu.last_transparent = sock.client_id
    emu.take_dtr_exit()
    while True:
        if not _connected(sock):
            return NO_CARRIER
        exit_result = emu.take_dtr_exit()
        if exit_result is not None:
            if exit_result == "OK":
                sock.set_mode(0)
                return OK
            sock.abort_transport()
            return NO_CARRIER
        if pending:
            limit = pending_since + guard if len(pending) < 3 else last_plus + guard
            wait: float | None = max(limit - loop.time(), 0.0)
        else:
            wait = None
        runs = await emu.input.peek_timed(wait)
        if not _connected(sock):
            return NO_CARRIER
        if not runs:
            now = loop.time()
            if pending and len(pending) == 3 and now - last_plus >= guard:
                sock.set_mode(0)
                return OK
            if pending and now - pending_since > guard:
                # Too slow to be an escape: the pluses were data.
                await _forward(sock, bytes(pending))
                pending.clear()
                last_data = last_plus  # the silence runs from the last '+' on the link
            continue
        out = bytearray()
        taken = 0
        escaped = False
        for at, chunk in runs:
            if len(pending) == 3 and at - last_plus >= guard:
                escaped = True  # the silence after +++ was kept; later bytes are commands
                break
            if pending and len(pending) < 3 and at - pending_since > guard:
                # Too slow to be an escape: the pluses were data, and the
                # silence before this run counts from the last of them.
                out += pending
                pending.clear()
                last_data = last_plus
            data_in_run = False
            for byte in chunk:
                if byte == _PLUS and len(pending) < 3:
                    if pending and at - pending_since <= guard:
                        pending.append(byte)
                        last_plus = at
                        continue
                    if not pending and at - last_data >= guard and not data_in_run:
                        pending.append(byte)
                        pending_since = last_plus = at
                        continue
                if pending:
                    out += pending
                    pending.clear()
                out.append(byte)
                data_in_run = True
            if data_in_run:
                last_data = at
            taken += len(chunk)
        emu.input.discard(taken)
        if out:
            await _forward(sock, bytes(out))
        if escaped:
            sock.set_mode(0)
            return OK


def _connected(sock: TlsSocket) -> bool:
    return sock.state is SocketState.CONNECTED


async def _forward(sock: TlsSocket, data: bytes) -> None:
    if sock.state is SocketState.CONNECTED:
        sock.send(data)
        await sock.drain()


async def enter_transparent(emu: ModemEmulator, sock: TlsSocket) -> bytes:
    """Print CONNECT, flush buffered data raw, then run the session."""
    sock.set_mode(2)
    emu.input.drop_leading_lf()
    emu.write_now(CONNECT)
    if sock.recv_buffer:
        emu.write_now(sock.consume(len(sock.recv_buffer)))
    sock.transparent_ready = True
    emu.in_transparent = True
    try:
        return await run_transparent(emu, sock)
    finally:
        emu.in_transparent = False


@register("O")
async def ato(emu: ModemEmulator, cmd: ParsedCommand) -> bytes:
    """ATO: return to the connection that last left transparent mode."""
    if cmd.kind is not CommandKind.EXECUTE or cmd.raw_args not in ("", "0"):
        return b"\r\nERROR\r\n"
    client_id = emu.last_transparent
    sock = emu.sockets.get(client_id) if client_id is not None else None
    if sock is None or sock.state is not SocketState.CONNECTED:
        return NO_CARRIER
    return await enter_transparent(emu, sock)
