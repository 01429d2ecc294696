"""Base class and argument validators of the AT command descriptors (see ``_commands``)."""

from __future__ import annotations

import abc
from typing import ClassVar

from ._errors import LocalProtocolError

__all__ = ["Command"]

#: Maximum response time of the short SSL commands (SSL Application Note §2.2).
_SHORT = 0.3
#: Used where the notes give no maximum response time for a local command.
_UNSPECIFIED = 1.0


def _int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LocalProtocolError(f"{what} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise LocalProtocolError(f"{what} must be in {low}..{high}, got {value}")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise LocalProtocolError(f"{what} must be a str, not {type(value).__name__}")
    return value


class Command(abc.ABC):
    """Base class of every command.

    Subclasses are frozen dataclasses; see the module docstring for the
    meaning of the class attributes.
    """

    __slots__ = ()

    at_name: ClassVar[str] = "AT"
    info_prefixes: ClassVar[tuple[str, ...]] = ()
    accepts_any_line: ClassVar[bool] = False
    expects_prompt: ClassVar[bool] = False
    expects_connect: ClassVar[bool] = False
    #: The fixed maximum response time of commands whose time does not depend
    #: on their fields.
    max_response_time: ClassVar[float] = _UNSPECIFIED

    @property
    def label(self) -> str:
        """The AT name that errors and logs show (``at_name`` for typed commands)."""
        return self.at_name

    @property
    def timeout(self) -> float:
        """The module's maximum response time for this exchange, in seconds."""
        return self.max_response_time

    @property
    def transparent_client(self) -> int | None:
        """The client ID whose transparent session a ``CONNECT`` of this command opens."""
        return None

    @abc.abstractmethod
    def encode(self) -> bytes:
        """Return the command line, ending in CR."""
