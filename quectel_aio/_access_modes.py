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

import structlog

from . import _commands as cmd
from ._counting_lock import CountingLock
from ._errors import CommandError, CommandTimeout, LocalProtocolError, QuectelError, SocketBroken

if TYPE_CHECKING:
    from ._channel import AtChannel

__all__ = ["AccessMode", "AccessModeSwitching", "SocketState", "parse_access_mode"]

_log = structlog.get_logger("quectel_aio.modem")


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


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a switch's outcome as seen: its caller may have been cancelled."""
    if not task.cancelled():
        task.exception()


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
    _remote_closed: bool

    # Provided by the transport.
    _data_pushed: Callable[[bytes], None]
    _remote_close: Callable[[], None]
    _fatal: Callable[[Exception], None]
    _spawn: Callable[[Any, str], None]

    # -- transparent session (see AtChannel.enter_transparent) ----------------------

    def transparent_data(self, data: bytes) -> None:
        """Raw bytes of this socket arrived while the port is transparent."""
        self._data_pushed(data)

    def transparent_ended(self, reason: str) -> None:
        """The port left transparent mode (``"OK"``, ``"NO CARRIER"``, ``"RDY"`` or ``"FAILED"``)."""
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

        Args:
            mode: the target mode, an :class:`AccessMode` or its name.

        Raises:
            LocalProtocolError: unknown mode, or push or transparent mode on
                a UART without flow control (nothing is sent).
            SocketBroken: the socket is closing or closed, or its connection
                ended while leaving transparent mode.
            CommandError, CommandTimeout: the module refused or did not answer.
        """
        target = parse_access_mode(mode)
        if target is not AccessMode.BUFFER:
            self._channel.check_unframed_mode_allowed(target.name.lower())
        self._check_open()
        # The switch is not the caller's to interrupt: once a command or "+++"
        # is out, the module switches whatever the caller does, and the socket
        # must not write or read in between. A cancelled caller leaves the
        # switch running to its end, mode lock held (decision 83).
        switch = self._loop.create_task(self._switch(target), name=f"quectel-aio-switch-{self._client_id}")
        switch.add_done_callback(_retrieve)
        await asyncio.shield(switch)

    async def _switch(self, target: AccessMode) -> None:
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
            await self._execute_switch(AccessMode.BUFFER)
            return
        if self._mode is AccessMode.PUSH:
            await self._enter_transparent(cmd.SwitchAccessMode(client_id, int(AccessMode.TRANSPARENT)))
            return
        # Out of buffer mode: the receive pump switches between two reads.
        done: asyncio.Future[None] = self._loop.create_future()
        self._pending_switch = (target, done)
        self._doorbell.set()
        await done

    def _fail_pending_switch(self, exc: Exception, done: asyncio.Future[None] | None = None) -> None:
        """End a switch that waits for the receive pump (the socket is closing or broken)."""
        if done is None:
            pending, self._pending_switch = self._pending_switch, None
            done = pending[1] if pending is not None else None
        if done is not None and not done.done():
            done.set_exception(exc)

    def _set_mode(self, mode: AccessMode) -> None:
        self._mode = mode
        self._extra["access_mode"] = mode

    async def _enter_transparent(self, command: cmd.Command) -> None:
        self._set_mode(AccessMode.TRANSPARENT)
        try:
            await self._channel.enter_transparent(command, self)
        except BaseException:
            if self._mode is AccessMode.TRANSPARENT:
                if self._channel.transparent_client != self._client_id:
                    self._set_mode(AccessMode.BUFFER)
                else:
                    self._transparent_entered()  # CONNECT came as the caller was cancelled
            raise
        self._transparent_entered()

    def _transparent_entered(self) -> None:
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
                await self._execute_switch(target)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                # The pump is being stopped (the socket closes): the caller
                # was not cancelled and hears why its switch did not happen.
                self._fail_pending_switch(
                    SocketBroken(f"client {self._client_id} was closed during the switch"), done
                )
            elif not done.done():
                done.set_exception(exc)
            if isinstance(exc, QuectelError):
                return
            raise
        if not done.done():
            done.set_result(None)

    def _reading_now(self) -> bool:
        return self._reading

    async def _execute_switch(self, target: AccessMode) -> None:
        """``AT+QISWTMD`` to buffer or push mode; the socket's mode follows the module's.

        If no answer comes in time, the module may have switched all the
        same: the socket asks it which mode it is in (``AT+QSSLSTATE``, once
        the abandoned exchange has let the port go) before it reads or
        switches again, rather than go on in a mode the module is no longer
        in (decision 83). Callers are never cancelled half way: switches run
        as their own tasks (:meth:`switch_mode`).
        """
        try:
            await self._channel.execute(cmd.SwitchAccessMode(self._client_id, int(target)))
        except CommandTimeout:
            # Before anything else reads or switches (the caller holds the
            # mode lock, or is the receive pump itself).
            await self._resync_mode()
            raise
        self._set_mode(target)
        if target is AccessMode.BUFFER:
            self._doorbell.set()  # whatever the module holds now is read with QSSLRECV

    async def _resync_mode(self) -> None:
        """Take the access mode from ``AT+QSSLSTATE`` after a switch that got no answer in time."""
        if self._state is SocketState.CLOSED or self._mode is AccessMode.TRANSPARENT:
            return
        try:
            result = await self._channel.execute(cmd.SslState(self._client_id))
            states = [cmd.parse_ssl_state_line(line) for line in result.lines]
        except QuectelError as exc:
            _log.warning("access_mode_unknown", client_id=self._client_id, error=str(exc))
            return
        for state in states:
            if state.client_id == self._client_id and state.access_mode in (0, 1):
                mode = AccessMode(state.access_mode)
                if mode is not self._mode:
                    _log.info("access_mode_resynchronised", client_id=self._client_id, mode=mode.name)
                    self._set_mode(mode)
                if mode is AccessMode.BUFFER:
                    self._doorbell.set()
                return

    async def _overflow_to_buffer(self) -> None:
        async with self._mode_lock:
            if self._mode is AccessMode.PUSH and not self._reading and self._state is SocketState.OPEN:
                try:
                    await self._execute_switch(AccessMode.BUFFER)
                except QuectelError as exc:
                    if self.access_mode is not AccessMode.BUFFER and self._state is SocketState.OPEN:
                        # The module goes on pushing into a paused protocol:
                        # holding that without bound is no option (decision 45).
                        error = SocketBroken(
                            f"client {self._client_id}: cannot pause reading, the switch to "
                            f"buffer mode failed: {exc}"
                        )
                        error.__cause__ = exc
                        self._fatal(error)
                        return
                self._overflowed = True
                if self._reading_now():
                    # resume_reading() ran while the switch was on its way and
                    # found nothing to restore yet.
                    self._spawn(self._restore_push(), "restore-push")

    async def _restore_push(self) -> None:
        async with self._mode_lock:
            if self._overflowed and self._reading and self._state is SocketState.OPEN:
                self._overflowed = False
                if self._remote_closed:
                    # The peer is gone: what the module still holds is read in
                    # buffer mode, before the end of the stream.
                    self._doorbell.set()
                    return
                try:
                    await self._switch_locked(AccessMode.PUSH)
                except QuectelError as exc:
                    # Buffer mode reads all the same (a doorbell or the poll).
                    _log.warning("push_not_restored", client_id=self._client_id, error=str(exc))
                    self._doorbell.set()

    async def _read_rest_in_buffer_mode(self) -> bool:
        """The peer closed a push-mode socket: switch to buffer mode to collect what is left.

        Pushed data the module emits before the switch's ``OK`` arrives in
        order; what it still holds is then read with ``AT+QSSLRECV`` before
        the end of the stream is reported. This matters when the socket came
        back from buffer mode shortly before: the module pushes its backlog
        after the switch, possibly after the ``closed`` URC.

        Returns:
            True if the socket is now in buffer mode; False if the module
            refused the switch (the socket is gone, nothing is left to read).
        """
        async with self._mode_lock:
            if self._mode is AccessMode.PUSH:
                try:
                    await self._execute_switch(AccessMode.BUFFER)
                except CommandError:
                    return False
            return self._mode is AccessMode.BUFFER
