"""The AT channel: one reader task, one exchange at a time.

Theory of operation
-------------------
:class:`AtChannel` owns the byte port and the sans-IO :class:`ModemConnection`.

* **One reader.** A single task reads the port, feeds the core and dispatches
  every event: responses go to the exchange in flight, unsolicited events go to
  the ``on_unsolicited`` callback (the modem routes them to sockets).
* **One exchange.** :meth:`AtChannel.execute` holds the channel lock from the
  command line to its final result, including the ``>`` prompt, the payload and
  ``SEND OK`` of ``AT+QSSLSEND`` and the data phase of ``AT+QFUPL``.
* **Cancellation never desynchronises.** If the caller is cancelled while its
  command is on the wire, the exchange is *abandoned* in the core (its late
  final result is swallowed, a late ``QSSLRECV`` payload is consumed by length)
  and a background finisher keeps the lock until that final result arrives or
  the command's deadline plus a quiet period has passed. The next command can
  therefore never receive a reply that belonged to an earlier one.
* **Timeouts.** Each command's deadline is the spec's maximum response time
  plus ``margin`` (host and USB latency). A timeout abandons the command the
  same way and raises :class:`CommandTimeout`.
* **Transparent mode.** :meth:`AtChannel.enter_transparent` runs a command
  that answers ``CONNECT`` (``AT+QSSLOPEN`` mode 2, ``AT+QISWTMD=<id>,2``,
  ``ATO``) and, on success, keeps the lock: the port is exclusive to that
  socket until the session ends (``NO CARRIER``, or ``OK`` after
  :meth:`AtChannel.escape_transparent` sent ``+++`` between two guard times).
  Commands for other sockets wait for the lock, or raise :class:`PortBusy`
  when called with ``wait=False``. Raw bytes that may start an in-band result
  code are held for ``tail_hold`` seconds of silence before they are
  delivered as data.
* **Logging.** Lifecycle events go to ``structlog.get_logger("quectel_aio.modem")``.
  The opt-in wire trace (``quectel_aio.wire``) shows command lines and result
  events with payload bytes and secrets redacted unless ``trace_payloads``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from . import _commands as cmd
from . import _events as ev
from ._channel_abandon import AbandonedExchanges
from ._channel_transparent import TransparentChannel, TransparentSession
from ._connection import ModemConnection
from ._counting_lock import CountingLock
from ._errors import (
    CommandError,
    CommandTimeout,
    LocalProtocolError,
    ModemUnavailable,
    PortBusy,
    QuectelError,
    RemoteProtocolError,
)
from ._grammar import error_text
from ._ports import Port
from ._wire_trace import redacted_line, show, trace_event, wire_log

__all__ = ["AtChannel", "ExchangeResult", "TransparentSession"]

_log = structlog.get_logger("quectel_aio.modem")

#: Before the end of a block a command waits for, the reader wakes once this
#: many bytes early (three 1 ms slices at 921600 Bd), so the end finds it warm.
WARM_UP_BYTES = 256
#: Seconds of silence after which raw bytes that could start ``NO CARRIER``
#: are handed over as data.
TAIL_HOLD = 0.02


class _DeadlineExpired(Exception):
    """Set on an exchange's future when its deadline passes."""


@dataclass(frozen=True, slots=True)
class ExchangeResult:
    """The successful end of one command exchange."""

    #: Final result text: ``"OK"``, ``"SEND OK"`` or ``"CONNECT"``.
    result: str
    #: Information lines of the command.
    lines: tuple[str, ...]
    #: The ``AT+QSSLRECV`` data block, if any.
    payload: bytes | None


#: What a chained exchange runs next: a command and its payload, or ``None`` to stop.
NextStep = tuple[cmd.Command, bytes | None] | None
#: Called in the reader with each successful result of a chained exchange.
Chain = Callable[[ExchangeResult], NextStep]


class _Exchange:
    __slots__ = (
        "chain",
        "command",
        "deadline",
        "expires_at",
        "final",
        "payload",
        "restarted",
    )

    def __init__(
        self,
        command: cmd.Command,
        payload: bytes | None,
        loop: asyncio.AbstractEventLoop,
        deadline: float,
        chain: Chain | None,
    ) -> None:
        self.command = command
        self.payload = payload
        self.final: asyncio.Future[ev.Response] = loop.create_future()
        self.restarted = False
        self.deadline = deadline
        self.chain = chain
        #: Loop time at which the step in flight fails (a chained step moves it
        #: on; the channel's watchdog re-arms itself when it fires early).
        self.expires_at = 0.0


class AtChannel(TransparentChannel, AbandonedExchanges):
    """The single owner of the AT port (see the module docstring)."""

    def __init__(
        self,
        port: Port,
        on_unsolicited: Callable[[ev.Unsolicited], None],
        on_failure: Callable[[BaseException], None],
        *,
        margin: float = 2.0,
        payload_echo: bool = False,
        wire_trace: bool = False,
        trace_payloads: bool = False,
        write_timeout: float = 10.0,
    ) -> None:
        self._port = port
        self._core = ModemConnection(payload_echo=payload_echo)
        #: The module echoes QSSLSEND payloads (tolerated by the parser).
        self.payload_echo = payload_echo
        self._on_unsolicited = on_unsolicited
        self._on_failure = on_failure
        self._margin = margin
        self._wire_trace = wire_trace
        self._trace_payloads = trace_payloads
        self._write_timeout = write_timeout
        #: The port: one exchange (or transparent session) at a time; a
        #: chained exchange yields to anyone waiting for it.
        self._lock = CountingLock()
        self._current: _Exchange | None = None
        #: One timer for every exchange (see :meth:`_arm_watchdog`).
        self._watchdog: asyncio.TimerHandle | None = None
        self._abandoned_done: asyncio.Event | None = None
        #: The payload of the abandoned exchange, for a prompt that comes late.
        self._abandoned_payload: bytes | None = None
        self._reader: asyncio.Task[None] | None = None
        self._finishers: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._closed = False
        #: Bytes read from the port so far (the probe failure tells none from garbage).
        self.bytes_read = 0
        self._handed_over = False
        # Transparent mode.
        self._session: TransparentSession | None = None
        self._orphan_session: tuple[int, TransparentSession] | None = None
        self._escape_sent = False
        #: The escape in progress (``+++`` or DTR); callers share it.
        self._escape_task: asyncio.Task[str] | None = None
        self._session_ended: asyncio.Future[str] | None = None
        self._read_gate = asyncio.Event()
        self._read_gate.set()
        self._tail_timer: asyncio.TimerHandle | None = None
        self._session_owns_lock = False
        #: Seconds of silence the module needs around ``+++``.
        self.escape_guard_time = 1.0
        #: Leave transparent mode by dropping DTR instead of ``+++``.
        self.dtr_escape = False
        self.tail_hold = TAIL_HOLD
        self.log = _log.bind(port=port.name)

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Start the reader task."""
        self._reader = asyncio.get_running_loop().create_task(self._read_loop(), name="quectel-aio-reader")

    @property
    def failure(self) -> BaseException | None:
        """Why the channel stopped, if it did."""
        return self._failure

    async def aclose(self) -> None:
        """Stop the reader, fail the exchange in flight and close the port."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._settle_owed_data_phase()
        finally:
            await self._shut_down()

    async def _shut_down(self) -> None:
        if self._tail_timer is not None:
            self._tail_timer.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._fail(ModemUnavailable("the modem was closed"), notify=False)
        tasks = [*self._finishers, *(t for t in (self._escape_task, self._reader) if t is not None)]
        try:
            for task in tasks:
                task.cancel()
            if tasks:
                # Not "await task", which would swallow the caller's own cancellation.
                await asyncio.wait(tasks)
            for task in tasks:
                if not task.cancelled():
                    task.exception()  # the reader's bug was reported when it failed the channel
        finally:
            await self._port.aclose()

    # -- reading ---------------------------------------------------------------

    async def _read_loop(self) -> None:
        port, core = self._port, self._core
        gate = self._read_gate
        try:
            while True:
                if not gate.is_set():
                    await gate.wait()
                # Partial payload arrivals cannot produce an event, so the reader
                # sleeps through them: one wake per pushed block instead of one
                # per arrival. A block a command waits for ends on the command
                # cycle's critical path, and a reader that slept through all of
                # it resumes measurably later, so there it wakes once more,
                # shortly before the end (decision 80).
                needed = core.bytes_needed
                if self._current is not None:
                    needed -= WARM_UP_BYTES
                data = await port.read(needed)
                if not data:
                    raise ModemUnavailable(f"the port {port.name} reached end of file")
                self.bytes_read += len(data)
                core.receive_data(data)
                self._drain_events()
                if core.holds_transparent_tail:
                    self._arm_tail_timer()
        except asyncio.CancelledError:
            raise
        except QuectelError as exc:
            self._fail(exc)
        except Exception as exc:  # a bug must not leave callers hanging forever
            self._fail(ModemUnavailable(f"reader failed: {exc!r}"))
            raise

    def _drain_events(self) -> None:
        core = self._core
        while True:
            try:
                event = core.next_event()
            except RemoteProtocolError as exc:
                self.log.warning("protocol_error", error=str(exc))
                current = self._current
                if current is not None and not current.final.done():
                    current.final.set_exception(exc)
                core.resync()
                continue
            if event is ev.NEED_DATA:
                break
            self._dispatch(event)
        if self._abandoned_done is not None and core.abandoned is None and core.transparent_client is None:
            self._abandoned_done.set()

    def _dispatch(self, event: ev.Event) -> None:
        if self._wire_trace:
            trace_event(event, self._trace_payloads)
        # Most frequent first: responses, raw data, URCs.
        if isinstance(event, ev.Response):
            self._dispatch_response(event)
        elif isinstance(event, ev.TransparentData):
            session = self._session_for(event.client_id)
            if session is not None:
                session.transparent_data(event.data)
            else:
                self.log.warning("transparent_data_dropped", client_id=event.client_id, size=len(event.data))
        elif isinstance(event, ev.Unsolicited):
            if isinstance(event, ev.ModemReady):
                self._fail_in_flight_on_restart()
            self._on_unsolicited(event)
        elif isinstance(event, ev.TransparentEnded):
            self._session_end(event.reason)
        elif isinstance(event, ev.AbandonedTransparent):
            self.log.warning("leaving_abandoned_transparent_session", command=event.command.at_name)
            task = asyncio.get_running_loop().create_task(self._escape_orphan(), name="quectel-aio-escape")
            self._finishers.add(task)
            task.add_done_callback(self._finishers.discard)
        elif isinstance(event, ev.AbandonedPrompt):
            # The module now waits for the payload of a command we gave up on.
            # Exactly the announced length keeps the channel in step (ESC is
            # not known to end a fixed-length input on every firmware): the
            # bytes the caller meant to send, so the peer gets no invented
            # data; the socket involved has already been failed by its owner.
            self._fill_data_phase(event.command, self._abandoned_payload)
        elif isinstance(event, ev.EndOfStream):
            self._fail(ModemUnavailable(f"the port {self._port.name} reached end of file"))

    def _fill_data_phase(self, command: cmd.Command, payload: bytes | None) -> None:
        size = command.length if isinstance(command, cmd.SslSend) else getattr(command, "size", 0)
        data = payload if payload is not None and len(payload) == size else bytes(size)
        self._port.write(self._core.send_payload(data))
        self.log.warning("completed_abandoned_data_phase", command=command.at_name, size=size)

    def _dispatch_response(self, event: ev.Response) -> None:
        current = self._current
        if current is None or event.command is not current.command or current.final.done():
            if (
                current is not None
                and current.final.done()
                and isinstance(event, ev.PromptReceived | ev.ConnectReceived)
            ):
                # Cancelled or timed out while the prompt was on its way: the
                # module waits for the payload, which the caller no longer
                # sends (decision 84).
                self._fill_data_phase(current.command, current.payload)
                return
            if current is not None and current.final.cancelled():
                # The caller was cancelled just as the reply arrived: the command
                # finished normally, nobody is waiting for its result.
                self.log.debug("response_after_cancellation", kind=type(event).__name__)
            else:
                self.log.warning("stray_response", kind=type(event).__name__)
            return
        if isinstance(event, ev.PromptReceived | ev.ConnectReceived):
            payload = current.payload
            if payload is None:
                current.final.set_exception(RemoteProtocolError("unexpected data prompt"))
                return
            self._port.write(self._core.send_payload(payload))
            if self._wire_trace:
                # File uploads carry keys and certificates: never shown, even with payload tracing.
                visible = self._trace_payloads and not isinstance(current.command, cmd.FileUpload)
                wire_log.debug("tx_payload", size=len(payload), data=show(payload, visible))
            return
        if current.chain is not None and isinstance(event, ev.CommandSucceeded):
            self._chain_step(current, event)
            return
        current.final.set_result(event)

    def _chain_step(self, current: _Exchange, event: ev.CommandSucceeded) -> None:
        """A chained exchange succeeded: hand the result over and send the next step."""
        assert current.chain is not None
        try:
            step = current.chain(ExchangeResult(event.result, event.lines, event.payload))
            if step is None or self._lock.waiting:
                current.final.set_result(event)
                return
            command, payload = step
            deadline = self.deadline_for(command)
            self._port.write(self._core.send(command))
        except Exception as exc:  # a closed port, a chain bug: the caller hears of it
            current.final.set_exception(exc)
            return
        current.command, current.payload, current.deadline = command, payload, deadline
        if self._wire_trace:
            wire_log.debug("tx", line=redacted_line(command))
        current.expires_at = asyncio.get_running_loop().time() + deadline
        self._arm_watchdog(current.expires_at)

    def _fail_in_flight_on_restart(self) -> None:
        """``RDY``: the module rebooted, so the command in flight will never be answered.

        Its caller fails at once; the exchange is abandoned with only the quiet
        period as deadline, so a stray late reply still cannot reach the next
        command.
        """
        current = self._current
        if current is not None and not current.final.done():
            current.restarted = True
            current.final.set_exception(
                CommandError(current.command.label, "RDY", None, "the module restarted before answering")
            )

    # -- failure ---------------------------------------------------------------

    def _fail(self, exc: BaseException, *, notify: bool = True) -> None:
        if self._failure is None:
            self._failure = exc
            if notify:
                self.log.error("channel_failed", error=str(exc))
        current = self._current
        if current is not None and not current.final.done():
            current.final.set_exception(exc)
        if self._abandoned_done is not None:
            self._abandoned_done.set()
        ended = self._session_ended
        if ended is not None and not ended.done():
            ended.set_exception(exc)
            ended.exception()  # the escape may have stopped waiting on it: not "never retrieved"
        session, self._session = self._session, None
        self._read_gate.set()
        if session is not None:
            session.transparent_ended("FAILED")
        if self._session_owns_lock:
            # No OK or NO CARRIER can end the session now: whoever waits for
            # the port takes it and hears of the failure.
            self._session_owns_lock = False
            self._lock.release()
        if notify:
            self._on_failure(exc)

    # -- exchanges -------------------------------------------------------------

    def deadline_for(self, command: cmd.Command, payload_size: int = 0) -> float:
        """The seconds allowed for ``command``: its maximum response time plus margin."""
        return command.timeout + self._margin

    async def execute(
        self,
        command: cmd.Command,
        payload: bytes | None = None,
        *,
        timeout: float | None = None,
        wait: bool = True,
        chain: Chain | None = None,
    ) -> ExchangeResult:
        """Run one command exchange and return its successful result.

        Args:
            command: the command to send.
            payload: data for the ``>`` prompt or the ``CONNECT`` data phase.
            timeout: override of the command's deadline in seconds.
            wait: wait for a transparent session to end (else raise).
            chain: called in the reader task with every successful result;
                the command and payload it returns are sent at once, in the
                same exchange, unless another caller waits for the port (so
                back-to-back data commands cost no task switch and no
                socket starves). The last result is also returned; a failure
                of any step is raised as usual. It must not raise.

        Raises:
            CommandError: the modem answered with a failure result.
            CommandTimeout: no final result in time.
            ModemUnavailable: the port failed or the channel is closed.
            PortBusy: ``wait`` is false and a socket holds the port.
        """
        self._check_usable()
        if not wait and self._session is not None:
            raise PortBusy(self._core.transparent_client)
        if (command.expects_prompt or command.expects_connect) and payload is None:
            raise LocalProtocolError(f"{command.at_name} needs a payload")
        await self._lock.acquire()
        self._handed_over = False
        try:
            self._check_usable()
            response = await self._exchange_locked(command, payload, timeout, chain)
            if isinstance(response, ev.CommandSucceeded):
                return ExchangeResult(response.result, response.lines, response.payload)
            if isinstance(response, ev.CommandFailed):
                raise await self._describe_failure_locked(command, response)
            raise RemoteProtocolError(f"unexpected response {type(response).__name__}")
        finally:
            if self._handed_over:
                self._handed_over = False
            else:
                self._lock.release()

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise ModemUnavailable(f"the modem channel is down: {self._failure}") from self._failure

    async def _exchange_locked(
        self, command: cmd.Command, payload: bytes | None, timeout: float | None, chain: Chain | None = None
    ) -> ev.Response:
        deadline = self.deadline_for(command) if timeout is None else timeout
        loop = asyncio.get_running_loop()
        exchange = _Exchange(command, payload, loop, deadline, chain)
        self._current = exchange
        try:
            self._port.write(self._core.send(command))
            if self._wire_trace:
                wire_log.debug("tx", line=redacted_line(command))
            exchange.expires_at = loop.time() + deadline
            self._arm_watchdog(exchange.expires_at)
            return await exchange.final
        except CommandError:
            if exchange.restarted:
                self._abandon(exchange, 0.0, "restart")
            raise
        except RemoteProtocolError:
            # The core abandoned the command while resynchronising.
            self._abandon(exchange, exchange.deadline, "protocol error")
            raise
        except _DeadlineExpired:
            self._abandon(exchange, exchange.deadline, "timeout")
            raise CommandTimeout(exchange.command.label, exchange.deadline) from None
        except asyncio.CancelledError:
            # The core, not the future, knows whether the reply arrived:
            # cancelling the task also cancels the future it awaited.
            self._abandon(exchange, 0.0 if exchange.restarted else exchange.deadline, "cancelled")
            raise
        finally:
            self._current = None

    def _arm_watchdog(self, expires_at: float) -> None:
        """Make sure the watchdog fires no later than ``expires_at``.

        Deadlines are seconds and exchanges take microseconds to milliseconds,
        so one timer serves a long run of exchanges: it is only re-armed when a
        deadline is earlier than the one it waits for, and when it fires early
        it re-arms itself for the exchange then in flight (cheaper than a timer
        handle per exchange, and far cheaper than ``asyncio.timeout()``).
        """
        watchdog = self._watchdog
        if watchdog is not None:
            if watchdog.when() <= expires_at:
                return
            watchdog.cancel()
        self._watchdog = asyncio.get_running_loop().call_at(expires_at, self._on_watchdog)

    def _on_watchdog(self) -> None:
        """The watchdog fired: fail the exchange in flight if its deadline passed."""
        self._watchdog = None
        current = self._current
        if current is None or current.final.done():
            return
        if current.final.get_loop().time() < current.expires_at:
            self._arm_watchdog(current.expires_at)
        else:
            current.final.set_exception(_DeadlineExpired())

    async def _describe_failure_locked(self, command: cmd.Command, failure: ev.CommandFailed) -> CommandError:
        code, text = failure.code, failure.text
        if code is not None and not text:
            text = error_text(code)
        if (
            failure.result == "ERROR"
            and code is None
            and command.label.startswith(("AT+QSSL", "AT+QI"))
            and command.label != cmd.QueryError.at_name
        ):
            # SSL Application Note §5: the detail of an ERROR is AT+QIGETERROR,
            # asked while the lock is still held so no other command intervenes.
            query = cmd.QueryError()
            with contextlib.suppress(RemoteProtocolError, CommandError):
                response = await self._exchange_locked(query, None, None)
                if isinstance(response, ev.CommandSucceeded):
                    for info in response.lines:
                        last_code, last_text = cmd.parse_qiget_error(info)
                        if last_code != 0:  # "0,operate successfully" describes no failure
                            code, text = last_code, last_text
        return CommandError(command.label, failure.result, code, text)
