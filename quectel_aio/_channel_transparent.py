"""Transparent sessions of the AT channel (see :mod:`._channel`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from . import _commands as cmd
from . import _events as ev
from ._connection import ModemConnection
from ._counting_lock import CountingLock
from ._errors import (
    CommandError,
    CommandTimeout,
    LocalProtocolError,
    ModemUnavailable,
    QuectelError,
    RemoteProtocolError,
    SocketBroken,
)
from ._ports import Port

__all__ = ["TransparentChannel", "TransparentSession"]


class TransparentSession(Protocol):
    """Receives what the port carries while it is transparent for one socket."""

    def transparent_data(self, data: bytes) -> None:
        """Raw socket bytes arrived."""

    def transparent_ended(self, reason: str) -> None:
        """The port is back in command mode (``"OK"``, ``"NO CARRIER"`` or ``"RDY"``)."""


class TransparentChannel:
    """The transparent-mode part of :class:`~quectel_aio._channel.AtChannel`."""

    _core: ModemConnection
    _port: Port
    _lock: CountingLock
    _handed_over: bool
    _margin: float
    _write_timeout: float
    _session: TransparentSession | None
    _session_owns_lock: bool
    _session_ended: asyncio.Future[str] | None
    _escape_sent: bool
    _escape_task: asyncio.Task[str] | None
    _orphan_session: tuple[int, TransparentSession] | None
    _read_gate: asyncio.Event
    _tail_timer: asyncio.TimerHandle | None
    escape_guard_time: float
    dtr_escape: bool
    #: Push and transparent mode are allowed on a UART without RTS/CTS (an explicit opt-in).
    unprotected_uart_ok: bool = False
    tail_hold: float
    log: structlog.stdlib.BoundLogger

    # Provided by AtChannel.
    _check_usable: Callable[[], None]
    _exchange_locked: Callable[[cmd.Command, bytes | None, float | None], Awaitable[ev.Response]]
    _describe_failure_locked: Callable[[cmd.Command, ev.CommandFailed], Awaitable[CommandError]]
    _fail: Callable[[BaseException], None]
    _drain_events: Callable[[], None]

    @property
    def transparent_client(self) -> int | None:
        """The client ID that holds the port in transparent mode, if any."""
        return self._core.transparent_client

    async def enter_transparent(
        self, command: cmd.Command, session: TransparentSession, *, timeout: float | None = None
    ) -> None:
        """Run a command that answers ``CONNECT`` and keep the port for ``session``.

        On return the port is transparent: the lock stays held until the
        session ends, and ``session`` receives every raw byte.

        Raises:
            LocalProtocolError: ``command`` does not open a transparent session.
            CommandError: the module refused (``ERROR``, ``NO CARRIER``).
            CommandTimeout, ModemUnavailable: as for :meth:`execute`.
        """
        if command.transparent_client is None:
            raise LocalProtocolError(f"{command.at_name} does not open a transparent session")
        self._check_usable()
        await self._lock.acquire()
        self._handed_over = False
        entered = False
        try:
            self._check_usable()
            # Installed before the command: data may follow CONNECT in the same read.
            self._session = session
            self._orphan_session = None
            self._escape_sent = False
            response = await self._exchange_locked(command, None, timeout)
            if isinstance(response, ev.CommandSucceeded):
                if response.result != "CONNECT":
                    # Only CONNECT turns the port into a raw pipe; after OK the
                    # module would read the session's bytes as command lines.
                    raise RemoteProtocolError(
                        f"{command.at_name} answered {response.result}, not CONNECT: "
                        "the port is still in command mode"
                    )
                if self._session is session:
                    self._session_owns_lock = True
                    entered = True
                    self.log.info("transparent_entered", client_id=command.transparent_client)
                return
            if isinstance(response, ev.CommandFailed):
                raise await self._describe_failure_locked(command, response)
            raise RemoteProtocolError(f"unexpected response {type(response).__name__}")
        finally:
            if (
                not entered
                and self._session is session
                and self._core.transparent_client == command.transparent_client
                and not self._handed_over
            ):
                # CONNECT was parsed as the caller was cancelled: the port is
                # transparent for this session whatever became of the caller.
                # The session keeps it (and the lock) until it leaves with
                # +++ or NO CARRIER; dropping it would wedge the port.
                self._session_owns_lock = True
                entered = True
                self.log.info("transparent_entered", client_id=command.transparent_client, caller="gone")
            if not entered:
                if self._session is session:
                    self._session = None
                if self._handed_over:
                    # Abandoned: a late CONNECT makes the port transparent
                    # until the orphan escape; the bytes before it are still
                    # this session's (decision 85).
                    self._orphan_session = (command.transparent_client, session)
                    self._handed_over = False
                else:
                    self._lock.release()

    def _session_for(self, client_id: int) -> TransparentSession | None:
        """Who gets raw bytes of ``client_id``: the session, or an abandoned one."""
        if self._session is not None:
            return self._session
        orphan = self._orphan_session
        return orphan[1] if orphan is not None and orphan[0] == client_id else None

    def check_unframed_mode_allowed(self, mode: str) -> None:
        """Refuse push or transparent mode (``mode``) where a lost byte would go unnoticed.

        Raises:
            LocalProtocolError: the port is a UART without RTS/CTS and
                ``Modem.open(unprotected_uart_ok=True)`` was not given.
        """
        if self._port.unprotected_uart and not self.unprotected_uart_ok:
            raise LocalProtocolError(
                f"{mode} mode on {self._port.name} needs hardware flow control: a byte the host "
                "misses on a UART without RTS/CTS is lost, and the stream shifts with nothing to "
                "tell (server data can be read as module output); open the port with rtscts=True "
                "(--rtscts; RTS and CTS wired), use buffer mode, or pass unprotected_uart_ok=True "
                "to Modem.open"
            )

    def write_transparent(self, data: bytes) -> None:
        """Write socket bytes while the port is transparent.

        Raises:
            LocalProtocolError: the port is not transparent or an escape is pending.
        """
        self._check_usable()
        self._port.write(self._core.send_transparent(data))

    async def drain(self) -> None:
        """Wait until the port's write buffer has room again.

        Bounded like every write on the port: the time the queued bytes need
        at the line's speed, plus ``write_timeout`` for a link that stopped
        taking them (a module holding CTS low).

        Raises:
            ModemUnavailable: the bytes did not leave in time; the port is aborted.
        """
        await self._port.drain(timeout=self._write_timeout + self._port.transmit_backlog())

    def pause_port_reading(self) -> None:
        """Stop reading the port (transparent mode only: the port is exclusive)."""
        if self._session is not None:
            self._read_gate.clear()

    def resume_port_reading(self) -> None:
        """Read the port again."""
        self._read_gate.set()

    async def escape_stale_data_mode(self) -> None:
        """Type ``+++`` between guard times for a module that answers no ``AT``.

        A module left in transparent mode (by an earlier run of the host
        program) takes every command for its peer; ``+++`` brings it back to
        command mode, and its ``OK`` is read as an unsolicited line before the
        port is handed on. A module that was in command mode after all holds
        ``+++`` as the start of a command line: the next ``AT`` fails and clears it.
        """
        self._check_usable()
        await self._lock.acquire()
        try:
            silence = self.escape_guard_time * 1.1 + 0.05
            await asyncio.sleep(silence)
            self.log.warning("escaping_stale_data_mode")
            self._port.write(b"+++")
            await asyncio.sleep(silence + self._margin)  # the guard time, then the module's OK
        finally:
            self._lock.release()

    async def escape_transparent(self) -> str:
        """Leave transparent mode: silence, ``+++``, silence, then ``OK``.

        Returns:
            ``"OK"`` (the socket stays open in buffer access mode),
            ``"NO CARRIER"`` (the connection ended meanwhile) or ``"RDY"``
            (the module restarted meanwhile).

        Raises:
            ModemUnavailable: no answer to ``+++``; the channel is failed,
                since the port's state is unknown.
        """
        task = self._escape_task
        if task is None:
            if self._core.transparent_client is None:
                return "NO CARRIER"
            task = self._start_escape()
        # The escape is not the caller's to interrupt: "+++" may be out, and
        # the port is only usable again once the module's OK (or the quiet
        # after it) has been seen. A cancelled caller leaves it running.
        return await asyncio.shield(task)

    def _start_escape(self) -> asyncio.Task[str]:
        task = asyncio.get_running_loop().create_task(self._escape(), name="quectel-aio-escape")
        self._escape_task = task

        def done(finished: asyncio.Task[str]) -> None:
            if self._escape_task is finished:
                self._escape_task = None
            if not finished.cancelled():
                finished.exception()  # retrieved: a caller that was cancelled cannot

        task.add_done_callback(done)
        return task

    async def _escape_orphan(self) -> None:
        with contextlib.suppress(QuectelError):
            await self.escape_transparent()

    async def _escape_by_dtr(self) -> str:
        """DTR ON to OFF (``AT&D1`` is set): ``OK`` without guard times, then DTR ON again."""
        core, loop = self._core, asyncio.get_running_loop()
        ended: asyncio.Future[str] = loop.create_future()
        self._session_ended = ended
        owned = self._session_owns_lock
        self._read_gate.set()  # the module's OK must be read, paused or not
        try:
            with contextlib.suppress(TimeoutError):
                await self._port.drain(timeout=self._write_timeout)
                # Bytes still on the line when DTR drops would reach the command line.
                await asyncio.wait_for(asyncio.shield(ended), self._port.transmit_backlog())
            if core.transparent_client is None:
                return "NO CARRIER"
            self._escape_sent = True
            core.start_escape()  # expect OK; nothing is written in-band
            self._port.set_dtr(False)
            try:
                async with asyncio.timeout(self._margin + 1.0):
                    reason = await asyncio.shield(ended)
            except TimeoutError:
                exc = ModemUnavailable("the module did not leave transparent mode when DTR dropped")
                self._fail(exc)
                raise exc from None
            finally:
                with contextlib.suppress(QuectelError):
                    self._port.set_dtr(True)
        finally:
            self._session_ended = None
        if reason == "NO CARRIER" and owned:
            self._lock.release()  # nothing was typed into the module's command line
        return reason

    async def _escape(self) -> str:
        if self.dtr_escape:
            return await self._escape_by_dtr()
        core, loop = self._core, asyncio.get_running_loop()
        guard = self.escape_guard_time
        silence = guard + max(0.1 * guard, 0.05)
        ended: asyncio.Future[str] = loop.create_future()
        self._session_ended = ended
        owned = self._session_owns_lock
        client = core.transparent_client
        reason = ""
        # The module's OK must be read even while the session's reader is
        # paused; bytes before it still go to the session (decision 85).
        self._read_gate.set()
        try:
            for attempt in (1, 2):
                with contextlib.suppress(TimeoutError):
                    await self._port.drain(timeout=self._write_timeout)
                    # Silence before, counted from when the last byte leaves the
                    # line; wake early if the connection ends meanwhile.
                    backlog = self._port.transmit_backlog()
                    reason = await asyncio.wait_for(asyncio.shield(ended), silence + backlog)
                    break
                if core.transparent_client is None:
                    reason = "NO CARRIER"
                    break
                self._escape_sent = True
                self._port.write(core.start_escape())
                try:
                    async with asyncio.timeout(silence + guard + self._margin):
                        reason = await asyncio.shield(ended)
                    break
                except TimeoutError:
                    # The module took "+++" for data (the silence before it was
                    # too short on its side); it is still transparent.
                    core.cancel_escape()
                    self.log.warning("escape_not_answered", attempt=attempt)
            else:
                exc = ModemUnavailable(
                    f"the module did not leave transparent mode after +++ ({guard:g} s guard)"
                )
                self._fail(exc)
                raise exc
        finally:
            self._session_ended = None
        if reason == "NO CARRIER" and owned and self._escape_sent:
            # The connection ended after a +++ went out (in this attempt or an
            # unanswered earlier one): the module may hold "+++" as the start
            # of a command line. One AT exchange flushes it, then the lock goes.
            await self._flush_command_line()
        if attempt > 1 and reason == "OK":
            raise SocketBroken(
                f"client {client}: a first +++ was taken as data and reached the peer; "
                "the port is in command mode again but the stream is no longer intact"
            )
        return reason

    async def _flush_command_line(self) -> None:
        self._handed_over = False
        try:
            with contextlib.suppress(CommandError, CommandTimeout, RemoteProtocolError):
                await self._exchange_locked(cmd.Attention(), None, None)
        finally:
            if self._handed_over:
                self._handed_over = False
            else:
                self._lock.release()

    def _session_end(self, reason: str) -> None:
        session, self._session = self._session, None
        if session is None and self._orphan_session is not None:
            session = self._orphan_session[1]  # the late CONNECT of an abandoned switch
        self._orphan_session = None
        owned, self._session_owns_lock = self._session_owns_lock, False
        self._read_gate.set()
        if self._tail_timer is not None:
            self._tail_timer.cancel()
            self._tail_timer = None
        ended = self._session_ended
        if ended is not None and not ended.done():
            ended.set_result(reason)
        self.log.info("transparent_ended", reason=reason)
        if session is not None:
            session.transparent_ended(reason)
        if owned and not (self._escape_sent and reason == "NO CARRIER"):
            self._lock.release()

    def _arm_tail_timer(self) -> None:
        if self._tail_timer is not None:
            self._tail_timer.cancel()
        self._tail_timer = asyncio.get_running_loop().call_later(self.tail_hold, self._release_tail)

    def _release_tail(self) -> None:
        self._tail_timer = None
        if self._port.pending:
            # More bytes are in, not yet parsed (the loop ran this timer in the
            # same pass as their arrival): they may complete NO CARRIER or OK.
            # The reader parses them and holds or arms again (decision 85).
            return
        self._core.release_transparent_tail()
        self._drain_events()
