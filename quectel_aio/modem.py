"""The :class:`Modem`: lifecycle, PDP contexts, files and SSL sockets.

Theory of operation
-------------------
``async with Modem.open(url) as modem`` opens the port, starts the single
reader (see :mod:`quectel_aio._channel`), probes the module with ``AT`` until it
answers, turns echo off and selects numeric error codes, so nothing depends on
the module's factory settings.

SSL sockets are opened by :meth:`Modem.open_connection` (streams) or
:meth:`Modem.create_connection` (transport and protocol). For each one the
modem picks a free client ID (0-11) and an SSL context (0-5) whose settings
match the :class:`SSLConfig`; it uploads the CA once (content-addressed file
name, size and XOR checksum verified), writes every ``AT+QSSLCFG`` item,
**reads every item back**, and only then sends ``AT+QSSLOPEN``.

Module restarts are detected by ``RDY``, or by the command echo coming back
after ``ATE0`` when the ``RDY`` went to another port (decision 97); a reused
SSL context is also read back before each open, which catches a restart
neither showed (decision 91: that context is written again, and the restart is
handled once ``AT+QSSLSTATE`` lists none of the host's connections, 106). A
restart starts a new *boot epoch*:
every socket of the old epoch fails with :class:`SocketBroken`, echo is turned
off again, and no socket opens until its SSL context has been written and read
back in the new epoch (the module forgets QSSLCFG on restart, falling back to
no server verification).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import warnings
from collections.abc import AsyncIterator, Callable
from typing import Literal

import structlog

from . import _commands as cmd
from . import _events as ev
from ._channel import AtChannel
from ._client_ids import ClientIds
from ._errors import (
    CommandError,
    CommandTimeout,
    LocalProtocolError,
    SecurityWarning,
    SocketBroken,
    SocketOpenError,
)
from ._grammar import error_text, validate_hostname
from ._modem_services import ModemServices, PdpContext
from ._modem_startup import ModemStartup
from ._ports import Port, open_port
from ._ssl_contexts import SslContextTable
from .ssl_config import SSLConfig
from .transport import AccessMode, ModemSocketTransport, parse_access_mode

__all__ = ["Modem", "PdpContext"]

#: Values of ``AT+QURCCFG="urcport"`` that ``Modem.open(urc_port=...)`` takes.
URC_PORTS = ("uart1", "usbat", "usbmodem", "all")

#: Error 563: another connection on the module holds the client ID.
ERROR_ID_IN_USE = 563
#: Seconds :meth:`Modem.aclose` gives its sockets, all together, to flush and close.
DEFAULT_CLOSE_TIMEOUT = 15.0

_log = structlog.get_logger("quectel_aio.modem")


class Modem(ModemStartup, ModemServices):
    """One Quectel EC200U / EG91xU module on a serial port.

    Use :meth:`Modem.open`; the constructor is internal.
    """

    def __init__(
        self,
        port: Port,
        *,
        margin: float = 2.0,
        wire_trace: bool = False,
        trace_payloads: bool = False,
        payload_echo: bool = False,
        sync_clock: bool = True,
        urc_port: str | None = None,
        pdp_context_id: int = 1,
        escape_guard_time: float = 1.0,
        dtr_escape: bool = False,
        unprotected_uart_ok: bool = False,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> None:
        self._port = port
        self._close_timeout = close_timeout
        self._channel = AtChannel(
            port,
            self._on_unsolicited,
            self._on_channel_failure,
            margin=margin,
            payload_echo=payload_echo,
            wire_trace=wire_trace,
            trace_payloads=trace_payloads,
        )
        self._channel.escape_guard_time = escape_guard_time
        self._channel.dtr_escape = dtr_escape
        self._channel.unprotected_uart_ok = unprotected_uart_ok
        self._urc_port = urc_port
        self._default_pdp = pdp_context_id
        self._sockets: dict[int, ModemSocketTransport] = {}
        self._ids = ClientIds(
            lambda ident: ident in self._sockets and self._sockets[ident].is_closing(),
            self._retry_quarantine,
        )
        self._socket_pdp: dict[int, int] = {}
        # PDP contexts the network deactivated and the host has not deactivated since.
        self._pdp_lost: set[int] = set()
        self._opening: dict[int, asyncio.Future[int]] = {}
        # Socket URCs that arrive after +QSSLOPEN: <id>,0 but before the transport exists.
        self._early: dict[int, list[ev.Unsolicited]] = {}
        self._quarantined: set[int] = set()
        self._unconfirmed: dict[int, tuple[int, int]] = {}
        self._contexts = SslContextTable(
            self._channel, lambda: self._epoch, sync_clock=sync_clock, on_reset=self._context_reset
        )
        self._epoch = 0
        self._reinit_task: asyncio.Task[None] | None = None
        self._closed = False
        #: Resolved once :meth:`aclose` has closed the port.
        self._port_closed: asyncio.Future[None] | None = None
        self.log = _log.bind(port=port.name)

    # -- lifecycle ---------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        url: str | Port,
        *,
        baudrate: int = 115200,
        rtscts: bool = False,
        backend: str = "auto",
        margin: float = 2.0,
        wire_trace: bool = False,
        trace_payloads: bool = False,
        payload_echo: bool = False,
        sync_clock: bool = True,
        urc_port: str | None = None,
        pdp_context_id: int = 1,
        probe_attempts: int = 10,
        escape_guard_time: float = 1.0,
        dtr_escape: bool = False,
        unprotected_uart_ok: bool = False,
        close_timeout: float = DEFAULT_CLOSE_TIMEOUT,
    ) -> AsyncIterator[Modem]:
        """Open the modem on ``url`` and initialise it.

        Args:
            url: a device path (``/dev/ttyUSB2``, a pty), ``socket://host:port``,
                or an already open :class:`~quectel_aio._ports.Port` (closed
                with the modem).
            baudrate: UART speed (ignored by USB ports and sockets).
            rtscts: RTS/CTS hardware flow control (recommended on a UART).
            backend: serial backend: ``"auto"`` (serialx), ``"serialx"`` or
                ``"pyserial-asyncio"``.
            margin: seconds added to each command's maximum response time.
            wire_trace: log command lines and results to ``quectel_aio.wire``
                (payload bytes and secrets redacted).
            trace_payloads: also log payload bytes in the wire trace.
            payload_echo: the module echoes ``AT+QSSLSEND`` payloads and the
                parser expects the echo. Off by default: the host then sends
                ``AT+QISDE=0`` at start and after every restart.
            sync_clock: set the module clock (AT+CCLK) from the host's UTC
                clock before the first verified TLS open of each boot epoch.
                ``False`` (the module's clock is set some other way) emits a
                :class:`SecurityWarning`.
            urc_port: if set, ``AT+QURCCFG="urcport","<port>"`` is sent at
                start: ``"uart1"`` (the main UART), ``"usbat"``, ``"usbmodem"``
                or ``"all"``.
            pdp_context_id: PDP context used by sockets unless pinned.
            probe_attempts: ``AT`` probes to try at start, plus one after
                ``+++`` (typed when the first three go unanswered: left transparent?).
            escape_guard_time: seconds of silence the module needs before and
                after ``+++`` to leave transparent mode (1 s on the EC200U).
            dtr_escape: leave transparent mode by dropping DTR (``AT&D1`` is
                sent at start and after every restart) instead of ``+++``: no
                guard times, no in-band escape. Needs a port with a DTR line.
            unprotected_uart_ok: allow push and transparent mode on a UART
                opened without RTS/CTS, where a byte the host misses is lost
                unnoticed (refused otherwise; emits a :class:`SecurityWarning`).
            close_timeout: seconds the sockets get, all together, to flush
                and close when the modem closes (see :meth:`aclose`).

        Yields:
            The initialised :class:`Modem`; it is closed on exit.

        Raises:
            ModemUnavailable: the port cannot be opened or the module does
                not answer.
            LocalProtocolError: invalid arguments.
        """
        if urc_port is not None and urc_port not in URC_PORTS:
            raise LocalProtocolError(
                f"unknown urc_port {urc_port!r}: expected {', '.join(URC_PORTS[:-1])} or {URC_PORTS[-1]}"
            )
        if isinstance(escape_guard_time, bool) or not isinstance(escape_guard_time, int | float):
            raise LocalProtocolError("escape_guard_time must be a number of seconds")
        if not 0 < escape_guard_time <= 10:
            raise LocalProtocolError("escape_guard_time must be in (0, 10] seconds")
        if (
            isinstance(close_timeout, bool)
            or not isinstance(close_timeout, int | float)
            or not 0 <= close_timeout < float("inf")
        ):
            raise LocalProtocolError("close_timeout must be a finite number of seconds, 0 or more")
        if not sync_clock:
            warnings.warn(
                "sync_clock=False: certificate dates are checked against whatever the module "
                "clock says (2000-01-01 after a restart unless something else sets it)",
                SecurityWarning,
                stacklevel=3,
            )
        port = (
            url
            if isinstance(url, Port)
            else await open_port(url, baudrate=baudrate, rtscts=rtscts, backend=backend)
        )
        if dtr_escape and not port.supports_dtr:
            await port.aclose()
            raise LocalProtocolError(f"dtr_escape needs a port with a DTR line; {port.name} has none")
        modem = cls(
            port,
            margin=margin,
            wire_trace=wire_trace,
            trace_payloads=trace_payloads,
            payload_echo=payload_echo,
            sync_clock=sync_clock,
            urc_port=urc_port,
            pdp_context_id=pdp_context_id,
            escape_guard_time=escape_guard_time,
            dtr_escape=dtr_escape,
            unprotected_uart_ok=unprotected_uart_ok,
            close_timeout=close_timeout,
        )
        if unprotected_uart_ok and port.unprotected_uart:
            warnings.warn(
                f"unprotected_uart_ok=True: {port.name} has no RTS/CTS, and a byte the host "
                "misses in push or transparent mode is lost or shifts the stream unnoticed",
                SecurityWarning,
                stacklevel=3,
            )
        try:
            modem._channel.start()
            await modem._initialise(probe_attempts)
        except BaseException:
            await modem.aclose()
            raise
        try:
            yield modem
        finally:
            await modem.aclose()

    @property
    def transparent_client(self) -> int | None:
        """The client ID holding the port in transparent mode, if any."""
        return self._channel.transparent_client

    @property
    def boot_epoch(self) -> int:
        """How many module restarts were seen since opening.

        A restart is seen by its ``RDY``, a returning command echo, or a context
        read-back that differs while ``AT+QSSLSTATE`` lists none of the host's
        connections.
        """
        return self._epoch

    # -- unsolicited events ---------------------------------------------------------------

    def _on_unsolicited(self, event: ev.Unsolicited) -> None:
        if (
            isinstance(event, ev.SslDataPushed | ev.SslClosed | ev.SslDataLost)
            and event.client_id not in self._sockets
            and event.client_id in self._opening
        ):
            if self._opening[event.client_id].done():
                # The socket opened but its transport is not attached yet: keep the
                # event for it (a peer may send and close right after the handshake).
                self._early.setdefault(event.client_id, []).append(event)
            else:
                # Before +QSSLOPEN: <id>,0 the new socket can neither receive nor
                # close: the URC is left over from the ID's previous user.
                self.log.warning("stale_socket_urc", client_id=event.client_id, urc=type(event).__name__)
            return
        if isinstance(event, ev.SslDataAvailable):
            transport = self._sockets.get(event.client_id)
            if transport is not None:
                transport._data_available()
        elif isinstance(event, ev.SslDataPushed | ev.SslClosed | ev.SslDataLost):
            transport = self._sockets.get(event.client_id)
            if transport is not None:
                transport._socket_event(event)
            elif isinstance(event, ev.SslDataPushed):
                self.log.warning("push_for_unknown_socket", client_id=event.client_id, size=len(event.data))
        elif isinstance(event, ev.SslOpened):
            waiter = self._opening.get(event.client_id)
            if waiter is not None and not waiter.done():
                waiter.set_result(event.error)
            elif self._late_open_result(event.client_id, event.error):
                self.log.info("closing_late_open", client_id=event.client_id, error=event.error)
        elif isinstance(event, ev.PdpDeactivated):
            self.log.warning("pdp_deactivated", context_id=event.context_id)
            self._pdp_lost.add(event.context_id)
            for client_id, transport in list(self._sockets.items()):
                if self._socket_pdp.get(client_id) == event.context_id:
                    # The module keeps the socket (state "closing") until AT+QSSLCLOSE
                    # frees its ID: until then the ID is not handed out again (563).
                    error = SocketBroken(f"PDP context {event.context_id} was deactivated")
                    transport._broken(error, freed=False)
            for client_id, waiter in self._opening.items():
                # A handshake on a lost context cannot succeed; the module may never say so.
                if self._socket_pdp.get(client_id) == event.context_id and not waiter.done():
                    waiter.set_exception(SocketBroken(f"PDP context {event.context_id} was deactivated"))
        elif isinstance(event, ev.ModemReady):
            self._on_restart(event.in_band)
        elif isinstance(event, ev.EchoReturned):
            # The echo that ATE0 turned off is back: the module restarted and
            # its RDY went to another port (urcport).
            self.log.warning("restart_seen_as_returning_echo")
            self._on_restart()
        elif isinstance(event, ev.UnknownUrc):
            self.log.debug("urc_ignored", line=event.line[:80].encode("ascii", "backslashreplace").decode())

    # -- SSL sockets ---------------------------------------------------------------------------------

    async def open_connection(
        self,
        host: str,
        port: int,
        *,
        ssl: SSLConfig,
        mode: Literal["buffer", "push", "transparent"] = "buffer",
        client_id: int | None = None,
        ssl_context_id: int | None = None,
        pdp_context_id: int | None = None,
        limit: int = 2**16,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a TLS connection through the module and return asyncio streams.

        Args:
            host: server host name (sent for SNI and verified) or IP address.
            port: server TCP port.
            ssl: the TLS settings the module enforces.
            mode: ``"buffer"`` (host-paced reads, backpressure), ``"push"``
                (data arrives inside URCs; the socket falls back to buffer mode
                while the reader is paused) or ``"transparent"`` (the port
                becomes a raw pipe for this socket; other sockets' commands
                wait until it leaves that mode). Switch later with
                ``writer.transport.switch_mode(...)``.
            client_id: pin the module client ID (0-11); allocated if None.
            ssl_context_id: pin the SSL context (0-5); allocated if None.
            pdp_context_id: PDP context (default: the modem's).
            limit: StreamReader buffer limit; above it reading pauses.

        Returns:
            ``(reader, writer)``: a real :class:`asyncio.StreamReader` and
            :class:`asyncio.StreamWriter`.

        Raises:
            LocalProtocolError: invalid arguments, push or transparent mode on
                a UART without flow control, or transparent mode with
                ``delete_key_after_handshake`` (nothing is sent).
            SocketOpenError: the module reported ``+QSSLOPEN: <id>,<err>``
                (``code`` 579 / 566 for a failed handshake or verification).
            CommandError, CommandTimeout, ModemUnavailable: see :meth:`command`.
        """
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=limit, loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, loop=loop)
        transport, _ = await self.create_connection(
            lambda: protocol,
            host,
            port,
            ssl=ssl,
            mode=mode,
            client_id=client_id,
            ssl_context_id=ssl_context_id,
            pdp_context_id=pdp_context_id,
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        return reader, writer

    async def create_connection(
        self,
        protocol_factory: Callable[[], asyncio.Protocol],
        host: str,
        port: int,
        *,
        ssl: SSLConfig,
        mode: Literal["buffer", "push", "transparent"] = "buffer",
        client_id: int | None = None,
        ssl_context_id: int | None = None,
        pdp_context_id: int | None = None,
    ) -> tuple[ModemSocketTransport, asyncio.Protocol]:
        """Open a TLS connection and attach ``protocol_factory()`` to it.

        Mirrors :meth:`asyncio.loop.create_connection`: it returns once the
        protocol's ``connection_made`` has run.

        Args:
            protocol_factory: called once to make the :class:`asyncio.Protocol`.
            host: server host name (sent for SNI and verified) or IP address.
            port: server TCP port.
            ssl: the TLS settings the module enforces.
            mode: ``"buffer"``, ``"push"`` or ``"transparent"`` (see
                :meth:`open_connection`).
            client_id: pin the module client ID (0-11); allocated if None.
            ssl_context_id: pin the SSL context (0-5); allocated if None.
            pdp_context_id: PDP context (default: the modem's).

        Returns:
            ``(transport, protocol)``.

        Raises:
            LocalProtocolError: invalid arguments (nothing is sent).
            SocketOpenError: the module reported ``+QSSLOPEN: <id>,<err>``.
            CommandError, CommandTimeout, ModemUnavailable: see :meth:`command`.
        """
        if not isinstance(ssl, SSLConfig):
            raise LocalProtocolError(
                f"ssl must be a quectel_aio.SSLConfig, not {type(ssl).__name__}: the module runs TLS "
                "itself and verifies against a CA uploaded to it, so pass SSLConfig(cafile='ca.pem')"
            )
        access_mode = parse_access_mode(mode)
        if access_mode is not AccessMode.BUFFER:
            self._channel.check_unframed_mode_allowed(access_mode.name.lower())
        if access_mode is AccessMode.TRANSPARENT and ssl.delete_key_after_handshake:
            # From CONNECT on the port is the socket's: the key could not be
            # deleted, nor the open return, until the socket left that mode.
            raise LocalProtocolError(
                "delete_key_after_handshake cannot open in transparent mode (the port carries the "
                "socket from the handshake on, so the key could not be deleted); open in buffer mode, "
                "then writer.transport.switch_mode('transparent')"
            )
        server = validate_hostname(host)
        pdp = self._default_pdp if pdp_context_id is None else pdp_context_id
        host_is_name = not _is_ip(server)
        busy: set[int] = set()  # IDs refused with 563 by this call: not tried again in it
        wire_mode = int(access_mode)
        # Build the command now: every argument is validated before a byte is written.
        cmd.SslOpen(pdp, 0, 0, server, port, wire_mode, ssl.negotiate_time)
        while True:
            ident = await self._ids.acquire(client_id, busy)
            transport: ModemSocketTransport | None = None
            opening = False  # from here on _open_socket frees the ID
            try:
                ctx = await self._contexts.prepare(ssl, ssl_context_id, host_is_name, ident)
                open_command = cmd.SslOpen(pdp, ctx, ident, server, port, wire_mode, ssl.negotiate_time)
                opening = True
                transport = await self._open_socket(
                    open_command, protocol_factory, (host, port), ctx, access_mode
                )
                return transport, transport.get_protocol()  # type: ignore[return-value]
            except BaseException as exc:
                if not opening:
                    self._release_client_id(ident)
                in_use = isinstance(exc, CommandError) and exc.code == ERROR_ID_IN_USE
                if in_use:
                    self._ids.foreign.add(ident)
                if client_id is not None or not in_use:
                    raise
                busy.add(ident)
            finally:
                # Deletes an ephemeral client key. A cancelled caller leaves the
                # deletion running, and the socket it will never get is closed.
                try:
                    await asyncio.shield(self._contexts.handshake_over(ident))
                except BaseException:
                    if transport is not None:
                        transport.abort()
                    raise

    async def _open_socket(
        self,
        command: cmd.SslOpen,
        protocol_factory: Callable[[], asyncio.Protocol],
        peername: tuple[str, int],
        ctx: int,
        access_mode: AccessMode,
    ) -> ModemSocketTransport:
        client_id = command.client_id
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        self._opening[client_id] = waiter
        self._socket_pdp[client_id] = command.pdp_context_id
        opened = in_use = False
        target = f"{peername[0]}:{peername[1]}"

        def make_transport() -> ModemSocketTransport:
            return ModemSocketTransport(
                self._channel,
                protocol_factory(),
                client_id=client_id,
                ssl_context_id=ctx,
                peername=peername,
                access_mode=access_mode,
                modem=self,
                on_finished=self._socket_finished,
            )

        try:
            if access_mode is AccessMode.TRANSPARENT:
                # CONNECT (or ERROR) answers the command itself; raw data may
                # follow CONNECT at once, so the transport receives it from the start.
                transport = make_transport()
                try:
                    await self._channel.enter_transparent(command, transport)
                except SocketOpenError:
                    raise
                except CommandError as exc:
                    code = exc.code if exc.code is not None else 0
                    raise SocketOpenError(client_id, code, exc.text or exc.result, target=target) from exc
            else:
                await self._channel.execute(command)
                timeout = command.timeout + self._channel.deadline_for(cmd.Attention())
                try:
                    async with asyncio.timeout(timeout):
                        error = await waiter
                except TimeoutError:
                    raise CommandTimeout("+QSSLOPEN", timeout) from None
                if error != 0:
                    raise SocketOpenError(client_id, error, error_text(error), target=target)
                transport = make_transport()
            self._sockets[client_id] = transport
            transport._start()
            for early in self._early.pop(client_id, []):
                transport._socket_event(early)
            opened = True
            self._ids.foreign.discard(client_id)
            self.log.info("socket_opened", client_id=client_id, ssl_ctx=ctx, mode=access_mode.name.lower())
        except CommandError as exc:
            in_use = exc.code == ERROR_ID_IN_USE  # AT+QSSLCLOSE would close the connection holding it
            raise
        finally:
            self._opening.pop(client_id, None)
            self._early.pop(client_id, None)
            if opened:
                pass
            elif self._closed or in_use:
                self._release_client_id(client_id)
            else:
                # Free the slot on the module: after a failed or timed-out open the
                # Application Note asks for AT+QSSLCLOSE. A cancelled caller does not
                # wait for it (the abandoned open may hold the port for its whole
                # deadline); the ID stays reserved until the module has freed it.
                closing = self._free_orphan(client_id)
                task = asyncio.current_task()
                if task is None or not task.cancelling():
                    await asyncio.shield(closing)
        # Like loop.create_connection: return once connection_made has run.
        try:
            await transport._made
        except BaseException:
            transport.abort()  # the caller is gone: never leak an open socket
            raise
        return transport


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
