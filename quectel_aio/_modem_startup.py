"""Start-up, restart, port failure and shutdown of a :class:`~quectel_aio.Modem`.

The module is probed with ``AT`` (and taken out of a transparent session an
earlier run left behind with ``+++``), then given the port settings that
framing depends on. A restart seen by its ``RDY`` or by a command echo coming
back breaks every socket, forgets the SSL contexts and runs the same start-up
again. One found only by an SSL context read-back
(:class:`~quectel_aio._ssl_contexts.SslContextTable`) gets the port settings
again, and is handled the same way once ``AT+QSSLSTATE`` confirms it.
Shutdown closes every socket under one deadline, then the port.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from . import _commands as cmd
from ._channel import AtChannel
from ._errors import (
    CommandError,
    CommandTimeout,
    ModemUnavailable,
    QuectelError,
    RemoteProtocolError,
    SocketBroken,
)
from ._orphans import OrphanSockets
from ._ports import Port
from ._ssl_contexts import SslContextTable

if TYPE_CHECKING:
    from .transport import ModemSocketTransport

__all__ = ["ModemStartup"]


class ModemStartup(OrphanSockets):
    """Start-up, restart and shutdown (a mixin of :class:`~quectel_aio.Modem`)."""

    _channel: AtChannel
    _port: Port
    _contexts: SslContextTable
    _sockets: dict[int, ModemSocketTransport]
    _opening: dict[int, asyncio.Future[int]]
    _urc_port: str | None
    _close_timeout: float
    _port_closed: asyncio.Future[None] | None
    _epoch: int
    _closed: bool
    _reinit_task: asyncio.Task[None] | None
    log: Any

    async def _initialise(self, probe_attempts: int = 10) -> None:
        for attempt in range(probe_attempts + 1):
            if attempt == min(3, probe_attempts):
                await self._channel.escape_stale_data_mode()  # left transparent by an earlier run?
            try:
                await self._channel.execute(cmd.Attention(), timeout=1.0)
                break
            except (CommandTimeout, CommandError):
                self.log.info("probe_unanswered", attempt=attempt + 1)
        else:
            heard = self._channel.bytes_read
            hint = (
                f"{heard} bytes came back but no answer: wrong baud rate?"
                if heard
                else "nothing came back: is the module on, and is this its AT port? A module "
                "still taking the payload of a send a crashed program began answers nothing "
                "until it is restarted"
            )
            raise ModemUnavailable(
                f"no answer to AT on {self._port.name} after {attempt + 1} probes and +++; {hint}"
            )
        await self._apply_port_settings()
        self.log.info("modem_ready", epoch=self._epoch)

    async def _apply_port_settings(self) -> None:
        """The settings a restart resets that framing and URC routing depend on."""
        await self._channel.execute(cmd.SetEcho(False))
        if not self._channel.payload_echo:
            # Payload echo is the factory default of AT+QISDE on Quectel's
            # TCP/IP stack; an echoed binary payload could hold "SEND OK".
            try:
                await self._channel.execute(cmd.Raw("AT+QISDE=0"))
            except CommandError as exc:
                self.log.info("payload_echo_setting_refused", error=str(exc))
        await self._channel.execute(cmd.SetErrorFormat(1))
        if self._port.hardware_flow_control:
            # The host's RTS/CTS is only half of it: the module honours RTS (and
            # drives CTS) once told to; a restart forgets it unless saved.
            try:
                await self._channel.execute(cmd.Raw("AT+IFC=2,2"))
            except CommandError as exc:  # a USB port opened with rtscts=True, say
                self.log.warning("flow_control_refused", error=str(exc))
                if self._port.uart:
                    # The module ignores RTS: what it sends can overrun the host.
                    self._port.unprotected_uart = True
        if self._channel.dtr_escape:
            # DTR ON-to-OFF: back to command mode, the connection kept (lost at restart).
            await self._channel.execute(cmd.Raw("AT&D1"))
        if self._urc_port is not None:
            await self._channel.execute(cmd.Raw(f'AT+QURCCFG="urcport","{self._urc_port}"'))

    def _on_restart(self, in_band: bool = False) -> None:
        self._forget_boot(in_band)
        if not self._closed:
            self._reinit_task = asyncio.get_running_loop().create_task(self._reinitialise())

    def _forget_boot(self, in_band: bool = False) -> None:
        """A new boot epoch: nothing the module held before its restart exists any more.

        After a ``RDY`` a peer may have sent (``in_band``) the sockets break
        all the same, but their client IDs, the quarantined ones and those of
        error 563 are kept until ``AT+QSSLSTATE`` after the start-up has shown
        what the module still holds (decision 107).
        """
        self._epoch += 1
        self.log.warning("modem_restarted", epoch=self._epoch, in_band=in_band)
        error = SocketBroken("the module restarted; its SSL sockets are gone")
        if in_band:
            for ident, transport in self._sockets.items():
                self._unconfirmed[ident] = (
                    transport.get_extra_info("peername")[1],
                    transport.get_extra_info("quectel_ssl_ctx"),
                )
        for transport in list(self._sockets.values()):
            transport._broken(error)
        for waiter in self._opening.values():
            if not waiter.done():
                waiter.set_exception(error)
        self._contexts.forget_all()
        if not in_band:
            self._forget_quarantine()
            self._ids.foreign.clear()  # the connections of other programs are gone too

    async def _context_reset(self) -> None:
        """A reused SSL context read back other settings; called with the context lock held.

        The port settings are sent again, then ``AT+QSSLSTATE`` says whether
        the module restarted: when it lists none of the connections the host
        knows of although at least one socket is open, the restart is handled
        here (no second start-up: the port settings were just sent). Otherwise
        another program may have written the context; only what the module no
        longer lists is dropped (decision 106).

        Raises:
            SocketBroken: a ``RDY`` or a returning echo showed the restart
                meanwhile (its handling starts the module again).
        """
        epoch = self._epoch
        held = {ident for ident, transport in self._sockets.items() if not transport.is_closing()}
        known = {*self._sockets, *self._opening, *self._quarantined, *self._ids.foreign}
        known |= self._ids.closing_orphans | self._unconfirmed.keys()
        await self._apply_port_settings()  # the same restart may have turned the echoes back on
        try:
            result = await self._channel.execute(cmd.SslState())
            listed = {cmd.parse_ssl_state_line(line).client_id for line in result.lines}
        except (QuectelError, RemoteProtocolError) as exc:
            self.log.info("connections_not_listed", error=type(exc).__name__)
            listed = None
        if self._epoch != epoch:
            raise SocketBroken("the module restarted while its SSL context was being checked")
        if listed is None:
            return
        if held and not listed & known:
            self.log.warning("restart_seen_as_context_reset")
            self._forget_boot()
            return
        for ident in held - listed:
            transport = self._sockets.get(ident)
            if transport is not None and not transport.is_closing():
                transport._broken(SocketBroken(f"the module no longer holds client {ident}"))
        self._ids.foreign &= listed
        for ident in self._quarantined - listed:
            self._quarantined.discard(ident)
            self._release_client_id(ident)

    async def _reinitialise(self) -> None:
        try:
            async with self._contexts.lock:
                await self._initialise()
                if self._unconfirmed:
                    await self._settle_in_band_restart()
        except QuectelError as exc:
            self.log.error("reinitialise_failed", error=str(exc))
        finally:
            # Not settled (the module cannot be asked, or the modem closed): the RDY is believed.
            for ident in list(self._unconfirmed):
                del self._unconfirmed[ident]
                self._release_client_id(ident)

    async def _settle_in_band_restart(self) -> None:
        """Close the connections a ``RDY`` from a peer made the host give up (decision 107)."""
        try:
            result = await self._channel.execute(cmd.SslState())
            states = {info.client_id: info for info in map(cmd.parse_ssl_state_line, result.lines)}
        except (QuectelError, RemoteProtocolError) as exc:
            self.log.info("connections_not_listed", error=type(exc).__name__)
            return
        suspects, self._unconfirmed = self._unconfirmed, {}
        for ident, (remote_port, ssl_ctx) in suspects.items():
            state = states.get(ident)
            if state is not None and (state.remote_port, state.ssl_context_id) == (remote_port, ssl_ctx):
                # The module still holds the connection: it never restarted.
                self.log.warning("restart_not_confirmed", client_id=ident)
                self._free_orphan(ident)
                continue
            self._release_client_id(ident)
            if state is not None:
                self._ids.foreign.add(ident)  # another program's, opened since
        self._ids.foreign &= set(states)
        for ident in self._quarantined - set(states):
            self._quarantined.discard(ident)
            self._release_client_id(ident)

    def _on_channel_failure(self, exc: BaseException) -> None:
        error = exc if isinstance(exc, ModemUnavailable) else ModemUnavailable(str(exc))
        for transport in list(self._sockets.values()):
            transport._broken(error)
        for waiter in self._opening.values():
            if not waiter.done():
                waiter.set_exception(error)

    # -- shutdown ---------------------------------------------------------------------------

    async def aclose(self, *, timeout: float | None = None) -> None:
        """Close every socket (``AT+QSSLCLOSE``), then the port.

        Idempotent: a call while another one runs returns when the port is closed.

        The sockets flush their queued writes and close concurrently, under
        one deadline for all of them; their protocols' ``connection_lost``
        gets :class:`ModemUnavailable` (a reader is not told the server ended
        the stream) unless the socket was already closing. Past the deadline
        the port is closed anyway:
        unsent bytes are dropped, and a socket whose ``AT+QSSLCLOSE`` has
        not been answered stays open on the module until its peer closes it
        or the module restarts (a later run skips its client ID). A send cut
        off before its ``>`` prompt keeps the port open up to 2 s longer, so
        the module gets the payload it was promised. A cancelled call closes
        the port at once, then re-raises the cancellation.

        Args:
            timeout: seconds the sockets get to flush and close; ``None``
                uses the ``close_timeout`` given to :meth:`open`.
        """
        if self._closed:
            if self._port_closed is not None:
                await asyncio.shield(self._port_closed)  # the close under way
            return
        self._closed = True
        self._port_closed = port_closed = asyncio.get_running_loop().create_future()
        limit = self._close_timeout if timeout is None else timeout
        closing: list[asyncio.Task[None]] = []
        for transport in list(self._sockets.values()):
            transport._shut_down(ModemUnavailable("the modem was closed"))
            if transport._closing_task is not None and not transport._closing_task.done():
                closing.append(transport._closing_task)
        try:
            if closing:
                _, late = await asyncio.wait(closing, timeout=limit)
                if late:
                    self.log.warning("sockets_not_closed_in_time", count=len(late), timeout=limit)
        finally:
            await self._close_port(closing, port_closed)

    async def _close_port(self, closing: list[asyncio.Task[None]], port_closed: asyncio.Future[None]) -> None:
        """Stop whatever still runs (socket closes, a restart's re-initialisation), then close the port."""
        tasks = [*closing] if self._reinit_task is None else [*closing, self._reinit_task]
        try:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)  # cancelled, each ends at its next step
            for task in tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # logged where it happened; not "never retrieved"
        finally:
            for future in self._opening.values():
                if not future.done():
                    # Not cancel(): the task opening the socket was not cancelled.
                    future.set_exception(ModemUnavailable("the modem was closed"))
                    future.exception()  # its open may fail first, on the closed channel
            try:
                await self._channel.aclose()
            finally:
                port_closed.set_result(None)
            for transport in list(self._sockets.values()):
                transport._broken(ModemUnavailable("the modem was closed"))
