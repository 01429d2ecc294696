"""Freeing client IDs on the module after failed, abandoned or late opens.

An ID is reserved (:class:`~quectel_aio._client_ids.ClientIds`) from the
moment an open picks it until the module has freed it. After a failed or abandoned open the module is asked to free it
with ``AT+QSSLCLOSE``. When the module does not confirm that (``ERROR``, no
answer) and ``AT+QSSLSTATE=<id>`` still lists the ID, or cannot be asked, the
ID is *quarantined*: it stays reserved until the module reports the open's
late result (``+QSSLOPEN: <id>,<err>``, which is then closed) or restarts, or
until an allocation finds every ID taken and has it closed again.
Reusing it earlier would let that late result, and the old socket behind it,
answer the new open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from . import _commands as cmd
from ._channel import AtChannel
from ._client_ids import ClientIds
from ._errors import QuectelError, RemoteProtocolError
from ._ssl_contexts import SslContextTable

if TYPE_CHECKING:
    from .transport import ModemSocketTransport

__all__ = ["OrphanSockets"]


class OrphanSockets:
    """Closing IDs no socket uses (a mixin of :class:`~quectel_aio.Modem`)."""

    _channel: AtChannel
    _contexts: SslContextTable
    _ids: ClientIds
    _sockets: dict[int, ModemSocketTransport]
    _socket_pdp: dict[int, int]
    #: IDs the module may still hold for an abandoned open; reserved until its late result.
    _quarantined: set[int]
    #: IDs of sockets a ``RDY`` a peer may have sent broke: remote port and SSL
    #: context, kept reserved until the module has been asked what it holds.
    _unconfirmed: dict[int, tuple[int, int]]
    _closed: bool

    def _release_client_id(self, client_id: int) -> None:
        self._ids.release(client_id)
        self._sockets.pop(client_id, None)
        self._socket_pdp.pop(client_id, None)
        self._contexts.release(client_id)

    def _socket_finished(self, client_id: int, freed: bool) -> None:
        """A socket ended; ``freed`` says whether the module confirmed its ``AT+QSSLCLOSE``."""
        if client_id in self._unconfirmed and not self._closed:
            self._sockets.pop(client_id, None)
            self._socket_pdp.pop(client_id, None)
            return
        if freed or self._closed:
            self._release_client_id(client_id)
            return
        self._sockets.pop(client_id, None)
        self._socket_pdp.pop(client_id, None)
        self._free_orphan(client_id)

    def _background(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _free_orphan(self, client_id: int) -> asyncio.Task[None]:
        """Close an ID no socket uses, then release or quarantine it (see the module docstring)."""
        self._ids.closing_orphans.add(client_id)
        task = asyncio.get_running_loop().create_task(self._close_orphan_then_release(client_id))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return task

    async def _close_orphan_then_release(self, client_id: int) -> None:
        freed = False
        try:
            freed = await self._close_orphan(client_id) or await self._module_lacks(client_id)
        finally:
            if freed:
                self._release_client_id(client_id)
            else:
                self._quarantined.add(client_id)
            self._ids.orphan_settled(client_id)

    async def _close_orphan(self, client_id: int) -> bool:
        """``AT+QSSLCLOSE`` for an ID no socket uses; True once the module answered OK."""
        try:
            if self._channel.transparent_client == client_id:
                # An open in transparent mode whose caller was cancelled as
                # CONNECT arrived: the port is in data mode for it.
                await self._channel.escape_transparent()
            await self._channel.execute(cmd.SslClose(client_id))
        except (QuectelError, RemoteProtocolError):
            return False
        return True

    async def _module_lacks(self, client_id: int) -> bool:
        """True when ``AT+QSSLSTATE=<id>`` lists no connection with that ID."""
        try:
            result = await self._channel.execute(cmd.SslState(client_id))
        except (QuectelError, RemoteProtocolError):
            return False
        return not result.lines

    def _late_open_result(self, client_id: int, error: int) -> bool:
        """``+QSSLOPEN: <id>,<err>`` with no open waiting for it; True if it was handled."""
        if client_id in self._quarantined:
            self._quarantined.discard(client_id)
            self._free_orphan(client_id)
            return True
        if error != 0 or client_id in self._sockets:
            return False
        # A late success for an open nobody tracks: close it, never leak it.
        if client_id in self._ids.reserved:
            self._background(self._close_orphan(client_id))  # its ID is someone else's
        else:
            self._ids.reserved.add(client_id)
            self._free_orphan(client_id)
        return True

    def _retry_quarantine(self) -> bool:
        """Ask the module again to free every quarantined ID; False if there is none.

        A socket whose close the module refused (busy) gets no late
        ``+QSSLOPEN`` result, so without this its ID stayed taken until a restart.
        """
        if not self._quarantined:
            return False
        for client_id in list(self._quarantined):
            self._quarantined.discard(client_id)
            self._free_orphan(client_id)
        return True

    def _forget_quarantine(self) -> None:
        """After a restart the module holds no socket: quarantined IDs are free."""
        for client_id in list(self._quarantined):
            self._quarantined.discard(client_id)
            self._release_client_id(client_id)
