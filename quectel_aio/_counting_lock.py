"""An ``asyncio.Lock`` that knows how many tasks wait for it."""

from __future__ import annotations

import asyncio
from typing import Literal

__all__ = ["CountingLock"]


class CountingLock(asyncio.Lock):
    """An ``asyncio.Lock`` that counts the tasks waiting to acquire it.

    A holder that could keep going (a chain of data commands) checks
    :attr:`waiting` and lets the others in.
    """

    def __init__(self) -> None:
        super().__init__()
        #: Tasks waiting in :meth:`acquire`.
        self.waiting = 0

    async def acquire(self) -> Literal[True]:
        """Acquire the lock, counted in :attr:`waiting` while blocked."""
        self.waiting += 1
        try:
            return await super().acquire()
        finally:
            self.waiting -= 1
