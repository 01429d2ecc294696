"""Read side of a socket transport: handing bytes and the end of the stream to the protocol.

:class:`ReadDelivery` is the part of
:class:`~quectel_aio.transport.ModemSocketTransport` that calls the
protocol's ``connection_made``, ``data_received`` and ``eof_received``. Like
asyncio's own transports, it calls neither of the last two while the protocol
has paused reading, and a ``connection_made`` that raises fails the connection
(as on asyncio's TLS transport).

Pausing cannot stop bytes already on their way: a direct push keeps coming
until the module has switched the socket to buffer mode, a transparent
session's bytes read from the port before it stopped being read, one
``AT+QSSLRECV`` answer in flight. Those bytes are held here, in order, and
handed over once the protocol resumes (from the event loop, never from inside
``resume_reading()``). The end of the stream waits behind them, and so does
the ``AT+QSSLCLOSE`` that follows it: a protocol that never resumes keeps its
socket, as an asyncio socket with unread data stays open. Memory is bounded by
what was in flight when the pause took effect (decision 45).

Once ``close()`` or ``abort()`` was called, no more data is received: bytes a
flush still reads, and bytes held for a paused protocol, are dropped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

import structlog

from ._access_modes import SocketState
from ._errors import SocketBroken

_log = structlog.get_logger("quectel_aio.modem")

__all__ = ["ReadDelivery"]


class ReadDelivery:
    """``data_received``/``eof_received`` for a socket transport, honouring ``pause_reading``."""

    _loop: asyncio.AbstractEventLoop
    _protocol: asyncio.Protocol
    _client_id: int
    _state: SocketState
    _reading: bool
    _aborted: bool
    _eof_delivered: bool
    _error: Exception | None

    _made: asyncio.Future[None]
    _not_made: list[bytes] | None

    # Provided by the transport.
    _fatal: Callable[[Exception], None]
    _after_end_of_stream: Callable[[], None]

    def _init_read_delivery(self) -> None:
        #: Bytes that arrived while the protocol had paused reading.
        self._held: deque[bytes] = deque()
        #: The stream ended while bytes were held or reading was paused.
        self._eof_waiting = False
        self._release_scheduled = False

    def _connection_made(self) -> None:
        """Call ``connection_made``, then hand over what was pushed before it."""
        if self._state is SocketState.CLOSED:
            if not self._made.done():
                self._made.set_result(None)
            return
        assert isinstance(self, asyncio.BaseTransport)
        pending, self._not_made = self._not_made, None
        try:
            self._protocol.connection_made(self)
        except Exception as exc:  # like asyncio's TLS transport: the connection fails
            _log.error("protocol_connection_made_failed", client_id=self._client_id, error=repr(exc))
            self._fatal(exc)  # nothing is delivered to (or held for) the protocol any more
            if not self._made.done():
                self._made.set_exception(exc)  # create_connection raises it
            return
        finally:
            if not self._made.done():
                self._made.set_result(None)
        for data in pending or ():
            self._data_pushed(data)

    def _data_pushed(self, data: bytes) -> None:
        """Bytes of a direct push: held until ``connection_made`` has run."""
        if self._state is SocketState.CLOSED or self._aborted:
            return
        if self._not_made is not None:
            self._not_made.append(data)  # data_received only after connection_made
            return
        self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        """Hand received bytes to the protocol, or hold them while it has paused reading."""
        if self._eof_delivered:
            # Cannot happen in the module's documented order (data, then
            # "closed"); if a module breaks it, the stream has ended already.
            _log.warning("data_after_end_of_stream", client_id=self._client_id, size=len(data))
            return
        if self._gone():
            # close() or abort() was called: as with asyncio's transports, no
            # more data is received (what a flush still reads is dropped).
            _log.debug("data_after_close_dropped", client_id=self._client_id, size=len(data))
            return
        if self._held or not self._reading:
            self._held.append(data)
            return
        self._hand_over(data)

    def _hand_over(self, data: bytes) -> None:
        """Call ``data_received``; the protocol's failure fails this socket only."""
        try:
            self._protocol.data_received(data)
        except Exception as exc:  # like asyncio's transports: the protocol's bug ends its connection
            _log.error("protocol_data_received_failed", client_id=self._client_id, error=repr(exc))
            self._fatal(
                SocketBroken(f"client {self._client_id}: the protocol's data_received() raised {exc!r}")
            )

    def _schedule_release(self) -> None:
        """After ``resume_reading``: hand held bytes (and a held end of stream) over soon."""
        if (self._held or self._eof_waiting) and not self._release_scheduled:
            self._release_scheduled = True
            self._loop.call_soon(self._release_held)

    def _release_held(self) -> None:
        self._release_scheduled = False
        while self._held and self._reading and not self._gone():
            self._hand_over(self._held.popleft())
        if self._gone():
            # Nothing more reaches the protocol, and a held end of stream must
            # not close the module socket: after a restart its ID may be another's.
            self._held.clear()
            self._eof_waiting = False
            return
        if self._eof_waiting and not self._held and self._reading:
            self._eof_waiting = False
            self._finish_remote_close()

    def _gone(self) -> bool:
        """The connection is closing or ended: no data may reach the protocol any more."""
        return self._state is not SocketState.OPEN or self._aborted

    def _finish_remote_close(self) -> None:
        """The stream ended: ``eof_received`` (after held bytes), then close the module socket."""
        if self._held or not self._reading:
            self._eof_waiting = True  # asyncio calls nothing on a paused protocol
            return
        self._eof_delivered = True
        try:
            self._protocol.eof_received()  # True cannot keep it open: the module socket is gone
        except Exception as exc:  # like asyncio's TLS transport: the protocol's bug ends its connection
            _log.error("protocol_eof_received_failed", client_id=self._client_id, error=repr(exc))
            if self._error is None:
                self._error = SocketBroken(
                    f"client {self._client_id}: the protocol's eof_received() raised {exc!r}"
                )
                self._error.__cause__ = exc
        self._after_end_of_stream()
