"""Transcript runner shared by the core tests.

A transcript is a list of steps: the host sends a command, writes a payload,
abandons the command, or the module sends bytes (``Rx``). The runner feeds the
received bytes in chunks chosen by a splitter and returns every event.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from quectel_aio._commands import Command
from quectel_aio._connection import ModemConnection
from quectel_aio._events import NEED_DATA, Event


@dataclass(frozen=True)
class Send:
    command: Command
    wire: bytes | None = None  # expected bytes, if checked


@dataclass(frozen=True)
class Payload:
    data: bytes


@dataclass(frozen=True)
class Abandon:
    pass


@dataclass(frozen=True)
class Rx:
    data: bytes


@dataclass(frozen=True)
class Eof:
    pass


@dataclass(frozen=True)
class Escape:
    """The host sends ``+++`` to leave transparent mode."""


@dataclass(frozen=True)
class Release:
    """The link went idle: a held-back raw tail is released as data."""


Step = Send | Payload | Abandon | Rx | Eof | Escape | Release
# Given the received bytes of one Rx step and its offset in the whole
# received stream, return the chunks to feed.
Splitter = Callable[[bytes, int], Sequence[bytes]]


def whole(data: bytes, offset: int) -> Sequence[bytes]:
    return [data]


def bytewise(data: bytes, offset: int) -> Sequence[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def cut_at(points: Sequence[int]) -> Splitter:
    """Split the received stream at the given absolute offsets."""
    ordered = sorted(set(points))

    def split(data: bytes, offset: int) -> Sequence[bytes]:
        local = [p - offset for p in ordered if offset < p < offset + len(data)]
        bounds = [0, *local, len(data)]
        return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]

    return split


def drain(conn: ModemConnection) -> list[Event]:
    events: list[Event] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return events
        events.append(event)


def run(steps: Sequence[Step], splitter: Splitter = whole, *, payload_echo: bool = False) -> list[Event]:
    conn = ModemConnection(payload_echo=payload_echo)
    events: list[Event] = []
    offset = 0
    for step in steps:
        if isinstance(step, Send):
            wire = conn.send(step.command)
            if step.wire is not None:
                assert wire == step.wire
        elif isinstance(step, Payload):
            assert conn.send_payload(step.data) == step.data
        elif isinstance(step, Abandon):
            conn.abandon_command()
        elif isinstance(step, Escape):
            assert conn.start_escape() == b"+++"
        elif isinstance(step, Release):
            conn.release_transparent_tail()
            events.extend(drain(conn))
        elif isinstance(step, Rx):
            for chunk in splitter(step.data, offset):
                conn.receive_data(chunk)
                events.extend(drain(conn))
            offset += len(step.data)
        else:
            conn.receive_data(b"")
            events.extend(drain(conn))
    return events


def rx_length(steps: Sequence[Step]) -> int:
    return sum(len(s.data) for s in steps if isinstance(s, Rx))


def assert_split_invariant(
    steps: Sequence[Step], expected: Sequence[Event] | None = None, *, payload_echo: bool = False
) -> list[Event]:
    """Feed whole, byte by byte and split in two at every index; all must agree."""
    reference = run(steps, whole, payload_echo=payload_echo)
    if expected is not None:
        assert reference == list(expected)
    assert run(steps, bytewise, payload_echo=payload_echo) == reference
    for point in range(1, rx_length(steps)):
        got = run(steps, cut_at([point]), payload_echo=payload_echo)
        assert got == reference, f"split at {point}"
    return reference
