"""Questions a socket asks the module when an answer alone cannot tell what happened.

``ERROR`` to ``AT+QSSLRECV`` or ``AT+QSSLSEND`` means "cannot be established,
abnormally closed, or the parameter is incorrect" (the note). The host's
parameters are valid, so the connection is closing, but whether that is a
clean end (every byte was read) is only known from the module's own counts.
"""

from __future__ import annotations

from . import _commands as cmd
from ._channel import AtChannel
from ._errors import QuectelError

__all__ = ["nothing_unread", "socket_closing"]

#: ``<socket_state>`` of ``+QSSLSTATE`` once the peer or the network is gone.
_CLOSING = 4


async def nothing_unread(channel: AtChannel, client_id: int) -> bool:
    """``AT+QSSLRECV=<id>,0`` reports no unread byte (False if it cannot tell)."""
    try:
        result = await channel.execute(cmd.SslRecvQuery(client_id))
        return [cmd.parse_recv_query(line)[2] for line in result.lines] == [0]
    except QuectelError:
        return False


async def socket_closing(channel: AtChannel, client_id: int) -> bool:
    """``AT+QSSLSTATE=<id>`` lists the socket as "closing" (False if it cannot tell)."""
    try:
        result = await channel.execute(cmd.SslState(client_id))
        return [cmd.parse_ssl_state_line(line).socket_state for line in result.lines] == [_CLOSING]
    except QuectelError:
        return False
