"""Awaiting emulator state without polling (part of :class:`ModemEmulator`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["StateObserver"]


class StateObserver:
    """Wakes :meth:`wait_for` callers whenever the emulator's state may have changed.

    The emulator calls :meth:`_state_changed` when it receives host bytes,
    starts or ends a command, writes to the host, restarts, and when a socket
    opens, receives data or closes: every change of what a test can inspect
    (``sockets``, ``command_log``, ``files``, ``pdp``, ``ssl_contexts``...)
    happens at one of these points.
    """

    _waiters: list[asyncio.Future[None]]

    def _state_changed(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> None:
        """Wait until ``predicate()`` is true, re-checking it after every state change.

        Example: ``await emu.wait_for(lambda: 0 in emu.sockets)`` or
        ``await emu.wait_for(lambda: any(c.name == "+QSSLCLOSE" for c in emu.command_log))``.

        Args:
            predicate: a function of the emulator's public state; it is
                called at once and then whenever that state may have changed.
            timeout: seconds to wait at most; ``None`` waits for ever.

        Raises:
            TimeoutError: ``predicate()`` was still false after ``timeout``
                seconds.
        """
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout):
            while not predicate():
                waiter: asyncio.Future[None] = loop.create_future()
                self._waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if not waiter.done():
                        waiter.cancel()
