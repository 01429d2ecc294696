"""An :class:`asyncio.Transport` over one SSL socket of the module.

Theory of operation
-------------------
A :class:`ModemSocketTransport` is created by :meth:`Modem.create_connection`
after ``+QSSLOPEN: <id>,0``. It runs two small tasks over the shared AT channel:

* **Receive pump** (buffer access mode). A ``+QSSLURC: "recv"`` doorbell (or a
  slow timer) wakes it; it issues ``AT+QSSLRECV=<id>,1500`` until the module
  answers ``+QSSLRECV: 0``. While the protocol has paused reading, no read is
  issued: the module's full buffer closes the TCP window (real backpressure).
  In direct push mode the data arrives inside the URC.
* **Send pump.** ``write()`` appends to a buffer; the pump sends it in fixed
  length ``AT+QSSLSEND=<id>,<n>`` chunks of at most 1460 bytes (never the
  Ctrl+Z form). ``SEND FAIL`` (module buffer full) is retried with bounded
  exponential back-off; a send whose outcome is unknown (timeout after the
  payload) fails the connection instead of risking duplicated bytes. Water
  marks drive ``pause_writing``/``resume_writing`` so ``drain()`` really waits.
* **Transparent mode.** The channel hands the whole port to the socket; bytes
  go both ways unframed, ``pause_reading`` stops reading the port, ``NO
  CARRIER`` is the end of the stream, and closing leaves the mode first.
* **Switching.** :meth:`switch_mode` moves a live socket between the three
  modes (see :mod:`quectel_aio._access_modes`); in direct push mode
  ``pause_reading`` falls back to buffer mode until ``resume_reading``.
* **Close.** ``+QSSLURC: "closed"`` first lets the receive pump deliver every
  byte the module still holds, then ``eof_received``, then ``AT+QSSLCLOSE``,
  then ``connection_lost(None)``. ``close()`` flushes the send buffer first;
  ``abort()`` drops it. ``connection_lost`` is called exactly once, always
  through ``loop.call_soon``.

The module cannot half-close a TLS socket, so :meth:`can_write_eof` is False.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from . import _commands as cmd
from . import _events as ev
from ._access_modes import AccessMode, AccessModeSwitching, SocketState, parse_access_mode
from ._counting_lock import CountingLock
from ._errors import (
    CommandError,
    CommandTimeout,
    QuectelError,
    SocketBroken,
)
from ._flow_control import DEFAULT_HIGH_WATER, WriteFlowControl
from ._grammar import MAX_READ_LENGTH, MAX_SEND_LENGTH
from ._out_buffer import OutBuffer
from ._read_delivery import ReadDelivery
from ._socket_queries import nothing_unread, socket_closing

_log = structlog.get_logger("quectel_aio.modem")

if TYPE_CHECKING:
    from ._channel import AtChannel, ExchangeResult

__all__ = ["AccessMode", "ModemSocketTransport", "parse_access_mode"]


#: Seconds an idle buffer-mode socket waits for a doorbell before it reads anyway.
RECV_POLL_INTERVAL = 5.0
#: Largest write handed to the port at once in transparent mode.
_TRANSPARENT_CHUNK = 16 * 1024
#: First back-off after SEND FAIL, doubled up to ``_SEND_FAIL_MAX_DELAY``.
_SEND_FAIL_FIRST_DELAY = 0.02
_SEND_FAIL_MAX_DELAY = 1.0


class ModemSocketTransport(AccessModeSwitching, ReadDelivery, WriteFlowControl, asyncio.Transport):
    """One module SSL socket as an asyncio transport.

    Created by :meth:`quectel_aio.Modem.create_connection`; do not instantiate
    it directly. ``get_extra_info`` knows ``"peername"``, ``"client_id"``
    (alias ``"socket_id"``), ``"quectel_ssl_ctx"``, ``"access_mode"``,
    ``"modem"`` and ``"sslcontext"`` (always ``None``: TLS runs on the module).
    """

    def __init__(
        self,
        channel: AtChannel,
        protocol: asyncio.Protocol,
        *,
        client_id: int,
        ssl_context_id: int,
        peername: tuple[str, int],
        access_mode: AccessMode,
        modem: object,
        on_finished: Callable[[int, bool], None],
        send_fail_timeout: float = 30.0,
    ) -> None:
        super().__init__(extra={})
        self._loop = asyncio.get_running_loop()
        self._channel = channel
        self._protocol = protocol
        self._client_id = client_id
        self._on_finished = on_finished
        self._send_fail_timeout = send_fail_timeout
        #: Bytes of the AT+QSSLSEND in flight (dropped from the buffer on SEND OK).
        self._chunk_in_flight = 0
        #: Chunks that got SEND OK (a SEND FAIL after progress starts a new back-off).
        self._chunks_sent = 0
        #: SEND FAIL back-off: since when, the next delay, and the chunk count then.
        self._failing_since: float | None = None
        self._fail_delay = _SEND_FAIL_FIRST_DELAY
        self._sent_before_failing = 0
        #: The last AT+QSSLRECV found the module buffer empty.
        self._recv_drained = False
        self._extra: dict[str, Any] = {
            "peername": peername,
            "client_id": client_id,
            "socket_id": client_id,
            "quectel_ssl_ctx": ssl_context_id,
            "access_mode": access_mode,
            "modem": modem,
            "sslcontext": None,
        }
        self._mode = access_mode
        self._state = SocketState.OPEN
        self._reading = True
        self._remote_closed = False
        self._aborted = False
        self._buffer = OutBuffer()
        self._high_water = DEFAULT_HIGH_WATER
        self._low_water = DEFAULT_HIGH_WATER // 4
        self._protocol_paused = False
        self._doorbell = asyncio.Event()
        self._write_wakeup = asyncio.Event()
        self._lost_called = False
        self._error: Exception | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing_task: asyncio.Task[None] | None = None
        #: Resolved once ``connection_made`` has run (``create_connection`` waits for it).
        self._made: asyncio.Future[None] = self._loop.create_future()
        #: Pushed data that arrived before connection_made (None once it ran).
        self._not_made: list[bytes] | None = []
        # Mode switching.
        self._mode_lock = CountingLock()
        self._pending_switch: tuple[AccessMode, asyncio.Future[None]] | None = None
        #: Switched from push to buffer mode because the protocol paused reading.
        self._overflowed = False
        #: The transparent session ended with NO CARRIER: nothing is left to read.
        self._no_carrier = False
        #: eof_received() has been called: no data may follow.
        self._eof_delivered = False
        self._init_read_delivery()
        # Whatever arrived before the transport existed is picked up at once.
        self._doorbell.set()

    # -- startup ----------------------------------------------------------------

    def _start(self) -> None:
        self._loop.call_soon(self._connection_made)
        self._spawn(self._receive_loop(), "recv")
        self._spawn(self._send_loop(), "send")

    def _spawn(self, coro: Any, what: str) -> None:
        task = self._loop.create_task(coro, name=f"quectel-aio-{what}-{self._client_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- events from the modem ----------------------------------------------------

    def _data_available(self) -> None:
        self._doorbell.set()

    def _socket_event(self, event: ev.Unsolicited) -> None:
        """A URC about this socket: pushed data, its close, or pushed data lost on the link."""
        if isinstance(event, ev.SslDataPushed):
            self._data_pushed(event.data)
        elif isinstance(event, ev.SslClosed):
            self._remote_close()
        elif isinstance(event, ev.SslDataLost) and self._state is not SocketState.CLOSED:
            self._fatal(
                SocketBroken(f"client {self._client_id}: pushed data was lost on the link ({event.reason})")
            )

    def _remote_close(self) -> None:
        self._remote_closed = True
        self._doorbell.set()
        self._write_wakeup.set()

    def _broken(self, exc: Exception, *, freed: bool = True) -> None:
        """An outside cause (restart, PDP loss, port failure) killed the socket.

        ``freed`` is False when the module still holds the ID (PDP loss: "closing").
        """
        if self._state is SocketState.CLOSED:
            return
        self._error = exc
        self._buffer.clear()
        for task in list(self._tasks):
            task.cancel()
        self._fail_pending_switch(exc if isinstance(exc, SocketBroken) else SocketBroken(str(exc)))
        self._state = SocketState.CLOSED
        self._schedule_connection_lost(exc)
        self._on_finished(self._client_id, freed)

    # -- asyncio.BaseTransport --------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Return transport information (see the class docstring)."""
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        """True once :meth:`close` or :meth:`abort` was called or the socket ended."""
        return self._state is not SocketState.OPEN

    def close(self) -> None:
        """Flush buffered writes, then ``AT+QSSLCLOSE``, then ``connection_lost(None)``."""
        if self._state is not SocketState.OPEN:
            return
        self._state = SocketState.CLOSING
        self._write_wakeup.set()
        self._closing_task = self._loop.create_task(
            self._close_sequence(flush=True), name="quectel-aio-close"
        )

    def _shut_down(self, exc: Exception) -> None:
        """The modem closes: flush and close as :meth:`close`, then ``connection_lost(exc)``.

        The peer did not end the stream, so the protocol must not take the
        close for its end (a message read to the close would be cut short).
        """
        if self._state is SocketState.OPEN and self._error is None:
            self._error = exc
        self.close()

    def abort(self) -> None:
        """Drop buffered writes and close at once."""
        if self._state is SocketState.CLOSED:
            return
        self._aborted = True
        self._buffer.clear()
        if self._state is SocketState.OPEN:
            self._state = SocketState.CLOSING
        self._write_wakeup.set()
        if self._closing_task is None:
            self._closing_task = self._loop.create_task(
                self._close_sequence(flush=False), name="quectel-aio-abort"
            )

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Replace the protocol."""
        if not isinstance(protocol, asyncio.Protocol):
            raise TypeError("ModemSocketTransport needs an asyncio.Protocol")
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        """Return the current protocol."""
        return self._protocol

    # -- asyncio.ReadTransport ------------------------------------------------------

    def is_reading(self) -> bool:
        """True unless reading is paused."""
        return self._reading and self._state is not SocketState.CLOSED

    def pause_reading(self) -> None:
        """Stop taking data: data waits in the module (or in the port in transparent mode).

        Buffer mode stops issuing ``AT+QSSLRECV``; direct push switches the
        socket to buffer mode until :meth:`resume_reading`; transparent mode
        stops reading the (exclusive) port.
        """
        if not self._reading or self._state is SocketState.CLOSED:
            return
        self._reading = False
        if self._mode is AccessMode.TRANSPARENT:
            self._channel.pause_port_reading()
        elif self._mode is AccessMode.PUSH:
            self._spawn(self._overflow_to_buffer(), "overflow")

    def resume_reading(self) -> None:
        """Resume reading (and check the module for data at once)."""
        if self._reading or self._state is SocketState.CLOSED:
            return  # closed: the port and the client ID may be another socket's now
        self._reading = True
        self._schedule_release()
        if self._mode is AccessMode.TRANSPARENT or self._channel.transparent_client == self._client_id:
            # Only the session's own socket may read the port again: another
            # socket resuming must not undo a paused session's backpressure.
            self._channel.resume_port_reading()
        self._doorbell.set()
        if self._overflowed:
            self._spawn(self._restore_push(), "restore-push")

    # -- asyncio.WriteTransport -----------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data`` for the send pump.

        Like asyncio's transports, a write after :meth:`close`, :meth:`abort`
        or the end of the connection is dropped (and logged), not raised.

        Raises:
            TypeError: if ``data`` is not bytes-like.
        """
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes-like, not {type(data).__name__}")
        if self._state is not SocketState.OPEN or self._remote_closed:
            if data:
                _log.debug("write_after_close_dropped", client_id=self._client_id, size=len(data))
            return
        if not data:
            return
        self._buffer.append(data)
        self._write_wakeup.set()
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        """Queue several buffers."""
        for data in list_of_data:
            self.write(data)

    def can_write_eof(self) -> bool:
        """Always False: the module cannot half-close a TLS socket."""
        return False

    def write_eof(self) -> None:
        """Refuse, as asyncio's TLS transport does: the module cannot half-close a TLS socket.

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError("the module's SSL sockets cannot half-close; use close()")

    # -- pumps ---------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        channel, client_id = self._channel, self._client_id
        try:
            while True:
                polled = False
                if self._mode is AccessMode.BUFFER and self._reading and not self._remote_closed:
                    # A doorbell or "closed" URC lost on the wire would stall the socket
                    # for good (the module rings once per empty-to-non-empty transition):
                    # an idle socket also reads, and asks its state, on a slow timer.
                    try:
                        async with asyncio.timeout(RECV_POLL_INTERVAL):
                            await self._doorbell.wait()
                    except TimeoutError:
                        polled = True
                else:
                    await self._doorbell.wait()
                self._doorbell.clear()
                drained = self._no_carrier
                while not drained:
                    if self._pending_switch is not None:
                        await self._perform_pending_switch()
                    if self._mode is not AccessMode.BUFFER:
                        drained = True
                        break
                    if not self._reading or self._aborted:
                        break
                    self._recv_drained = False
                    try:
                        await channel.execute(cmd.SslRecv(client_id, MAX_READ_LENGTH), chain=self._received)
                    except CommandError:  # "abnormally closed": see _socket_queries
                        closing = self._remote_closed or await socket_closing(channel, client_id)
                        if not (closing and await nothing_unread(channel, client_id)):
                            raise
                        self._remote_closed = self._recv_drained = True
                    drained = self._recv_drained
                if (
                    polled
                    and drained
                    and not self._remote_closed
                    and await socket_closing(channel, client_id)
                ):
                    self._remote_close()  # its "closed" URC was lost: read what came before it
                    continue
                if self._remote_closed and drained and not self._aborted:
                    if self._mode is AccessMode.PUSH and await self._read_rest_in_buffer_mode():
                        continue  # read the module buffer down before the end of the stream
                    self._finish_remote_close()
                    return
        except asyncio.CancelledError:
            raise
        except QuectelError as exc:
            self._fatal(exc)

    def _received(self, result: ExchangeResult) -> tuple[cmd.Command, bytes | None] | None:
        """In the reader: hand an ``AT+QSSLRECV`` block over and ask for the next one at once.

        The chain stops when the module buffer is empty, reading is paused, a
        mode switch waits, or another command waits for the port.
        """
        if not result.payload:
            self._recv_drained = True
            return None
        self._deliver(result.payload)
        if (
            not self._reading
            or self._aborted
            or self._mode is not AccessMode.BUFFER
            or self._pending_switch is not None
            or self._mode_lock.waiting
        ):
            return None
        return cmd.SslRecv(self._client_id, MAX_READ_LENGTH), None

    def _after_end_of_stream(self) -> None:
        """``eof_received`` was called: close the module socket without flushing writes."""
        self._buffer.clear()
        if self._state is SocketState.OPEN:
            self._state = SocketState.CLOSING
        if self._closing_task is None:
            self._closing_task = self._loop.create_task(
                self._close_sequence(flush=False), name="quectel-aio-remote-close"
            )

    async def _send_loop(self) -> None:
        try:
            while True:
                await self._write_wakeup.wait()
                self._write_wakeup.clear()
                while self._buffer and not self._aborted and not self._remote_closed:
                    async with self._mode_lock:
                        if self._mode is AccessMode.TRANSPARENT:
                            self._failing_since = None  # bytes go through: no SEND FAIL streak
                            chunk = self._buffer.peek(_TRANSPARENT_CHUNK)
                            self._channel.write_transparent(chunk)
                            self._buffer.consume(len(chunk))
                            self._maybe_resume_protocol()
                            await self._channel.drain()
                            continue
                        backoff = await self._send_chunks()
                    if backoff:
                        # SEND FAIL: wait without holding the mode lock, so that a
                        # switch (the push overflow among them) is not held up.
                        await asyncio.sleep(backoff)
                if self._remote_closed and self._buffer:
                    # The peer is gone: what is queued can never be sent. Dropped, so a
                    # writer waiting in drain() goes on (to read the peer's answer).
                    _log.debug(
                        "unsent_after_peer_close_dropped", client_id=self._client_id, size=len(self._buffer)
                    )
                    self._buffer.clear()
                    self._maybe_resume_protocol()
                if self._state is not SocketState.OPEN and (
                    not self._buffer or self._aborted or self._remote_closed
                ):
                    return  # nothing left that could still be sent
        except asyncio.CancelledError:
            raise
        except QuectelError as exc:
            self._fatal(exc)

    async def _send_chunks(self) -> float:
        """Send buffered bytes in ``AT+QSSLSEND`` chunks until the channel hands the port on.

        The chunks are one chained exchange (:meth:`_chunk_sent` runs in the
        reader and names the next chunk), so a long write costs no task
        switch per chunk; the chain stops when another command waits for
        the port, and the send loop comes back for the rest.

        Returns:
            0 when the chain ended normally; after ``SEND FAIL`` (the module's
            send buffer is full), the seconds to wait before trying again.

        Raises:
            SocketBroken: the chunk's fate is unknown, the module refused it,
                or its buffer stayed full for ``send_fail_timeout``.
        """
        chunk = self._buffer.peek(MAX_SEND_LENGTH)
        self._chunk_in_flight = len(chunk)
        try:
            await self._channel.execute(
                cmd.SslSend(self._client_id, len(chunk)), chunk, chain=self._chunk_sent
            )
            self._failing_since = None
            return 0.0
        except CommandTimeout as exc:
            raise SocketBroken(
                f"client {self._client_id}: no answer to AT+QSSLSEND; the chunk's fate is unknown, "
                "so the connection is failed rather than risk duplicated bytes"
            ) from exc
        except CommandError as exc:
            if exc.result != "SEND FAIL":
                if await socket_closing(self._channel, self._client_id):
                    # The peer is gone before its URC: read the rest, then end the stream.
                    self._remote_close()
                    return 0.0
                raise SocketBroken(f"client {self._client_id}: send failed: {exc}") from exc
            now = self._loop.time()
            if self._failing_since is None or self._chunks_sent != self._sent_before_failing:
                # The first SEND FAIL, or the first since chunks went through again.
                self._failing_since, self._fail_delay = now, _SEND_FAIL_FIRST_DELAY
                self._sent_before_failing = self._chunks_sent
            delay = self._fail_delay
            if now + delay > self._failing_since + self._send_fail_timeout:
                raise SocketBroken(
                    f"client {self._client_id}: the module's send buffer stayed full "
                    f"for {self._send_fail_timeout:g} s (SEND FAIL)"
                ) from exc
            self._fail_delay = min(delay * 2, _SEND_FAIL_MAX_DELAY)
            return delay

    def _chunk_sent(self, result: ExchangeResult) -> tuple[cmd.Command, bytes | None] | None:
        """In the reader: a chunk got ``SEND OK``; drop it and name the next one."""
        self._buffer.consume(self._chunk_in_flight)
        self._chunk_in_flight = 0
        self._chunks_sent += 1
        self._maybe_resume_protocol()
        if not self._buffer or self._aborted or self._remote_closed or self._mode_lock.waiting:
            return None
        chunk = self._buffer.peek(MAX_SEND_LENGTH)
        self._chunk_in_flight = len(chunk)
        return cmd.SslSend(self._client_id, len(chunk)), chunk

    async def _close_sequence(self, *, flush: bool) -> None:
        freed = False  # the module confirmed AT+QSSLCLOSE
        try:
            if flush:
                send_tasks = [t for t in self._tasks if t.get_name().startswith("quectel-aio-send")]
                for task in send_tasks:
                    try:
                        await task
                    except asyncio.CancelledError:
                        if self._closing_task is not None and self._closing_task.cancelling():
                            raise  # the close itself was cancelled, not only the pump
            self._cancel_pumps()
            self._fail_pending_switch(SocketBroken(f"client {self._client_id} was closed"))
            if self._channel.transparent_client == self._client_id:
                async with self._mode_lock:
                    with contextlib.suppress(QuectelError):
                        await self._channel.escape_transparent()
            with contextlib.suppress(QuectelError):
                # abort() must not wait for the module to flush to a peer that
                # may not read: close_timeout 0 closes at once.
                close_timeout = 0 if self._aborted else 10
                await self._channel.execute(cmd.SslClose(self._client_id, close_timeout))
                freed = True
        finally:
            self._cancel_pumps()  # a cancelled close leaves no pump behind
            if self._state is not SocketState.CLOSED:
                self._state = SocketState.CLOSED
                self._schedule_connection_lost(self._error)
                # Unconfirmed, the modem frees the ID on the module before reusing it.
                self._on_finished(self._client_id, freed)

    def _cancel_pumps(self) -> None:
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    def _fatal(self, exc: Exception) -> None:
        """A pump failed: the socket is unusable; close it on the module too."""
        if self._error is None:
            self._error = exc if isinstance(exc, SocketBroken) else SocketBroken(str(exc))
            self._error.__cause__ = exc if self._error is not exc else exc.__cause__
        self._aborted = True
        self._buffer.clear()
        if self._state is SocketState.OPEN:
            self._state = SocketState.CLOSING
        if self._closing_task is None:
            self._closing_task = self._loop.create_task(
                self._close_sequence(flush=False), name="quectel-aio-fail-close"
            )

    def _schedule_connection_lost(self, exc: Exception | None) -> None:
        if self._lost_called:
            return
        self._lost_called = True
        self._loop.call_soon(self._protocol.connection_lost, exc)

    async def _wait_finished(self) -> None:
        """Wait until the close sequence (if any) is over; waiting does not cancel it."""
        task = self._closing_task
        if task is not None:
            await asyncio.wait([task])

    def __repr__(self) -> str:
        return f"<ModemSocketTransport client_id={self._client_id} state={self._state.value}>"
