"""Access modes of a module SSL socket and switching between them.

:class:`AccessModeSwitching` is the part of
:class:`~quectel_aio.transport.ModemSocketTransport` that moves a live socket
between buffer, direct push and transparent mode (see the transport's module
docstring for the rules it keeps).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from . import _commands as cmd
from ._counting_lock import CountingLock
from ._errors import LocalProtocolError, QuectelError, SocketBroken

if TYPE_CHECKING:
    from ._channel import AtChannel

__all__ = ["AccessMode", "AccessModeSwitching", "SocketState", "parse_access_mode"]


class AccessMode(enum.IntEnum):
    """``<access_mode>`` of AT+QSSLOPEN (SSL Application Note §1.4)."""

    #: Data waits in the module until read with AT+QSSLRECV.
    BUFFER = 0
    #: Data is pushed inside ``+QSSLURC: "recv",<id>,<len>``.
    PUSH = 1
    #: The port becomes a raw pipe for the socket.
    TRANSPARENT = 2


class SocketState(enum.Enum):
    """Lifecycle of a socket transport."""

    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


_MODE_NAMES = {"buffer": AccessMode.BUFFER, "push": AccessMode.PUSH, "transparent": AccessMode.TRANSPARENT}


def parse_access_mode(mode: AccessMode | str) -> AccessMode:
    """``"buffer"``, ``"push"``, ``"transparent"`` or an :class:`AccessMode`.

    Raises:
        LocalProtocolError: anything else.
    """
    if isinstance(mode, AccessMode):
        return mode
    if isinstance(mode, str) and mode in _MODE_NAMES:
        return _MODE_NAMES[mode]
    raise LocalProtocolError(f"mode must be one of {sorted(_MODE_NAMES)}, not {mode!r}")


class AccessModeSwitching:
    """Mode switching for :class:`~quectel_aio.transport.ModemSocketTransport`."""

    _channel: AtChannel
    _client_id: int
    _loop: asyncio.AbstractEventLoop
    _extra: dict[str, Any]
    _mode: AccessMode
    _state: SocketState
    _reading: bool
    _overflowed: bool
    _mode_lock: CountingLock
    _pending_switch: tuple[AccessMode, asyncio.Future[None]] | None
    _doorbell: asyncio.Event
    _write_wakeup: asyncio.Event
    _no_carrier: bool

    # Provided by the transport.
    _data_pushed: Callable[[bytes], None]
    _remote_close: Callable[[], None]
    _fatal: Callable[[Exception], None]

    # -- transparent session (see AtChannel.enter_transparent) ----------------------

    def transparent_data(self, data: bytes) -> None:
        """Raw bytes of this socket arrived while the port is transparent."""
        self._data_pushed(data)

    def transparent_ended(self, reason: str) -> None:
        """The port left transparent mode (``"OK"``, ``"NO CARRIER"`` or ``"FAILED"``)."""
        if self._mode is AccessMode.TRANSPARENT:
            self._set_mode(AccessMode.BUFFER)  # after +++ the module keeps the socket in buffer mode
        if reason == "NO CARRIER":
            self._no_carrier = True
            self._remote_close()
        else:
            self._doorbell.set()

    @property
    def access_mode(self) -> AccessMode:
        """The socket's current access mode."""
        return self._mode

    async def switch_mode(self, mode: AccessMode | Literal["buffer", "push", "transparent"]) -> None:
        """Switch the socket's access mode with ``AT+QISWTMD`` (``+++`` out of transparent).

        While a socket is transparent the port is exclusive to it: commands
        for other sockets wait until it leaves that mode.

        Raises:
            LocalProtocolError: unknown mode (nothing is sent).
            SocketBroken: the socket is closing or closed, or its connection
                ended while leaving transparent mode.
            CommandError, CommandTimeout: the module refused or did not answer.
        """
        target = parse_access_mode(mode)
        self._check_open()
        async with self._mode_lock:
            self._check_open()
            self._overflowed = False
            await self._switch_locked(target)

    def _check_open(self) -> None:
        if self._state is not SocketState.OPEN:
            raise SocketBroken(f"client {self._client_id} is closing or closed")

    async def _switch_locked(self, target: AccessMode) -> None:
        channel, client_id = self._channel, self._client_id
        if self._mode is target:
            return
        if self._mode is AccessMode.TRANSPARENT:
            try:
                reason = await channel.escape_transparent()
            except SocketBroken as exc:
                self._fatal(exc)  # stray "+++" bytes reached the peer
                raise
            if reason != "OK":
                raise SocketBroken(f"client {client_id}: the connection ended while leaving transparent mode")
            if target is AccessMode.BUFFER:
                return
        if target is AccessMode.BUFFER:
            await channel.execute(cmd.SwitchAccessMode(client_id, int(AccessMode.BUFFER)))
            self._set_mode(AccessMode.BUFFER)
            self._doorbell.set()
            return
        if self._mode is AccessMode.PUSH:
            await self._enter_transparent(cmd.SwitchAccessMode(client_id, int(AccessMode.TRANSPARENT)))
            return
        # Out of buffer mode: the receive pump switches between two reads.
        done: asyncio.Future[None] = self._loop.create_future()
        self._pending_switch = (target, done)
        self._doorbell.set()
        await done

    def _set_mode(self, mode: AccessMode) -> None:
        self._mode = mode
        self._extra["access_mode"] = mode

    async def _enter_transparent(self, command: cmd.Command) -> None:
        self._set_mode(AccessMode.TRANSPARENT)
        try:
            await self._channel.enter_transparent(command, self)
        except BaseException:
            if self._mode is AccessMode.TRANSPARENT and self._channel.transparent_client != self._client_id:
                self._set_mode(AccessMode.BUFFER)
            raise
        if not self._reading:
            self._channel.pause_port_reading()
        self._write_wakeup.set()

    async def _perform_pending_switch(self) -> None:
        pending, self._pending_switch = self._pending_switch, None
        if pending is None:
            return
        target, done = pending
        try:
            if target is AccessMode.TRANSPARENT:
                await self._enter_transparent(cmd.SwitchAccessMode(self._client_id, int(target)))
            else:
                await self._channel.execute(cmd.SwitchAccessMode(self._client_id, int(target)))
                self._set_mode(target)
        except BaseException as exc:
            if not done.done():
                done.set_exception(exc)
            if isinstance(exc, QuectelError):
                return
            raise
        if not done.done():
            done.set_result(None)

    async def _overflow_to_buffer(self) -> None:
        async with self._mode_lock:
            if self._mode is AccessMode.PUSH and not self._reading and self._state is SocketState.OPEN:
                await self._channel.execute(cmd.SwitchAccessMode(self._client_id, int(AccessMode.BUFFER)))
                self._set_mode(AccessMode.BUFFER)
                self._overflowed = True

    async def _restore_push(self) -> None:
        async with self._mode_lock:
            if self._overflowed and self._reading and self._state is SocketState.OPEN:
                self._overflowed = False
                await self._switch_locked(AccessMode.PUSH)
