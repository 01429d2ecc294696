"""The EC200U emulator: byte handling, command dispatch, URC ordering, lifecycle.

Theory of operation
-------------------
Bytes from the host go into an input buffer (:meth:`ModemEmulator.feed`). One
task reads that buffer: in command mode it cuts lines at CR (an LF after the
CR is dropped, an LF-terminated line is ignored), echoes the line, cuts it into
its commands (``AT+IPR=921600;&W``, ``ATE0V1``), parses each with the shared
wire grammar and runs the handlers in order: the information of each, then
one final result (the first failure ends the line). Handlers that open
a data phase (``AT+QSSLSEND`` after the prompt, ``AT+QFUPL`` after CONNECT)
read raw bytes from the same buffer, so payload bytes are never seen by the
command parser.

Everything written to the host goes through one output function, one write per
response. A command is *busy* from its CR until its final result is written;
URCs raised meanwhile (by TLS tasks, by fault injection) are held and written
right after the final result, each as one write. URCs are therefore only ever
written at a line boundary outside a response or a data phase.

The emulator imports nothing from the client side of the package: only the
shared grammar and the error classes.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

from .._errors import RemoteProtocolError
from .._grammar import ParsedCommand, format_line
from ._command_line import parse_command, split_command_line
from ._config import EmulatorConfig
from ._fault_injection import FaultInjection
from ._input import InputBuffer
from ._network import SocketState, TlsSocket
from ._observe import StateObserver
from ._pacing import SerialLink
from ._registry import HANDLERS
from ._serve import Serving
from ._ssl_state import SslContextSettings, factory_contexts
from ._state import FaultPlan, PdpContext, Profile
from ._wire import ERROR, OK, cme_error

if TYPE_CHECKING:
    from ._files import Ufs

__all__ = ["ModemEmulator"]

Sink = Callable[[bytes], None]


class ModemEmulator(FaultInjection, StateObserver, Serving):
    """An emulated Quectel EC200U speaking the SSL AT dialect byte-exactly.

    The emulator answers AT commands on a pseudo-terminal
    (:meth:`serve_pty`), a TCP socket (:meth:`serve_socket`) or an in-memory
    sink (:meth:`attach` + :meth:`feed`), and makes *real* TLS connections
    (Python ``ssl``) to servers on loopback for ``AT+QSSLOPEN``.

    Emulated: echo, ``ATI``/identification, ``AT+CMEE``, ``AT+IPR``,
    ``AT+IFC``, ``AT&D``/``&W``/``&F``, ``AT+QURCCFG``, ``AT+CCLK`` (own clock),
    ``AT+QICSGP``/``QIACT``/``QIDEACT``/``QIGETERROR``, all ``AT+QSSLCFG``
    items, ``AT+QSSLOPEN``/``SEND``/``RECV``/``CLOSE``/``STATE``,
    ``AT+QISWTMD``, buffer and direct-push access modes, and the UFS commands
    ``AT+QFUPL``/``QFLST``/``QFDEL``/``QFLDS``/``QFDWL``.

    Transparent access mode (``access_mode`` 2, ``AT+QISWTMD=<id>,2``, ``ATO``,
    ``+++`` with guard times, ``NO CARRIER``) forwards bytes as they arrive
    (no ``transpktsize``/``transwaittm`` packetisation).

    Tests inspect the state (``sockets``, ``command_log``, ``files``,
    ``ssl_contexts``, ``pdp``) and await it with :meth:`wait_for`.

    DTR is an input (:meth:`set_dtr`); a pty cannot carry it, so a test drives
    it from the host side's port. Not emulated: DTLS
    (``+QSSLOPEN: <id>,555``), SSL 3.0 (fails the open), session resumption
    (``session_cache`` is stored only), ``ATV0`` numeric responses, DNS (only names in ``host_map`` and ``localhost``
    resolve), TCP (``AT+QIOPEN``), SMS, voice, the radio.

    Args:
        config: the knobs; defaults model a factory-fresh module.
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        from ._files import Ufs  # local import: _files imports this module's types

        self.config = config if config is not None else EmulatorConfig()
        self.ufs: Ufs = Ufs(self.config.ufs_capacity, self.config.ufs_block_size)
        for name, data in self.config.initial_files.items():
            self.ufs.files[name] = bytes(data)
        #: Every command received, parsed (never payload bytes).
        self.command_log: list[ParsedCommand] = []
        #: ``(client_id, settings)`` for every ``AT+QSSLOPEN`` that started a handshake.
        self.opened_with: list[tuple[int, SslContextSettings]] = []
        #: Total bytes received from the host (commands and payloads).
        self.bytes_received = 0
        #: Restarts so far (``restart()`` and ``AT+CFUN=1,1``).
        self.restarts = 0
        self._profile = Profile(echo=self.config.echo, urcport=self.config.urcport)
        self._sink: Sink | None = None
        self._drain: Callable[[], Awaitable[None]] | None = None
        self._input = InputBuffer()
        # Host bytes keep their arrival time on the link (transparent mode's guard times).
        self._link = SerialLink(self._deliver, lambda data: self._input.feed(data, self._link.arrived_at))
        #: Set while a command runs: what it writes answers the latest input.
        self._responding = False
        self._task: asyncio.Task[None] | None = None
        self._bg: set[asyncio.Task[None]] = set()
        self._busy = False
        #: Set when the running command writes a prompt or CONNECT (a data phase).
        self._data_phase = False
        self._held: list[bytes] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._boot_handle: asyncio.TimerHandle | None = None
        #: True between a (re)start and ``RDY`` when ``boot_delay`` is set.
        self.booting = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._faults = FaultPlan()
        self._post_response: list[Callable[[], None]] = []
        #: Called with every chunk handed to the host (after link pacing),
        #: just before it is written; for measurements. ``None``: off.
        self.output_tap: Callable[[bytes], None] | None = None
        self._closed = False
        self._waiters = []
        self._reset_volatile_state()

    # ------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------

    def _reset_volatile_state(self) -> None:
        cfg = self.config
        self.echo = self._profile.echo
        self.cmee = cfg.cmee
        self.ipr = self._profile.ipr
        self.ifc = (0, 0)
        self.dtr_mode = 2
        self.cfun = 1
        self.urcport = self._profile.urcport
        self.payload_echo = cfg.payload_echo
        self.last_error = 0
        self.pdp: dict[int, PdpContext] = {cid: PdpContext() for cid in range(1, 8)}
        for cid in cfg.active_pdp_contexts:
            self.pdp[cid].active = True
        self._ssl_contexts = factory_contexts(cfg.ssl_defaults)
        self.sockets: dict[int, TlsSocket] = {}
        self.last_transparent: int | None = None
        #: A transparent session owns the port (from CONNECT to OK / NO CARRIER).
        self.in_transparent = False
        self._clock_base = cfg.initial_clock
        self._clock_set_at = time.monotonic()
        self._clock_tz_quarters = 0

    @property
    def files(self) -> dict[str, bytes]:
        """The UFS files, name (without ``UFS:``) to content; survives restarts."""
        return self.ufs.files

    @property
    def ssl_contexts(self) -> Mapping[int, SslContextSettings]:
        """Current settings of SSL contexts 0-5 (read-only view)."""
        return dict(self._ssl_contexts)

    def now(self) -> _dt.datetime:
        """The module clock (UTC-aware)."""
        elapsed = _dt.timedelta(seconds=time.monotonic() - self._clock_set_at)
        if self._clock_base is None:
            return _dt.datetime.now(_dt.UTC)
        return self._clock_base + elapsed

    def set_clock(self, when: _dt.datetime, tz_quarters: int = 0) -> None:
        """Set the module clock (what ``AT+CCLK=`` does)."""
        self._clock_base = when.astimezone(_dt.UTC)
        self._clock_set_at = time.monotonic()
        self._clock_tz_quarters = tz_quarters

    def scaled(self, seconds: float) -> float:
        """A module-side timeout in seconds, after ``time_scale``."""
        return seconds * self.config.time_scale

    def cme(self, code: int) -> bytes:
        """A ``+CME ERROR`` in the current ``AT+CMEE`` form."""
        return cme_error(self.cmee, code)

    # ------------------------------------------------------------------
    # Output and URC ordering
    # ------------------------------------------------------------------

    def _write(self, data: bytes, *, turnaround: float = 0.0) -> None:
        # While a command runs, output answers the latest input (``turnaround``
        # after it arrived); otherwise nothing caused it (URCs, pushed data).
        self._link.write(data, after_arrival=turnaround if self._responding else None)

    def _deliver(self, data: bytes) -> None:
        sink = self._sink
        if not data:
            return
        self._state_changed()
        if sink is None:
            return
        if self.output_tap is not None:
            self.output_tap(data)
        chunking = self.config.write_chunking
        if chunking is None:
            sink(data)
        else:
            for piece in chunking(data):
                if piece:
                    sink(piece)

    def write_now(self, data: bytes) -> None:
        """Write bytes immediately (CONNECT, data-phase output)."""
        self._data_phase = True
        self._write(data)

    async def write_prompt(self) -> None:
        """Write the ``AT+QSSLSEND`` prompt after the module's prompt turnaround."""
        latency = (
            self.config.command_latency if self.config.prompt_latency is None else self.config.prompt_latency
        )
        if latency > 0:
            await self._link.turnaround(latency)
        self._data_phase = True
        self._write(self.config.prompt, turnaround=latency)

    def emit_urc(self, data: bytes, *, general: bool = False, droppable: bool = True) -> None:
        """Write a complete URC blob at the next line boundary.

        Args:
            data: the URC bytes, CR LF framing included.
            general: a URC that goes to the ``urcport`` (RDY, pdpdeact);
                dropped when that port is not the served one.
            droppable: lost during a transparent session when
                ``transparent_urcs`` is ``"dropped"`` (``False`` for pushed
                data and injected URCs, which are always held).
        """
        if general and self.urcport not in (self.config.at_port, "all"):
            return
        if droppable and self.in_transparent and self.config.transparent_urcs == "dropped":
            return
        if self._busy or self._held or self._flush_handle is not None:
            self._held.append(data)
            self._idle.clear()
        else:
            self._write(data)

    def _flush_held(self) -> None:
        self._flush_handle = None
        held, self._held = self._held, []
        for blob in held:
            self._write(blob)
        if not self._busy:
            self._idle.set()

    def _end_command(self) -> None:
        self._busy = False
        if not self._held:
            self._idle.set()
        else:
            delay = self.config.urc_after_ok_delay
            if delay > 0:
                if self._flush_handle is None:
                    self._flush_handle = asyncio.get_running_loop().call_later(delay, self._flush_held)
            else:
                self._flush_held()
        hooks, self._post_response = self._post_response, []
        for hook in hooks:
            hook()
        self._state_changed()

    def after_response(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` right after the current command's final response."""
        self._post_response.append(hook)

    async def wait_urcs_written(self) -> None:
        """Wait until held URCs are written and the port has drained."""
        await self._idle.wait()
        await self._output_drained()

    async def _output_drained(self) -> None:
        await self._link.wait_output_room()
        if self._drain is not None:
            await self._drain()

    async def wait_input_room(self) -> None:
        """With link pacing: wait until the link can take more host bytes."""
        await self._link.wait_input_room()

    @property
    def input_backlog(self) -> int:
        """Host bytes read from the port but still "on the wire" (pacing)."""
        return self._link.input_backlog

    # ------------------------------------------------------------------
    # Input and command execution
    # ------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Hand bytes from the host to the emulator."""
        self.bytes_received += len(data)
        self._link.feed(data)
        self._state_changed()

    @property
    def input(self) -> InputBuffer:
        """The input buffer (for data-phase handlers)."""
        return self._input

    async def _command_loop(self) -> None:
        while True:
            line = await self._input.read_line(self.config.max_command_length)
            if self.booting:
                continue
            self._busy = True
            self._idle.clear()
            self._responding = True
            try:
                await self._execute(line)
            finally:
                self._responding = False
                self._end_command()

    async def _execute(self, line: bytes | None) -> None:
        if line is None:
            self._write(ERROR)
            return
        if self.echo:
            self._write(line + b"\r")
        text = line.decode("latin-1")
        if text[:2].upper() != "AT":
            return  # V.250: characters before "AT" are ignored
        commands = split_command_line(text[2:])
        last = len(commands) - 1
        latency = self.config.command_latency
        for index, command in enumerate(commands):
            self._data_phase = False
            response = await self._run_command(command)
            if response is None:
                return  # muted
            if latency > 0:
                # Counted from the arrival of the command (or its data); the
                # emulator's own processing time is part of it.
                await self._link.turnaround(latency)
            pre, self._faults.pre_response_urcs = self._faults.pre_response_urcs, []
            for blob in pre:
                self._write(blob, turnaround=latency)
            if index < last and not self._data_phase and response.endswith(OK):
                # V.250: each command's information, one final result for the line.
                self._write(response[: -len(OK)], turnaround=latency)
                continue
            # The last command, a failure, or a data phase (which ends the line).
            self._write(response, turnaround=latency)
            return

    async def _run_command(self, command: str) -> bytes | None:
        """One command of a line (without ``AT``): its response, or ``None`` if muted."""
        key = command.upper()
        try:
            cmd = parse_command(command)
        except RemoteProtocolError:
            cmd = None
        if cmd is not None:
            self.command_log.append(cmd)
            self._state_changed()
        response = self._scripted_response(key)
        if response is None or response:
            return response
        handler = HANDLERS.get(cmd.name) if cmd is not None else None
        return ERROR if cmd is None or handler is None else await handler(self, cmd)

    def _scripted_response(self, key: str) -> bytes | None:
        faults = self._faults
        for index, prefix in enumerate(faults.mute_commands):
            if key.startswith(prefix):
                del faults.mute_commands[index]
                return None
        for index, (prefix, response) in enumerate(faults.fail_commands):
            if key.startswith(prefix):
                del faults.fail_commands[index]
                return response
        return b""

    # ------------------------------------------------------------------
    # Socket events (called by TlsSocket)
    # ------------------------------------------------------------------

    def socket_opened(self, sock: TlsSocket, err: int) -> None:
        """Report the result of a handshake (transparent mode: the handler does)."""
        if err and self.sockets.get(sock.client_id) is sock:
            del self.sockets[sock.client_id]
        self.last_error = err
        self._state_changed()
        if sock.mode != 2:
            self.emit_urc(format_line(f"+QSSLOPEN: {sock.client_id},{err}"))

    def socket_data(self, sock: TlsSocket, was_empty: bool) -> None:
        """Buffer mode: data arrived."""
        self._state_changed()
        if was_empty and sock.urc_armed:
            sock.urc_armed = False
            if self._faults.lose_recv_urcs > 0:
                self._faults.lose_recv_urcs -= 1
                return
            self.emit_urc(format_line(f'+QSSLURC: "recv",{sock.client_id}'))

    async def socket_push(self, sock: TlsSocket, data: bytes) -> None:
        """Direct push mode: deliver data in URCs of at most ``max_push_chunk``."""
        size = self.config.max_push_chunk
        trailer = b"\r\n" if self.config.push_trailing_crlf else b""
        for start in range(0, len(data), size):
            chunk = data[start : start + size]
            header = format_line(f'+QSSLURC: "recv",{sock.client_id},{len(chunk)}')
            self.emit_urc(header + chunk + trailer, droppable=False)
            await self.wait_urcs_written()

    def socket_closed(self, sock: TlsSocket) -> None:
        """The peer closed the connection or it failed."""
        self._state_changed()
        if sock.mode == 2:
            self._input.wake()  # the transparent session prints NO CARRIER
            return
        self.emit_urc(format_line(f'+QSSLURC: "closed",{sock.client_id}'))

    async def socket_transparent(self, sock: TlsSocket, data: bytes) -> None:
        """Transparent mode: network bytes go to the port unframed."""
        self._write(data)
        await self._output_drained()

    def spawn(self, coro: Awaitable[None]) -> None:
        """Run a background coroutine owned by the emulator."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    def track_socket(self, sock: TlsSocket) -> None:
        """Register a socket and start its handshake."""
        self.sockets[sock.client_id] = sock
        task = sock.start()
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    def close_context_sockets(self, cid: int) -> list[int]:
        """Drop the connections of one PDP context; they enter state closing."""
        ids = []
        for sock in list(self.sockets.values()):
            if sock.cid != cid:
                continue
            if sock.state is SocketState.OPENING:
                sock.drop()
                del self.sockets[sock.client_id]
                continue
            sock.drop()
            if sock.state is SocketState.CONNECTED:
                sock.state = SocketState.CLOSING
                if sock.mode == 2 and sock.transparent_ready:
                    self._input.wake()  # the session ends with NO CARRIER
                else:
                    ids.append(sock.client_id)
        return ids

    # ------------------------------------------------------------------
    # Fault injection
    # ------------------------------------------------------------------

    def restart(self) -> None:
        """Simulate a module reset.

        Drops every TLS connection, forgets QSSLCFG/PDP/echo state (back to
        factory values or the ``AT&W`` profile), keeps UFS files, discards
        pending input and held URCs, then prints ``RDY`` after ``boot_delay``.
        """
        self.restarts += 1
        for sock in self.sockets.values():
            sock.drop()
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._held.clear()
        self._faults.pre_response_urcs.clear()
        self._link.drop_input()
        self._input.clear()
        self._reset_volatile_state()
        self._busy = False
        self._idle.set()
        self._state_changed()
        if self._task is not None:
            self._task.cancel()
            self._task = asyncio.get_running_loop().create_task(self._command_loop())
            self._boot(restart=True)

    # ------------------------------------------------------------------
    # Lifecycle
    # ------------------------------------------------------------------

    def _boot(self, *, restart: bool = False) -> None:
        if not (restart or self.config.emit_rdy_on_start):
            return
        lines = [format_line("RDY")] + [format_line(u) for u in self.config.boot_urcs]

        def emit() -> None:
            for blob in lines:
                self.emit_urc(blob, general=True)

        delay = self.config.boot_delay
        if self._boot_handle is not None:
            self._boot_handle.cancel()
            self._boot_handle = None
        if delay > 0:
            # Until RDY the module does not listen: input is dropped unanswered.
            self.booting = True

            def ready() -> None:
                self._boot_handle = None
                self.booting = False
                emit()

            self._boot_handle = asyncio.get_running_loop().call_later(delay, ready)
        else:
            self.booting = False
            emit()

    def attach(self, sink: Sink, drain: Callable[[], Awaitable[None]] | None = None) -> None:
        """Start serving with an in-memory output sink.

        Must be called from a running event loop. Feed host bytes with
        :meth:`feed`; stop with :meth:`aclose`.

        Args:
            sink: called with every chunk the module writes.
            drain: optional coroutine function that waits until the sink has
                accepted its backlog (backpressure for direct push).
        """
        if self._task is not None:
            raise RuntimeError("the emulator is already serving")
        self._sink = sink
        self._drain = drain
        self._closed = False
        self._link.configure(self.config.link_baudrate, self.config.link_granularity)
        self._task = asyncio.get_running_loop().create_task(self._command_loop())
        self._boot()

    def detach_sink(self) -> None:
        """Keep running but discard output (no host connected)."""
        self._sink = None
        self._drain = None

    def set_sink(self, sink: Sink, drain: Callable[[], Awaitable[None]] | None = None) -> None:
        """Redirect output to a new sink (a new host connection)."""
        self._sink = sink
        self._drain = drain

    async def aclose(self) -> None:
        """Stop serving: cancel the command task, drop every connection."""
        if self._closed:
            return
        self._closed = True
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self._boot_handle is not None:
            self._boot_handle.cancel()
            self._boot_handle = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for sock in self.sockets.values():
            sock.drop()
        while self._bg:
            pending = list(self._bg)
            for bg in pending:
                bg.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._link.close()
        self._sink = None
        self._drain = None


def _load_handlers() -> None:
    from . import _files, _general, _sockets, _transparent  # noqa: F401  (registration side effects)


_load_handlers()
