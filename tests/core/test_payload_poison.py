"""Payload bytes are opaque: no poison token may produce an event or alter the data."""

from __future__ import annotations

import pytest

from quectel_aio import _commands as c
from quectel_aio._events import CommandSucceeded, SslDataPushed

from .helpers import Rx, Send, Step, bytewise, cut_at, run, whole

POISON = [
    b"\r\nOK\r\n",
    b"\r\nERROR\r\n",
    b"+CME ERROR: 550\r\n",
    b"\r\nSEND OK\r\n",
    b"SEND FAIL",
    b'\r\n+QSSLURC: "closed",0\r\n',
    b'\r\n+QSSLURC: "recv",0,5\r\n',
    b'+QIURC: "pdpdeact",1\r\n',
    b"\r\n+QSSLRECV: 9\r\n",
    b"\r\n> ",
    b">",
    b"\r\nRDY\r\n",
    b"APP RDY",
    b"NO CARRIER",
    b"\r\nCONNECT\r\n",
    b"+++",
    b"\x1a",
    b"\x1b",
    b"\x00",
    b"\xff",
    b"\r",
    b"\n",
    b"\n\r",
]
LENGTHS = [1, 2, 3, 1459, 1460, 1500]


def make_payload(token: bytes, length: int, position: str) -> bytes:
    filler = bytes((i * 7 + 3) % 256 for i in range(length))
    token = token[:length]
    if position == "start":
        return token + filler[len(token) :]
    if position == "end":
        return filler[: length - len(token)] + token
    middle = (length - len(token)) // 2
    return filler[:middle] + token + filler[middle + len(token) :]


def recv_steps(payload: bytes) -> tuple[list[Step], int, c.SslRecv]:
    command = c.SslRecv(0, 1500)
    head = f"\r\n+QSSLRECV: {len(payload)}\r\n".encode()
    return [Send(command), Rx(head + payload + b"\r\n\r\nOK\r\n")], len(head), command


def push_steps(payload: bytes) -> tuple[list[Step], int]:
    head = f'\r\n+QSSLURC: "recv",0,{len(payload)}\r\n'.encode()
    return [Rx(head + payload + b"\r\n")], len(head)


def boundary_points(start: int, length: int) -> list[int]:
    """Every index within 4 bytes of the header end and the payload end."""
    points = set(range(max(1, start - 4), start + 5))
    points |= set(range(start + length - 4, start + length + 5))
    return sorted(p for p in points if p > 0)


@pytest.mark.parametrize("position", ["start", "middle", "end"])
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("token", POISON, ids=repr)
def test_poison_in_qsslrecv(token: bytes, length: int, position: str) -> None:
    payload = make_payload(token, length, position)
    steps, start, command = recv_steps(payload)
    expected = [CommandSucceeded(command, "OK", (f"+QSSLRECV: {length}",), payload)]
    assert run(steps, whole) == expected
    for point in boundary_points(start, length):
        assert run(steps, cut_at([point])) == expected, point
    if length <= 3:
        assert run(steps, bytewise) == expected


@pytest.mark.parametrize("position", ["start", "middle", "end"])
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("token", POISON, ids=repr)
def test_poison_in_direct_push(token: bytes, length: int, position: str) -> None:
    payload = make_payload(token, length, position)
    steps, start = push_steps(payload)
    expected = [SslDataPushed(0, payload)]
    assert run(steps, whole) == expected
    for point in boundary_points(start, length):
        assert run(steps, cut_at([point])) == expected, point
    if length <= 3:
        assert run(steps, bytewise) == expected


def test_every_split_of_a_full_poisoned_block() -> None:
    payload = make_payload(
        b'\r\nOK\r\n\r\n+QSSLURC: "closed",0\r\n\r\n> \x1a\x1b+++RDY\x00\xff', 1500, "middle"
    )
    steps, _, command = recv_steps(payload)
    expected = [CommandSucceeded(command, "OK", ("+QSSLRECV: 1500",), payload)]
    total = len(steps[1].data)  # type: ignore[union-attr]
    for point in range(1, total):
        assert run(steps, cut_at([point])) == expected, point
    assert run(steps, bytewise) == expected


def test_all_byte_values_round_trip() -> None:
    payload = bytes(range(256)) * 5
    steps, _, command = recv_steps(payload[:1500])
    assert run(steps, bytewise) == [CommandSucceeded(command, "OK", ("+QSSLRECV: 1280",), payload)]
