"""Exchanges the channel gave up on (a cancelled caller, a deadline) and what they still owe.

The part of :class:`~quectel_aio._channel.AtChannel` that hands the port to a
finisher task when an exchange is abandoned: it waits out the module's late
reply, answers a late ``>`` prompt with the payload the command announced, and
drops a data block the module fell silent in (decision 84). At close, a send
given up before its prompt came keeps the port open a little longer, so the
module is not left waiting for a payload (decision 109).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from ._connection import ModemConnection
from ._counting_lock import CountingLock
from ._ports import Port

if TYPE_CHECKING:
    from ._channel import _Exchange

__all__ = ["PROMPT_GRACE", "QUIET_PERIOD", "AbandonedExchanges"]

#: Seconds of silence after an abandoned command's deadline before the channel
#: is trusted again.
QUIET_PERIOD = 0.5
#: Seconds the port stays open at close for the prompt of a send given up on.
PROMPT_GRACE = 2.0


class AbandonedExchanges:
    """Abandoned exchanges of :class:`~quectel_aio._channel.AtChannel`."""

    _core: ModemConnection
    _port: Port
    _lock: CountingLock
    _current: _Exchange | None
    _handed_over: bool
    _abandoned_done: asyncio.Event | None
    _abandoned_payload: bytes | None
    _finishers: set[asyncio.Task[None]]
    _failure: BaseException | None
    _closed: bool
    log: structlog.stdlib.BoundLogger

    # Provided by AtChannel.
    _drain_events: Callable[[], None]

    async def _settle_owed_data_phase(self) -> None:
        """At close: let the reader answer the late prompt of a send given up on.

        Left unanswered, the module waits for that payload and takes the next
        program's commands as data.
        """
        done = self._abandoned_done
        if self._core.data_phase_owed and done is not None and self._failure is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PROMPT_GRACE):
                    await done.wait()

    async def _drop_dead_block(self) -> None:
        """Stop counting a data block the module fell silent in (decision 84).

        A module never pauses inside a block for ``QUIET_PERIOD``; one that
        does was reset or lost bytes, and its ``RDY`` must be read as a line.
        """
        core, port = self._core, self._port
        while core.in_block:
            # Bytes the sleeping reader has not taken yet count as arrivals.
            seen = core.received_total + port.pending
            await asyncio.sleep(QUIET_PERIOD)
            if core.in_block and core.received_total + port.pending == seen:
                self.log.warning("data_block_abandoned", missing=core.bytes_needed)
                core.abandon_block()
                self._port.cut_read_short()  # the reader waits for the block's rest
                self._drain_events()  # a RDY among the bytes counted so far

    def _abandon(self, exchange: _Exchange, deadline: float, reason: str) -> None:
        """Hand the lock to a finisher that waits out the abandoned command.

        Does nothing when the core already finished the command (its reply
        arrived before the cancellation took effect).
        """
        core = self._core
        if core.in_flight is exchange.command:
            core.abandon_command()
        if core.abandoned is not exchange.command or self._closed:
            return  # answered already, or the port is closing: nothing to wait for
        self._current = None
        self._handed_over = True
        self._abandoned_payload = exchange.payload
        done = asyncio.Event()
        self._abandoned_done = done
        # A cancelled read at close is routine; a timeout is not.
        log = self.log.warning if reason == "timeout" else self.log.debug
        log("command_abandoned", command=exchange.command.label, reason=reason)

        async def finish() -> None:
            try:
                try:
                    async with asyncio.timeout(deadline + QUIET_PERIOD):
                        await done.wait()
                except TimeoutError:
                    await self._drop_dead_block()
                    self._core.clear_abandoned()
            finally:
                self._abandoned_done = None
                self._abandoned_payload = None
                self._lock.release()

        task = asyncio.get_running_loop().create_task(finish(), name="quectel-aio-abandon")
        self._finishers.add(task)
        task.add_done_callback(self._finishers.discard)
