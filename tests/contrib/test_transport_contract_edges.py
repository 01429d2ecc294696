"""Edges of the asyncio transport contract, checked on asyncio's TLS transport and the modem's.

The ``side`` fixture and the recording protocol are those of
``test_transport_conformance``: each test runs against
``loop.create_connection(..., ssl=...)`` (the reference behaviour) and against
``Modem.create_connection`` through the emulator, to the same TLS peer.
"""

from __future__ import annotations

import asyncio

import pytest

from .test_transport_conformance import RecordingProtocol, Side, side

__all__ = ["side"]


class MadeRaisingProtocol(RecordingProtocol):
    """A protocol whose connection_made() has a bug."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        raise ValueError("bug in connection_made")


async def test_a_raising_connection_made_fails_the_connection(side: Side) -> None:
    protocols: list[MadeRaisingProtocol] = []

    def factory() -> MadeRaisingProtocol:
        protocols.append(MadeRaisingProtocol())
        return protocols[-1]

    # asyncio's TLS transport: create_connection raises the protocol's error and
    # the connection ends; no data reaches (or piles up for) a protocol that never started.
    with pytest.raises(ValueError, match="bug in connection_made"):
        await side.connect(factory)
    (protocol,) = protocols
    assert protocol.transport is not None
    exc = await asyncio.wait_for(protocol.lost, 10)
    assert exc is not None
    assert protocol.transport.is_closing()
    assert protocol.count("connection_made") == 1
    assert protocol.count("connection_lost") == 1
    assert protocol.violations == []
