"""The module's twelve SSL client IDs: which are taken, and waiting for one being freed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

from ._errors import LocalProtocolError
from ._grammar import MAX_CLIENT_ID

__all__ = ["ClientIds"]


class ClientIds:
    """Client ID bookkeeping of a :class:`~quectel_aio.Modem`.

    An ID stays taken until the module has freed it (``AT+QSSLCLOSE`` of a
    closed socket or of an abandoned open), which can take seconds after an
    application let go of the connection. A connection pool counts the slot
    free at once, so an allocation that finds every ID taken, some of them by
    sockets still closing, waits for one instead of failing.

    IDs the module refused with error 563 belong to connections the host did
    not open (another program, an earlier run): they are in :attr:`foreign`,
    and an allocation takes one of them only when no other ID is free.

    An allocation that finds nothing to wait for asks once, through
    ``retry``, for the IDs the module would not free earlier to be closed
    again, and waits for that before it gives up.

    Args:
        closing: tells whether the socket holding an ID is closing.
        retry: starts closing the IDs the module would not free (they go
            to :attr:`closing_orphans`); False when there are none.
    """

    def __init__(self, closing: Callable[[int], bool], retry: Callable[[], bool] | None = None) -> None:
        self.reserved: set[int] = set()
        #: IDs whose failed or abandoned open is being closed in the background.
        self.closing_orphans: set[int] = set()
        #: IDs held by connections the host did not open (563), until a restart
        #: or ``AT+QSSLSTATE`` shows them free.
        self.foreign: set[int] = set()
        self._closing = closing
        self._retry = retry
        self._released = asyncio.Event()

    def reserve(self, requested: int | None, busy: Collection[int] = ()) -> int:
        """Take ``requested``, or the lowest free ID not in ``busy`` if None.

        An allocation prefers IDs not in :attr:`foreign`.

        Raises:
            LocalProtocolError: ``requested`` is invalid or taken, or every ID is taken.
        """
        if requested is not None:
            if (
                isinstance(requested, bool)
                or not isinstance(requested, int)
                or not 0 <= requested <= MAX_CLIENT_ID
            ):
                raise LocalProtocolError(f"client_id must be 0-{MAX_CLIENT_ID}")
            if requested in self.reserved:
                raise LocalProtocolError(f"client_id {requested} is in use")
            self.reserved.add(requested)
            return requested
        free = [
            ident for ident in range(MAX_CLIENT_ID + 1) if ident not in self.reserved and ident not in busy
        ]
        for candidate in sorted(free, key=lambda ident: ident in self.foreign):
            self.reserved.add(candidate)
            return candidate
        raise LocalProtocolError("all 12 client IDs are in use")

    async def acquire(self, requested: int | None, busy: Collection[int] = ()) -> int:
        """Like :meth:`reserve`, but an allocation waits while a taken ID is being freed.

        It takes an ID of :attr:`foreign` only when none is being freed.

        Raises:
            LocalProtocolError: as :meth:`reserve`, when no taken ID is closing
                (also after the IDs the module would not free were asked again).
        """
        retried = False
        while True:
            try:
                if requested is None and self._any_closing():
                    # An ID being freed is worth waiting for; one another connection holds is not.
                    return self.reserve(None, {*busy, *self.foreign})
                return self.reserve(requested, busy)
            except LocalProtocolError:
                if requested is not None:
                    raise
                if not self._any_closing():
                    if retried or self._retry is None or not self._retry():
                        raise
                    retried = True
            await self._released.wait()

    def release(self, client_id: int) -> None:
        """The module has freed ``client_id`` (or never took it)."""
        self.reserved.discard(client_id)
        self._wake()

    def orphan_settled(self, client_id: int) -> None:
        """The background close of ``client_id`` is over, whether or not it was freed.

        Waiting allocations look again: an ID that stays taken (quarantined)
        is no longer one being freed, so they may have nothing left to wait for.
        """
        self.closing_orphans.discard(client_id)
        self._wake()

    def _wake(self) -> None:
        released, self._released = self._released, asyncio.Event()
        released.set()

    def _any_closing(self) -> bool:
        return bool(self.closing_orphans) or any(self._closing(ident) for ident in self.reserved)
