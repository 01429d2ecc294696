"""The table of AT command handlers, filled by the handler modules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .._grammar import ParsedCommand

if TYPE_CHECKING:
    from ._emulator import ModemEmulator

__all__ = ["HANDLERS", "Handler", "register"]

Handler = Callable[["ModemEmulator", ParsedCommand], Awaitable[bytes]]

HANDLERS: dict[str, Handler] = {}


def register(*names: str) -> Callable[[Handler], Handler]:
    """Register a command handler under one or more command names."""

    def decorator(handler: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = handler
        return handler

    return decorator
