"""A module that floods, damages or never ends its output: memory stays bounded, errors are clear."""

from __future__ import annotations

import pytest

from quectel_aio import _commands as c
from quectel_aio._connection import MAX_RESPONSE_SIZE, ConnectionState, ModemConnection
from quectel_aio._errors import RemoteProtocolError
from quectel_aio._events import NEED_DATA, CommandSucceeded, Event, SslClosed

from .helpers import Rx, Send, assert_split_invariant, drain

STATE_LINE = b'\r\n+QSSLSTATE: 1,"SSLClient","192.168.1.1",443,0,2,1,0,0,"usbmodem",1\r\n'
RECV_BLOCK = b"\r\n+QSSLRECV: 1500\r\n" + bytes(1500) + b"\r\n"


def flood_until_error(conn: ModemConnection, unit: bytes, size: int, limit: int) -> tuple[int, str]:
    """Feed ``unit`` over and over in ``size``-byte reads until the core raises.

    Returns:
        How many bytes it took, and the error message.
    """
    stream = unit * (limit // len(unit) + 1)
    for fed in range(size, len(stream), size):
        conn.receive_data(stream[fed - size : fed])
        try:
            while conn.next_event() is not NEED_DATA:
                pass
        except RemoteProtocolError as exc:
            # The rest of the unit the error came in, so the stream goes on at a unit boundary.
            conn.resync()
            if fed % len(unit):
                conn.receive_data(stream[fed : fed + (-fed) % len(unit)])
            return fed, str(exc)
    raise AssertionError("the core kept collecting the response")


@pytest.mark.parametrize("size", [1, 7, 4096])
@pytest.mark.parametrize(
    ("command", "unit"),
    [
        (c.SslState(), STATE_LINE),  # information lines that never end
        (c.Raw("ATI"), b"\r\nRevision: EC200UCNAAR03A03M08\r\n"),
        (c.SslRecv(1, 1500), RECV_BLOCK),  # one data block after another, never an OK
        (c.Raw("AT+QSSLRECV=1,1500"), RECV_BLOCK),
    ],
    ids=["state-lines", "raw-lines", "recv-blocks", "raw-recv-blocks"],
)
def test_a_response_that_never_ends_is_cut_off(command: c.Command, unit: bytes, size: int) -> None:
    conn = ModemConnection()
    conn.send(command)
    fed, message = flood_until_error(conn, unit, size, 4 * MAX_RESPONSE_SIZE)
    assert fed <= 2 * MAX_RESPONSE_SIZE
    assert f"response of {command.at_name} is longer than {MAX_RESPONSE_SIZE} bytes" in message
    assert conn.abandoned is command
    # The flood goes on while the command is abandoned: nothing more is kept,
    # the framing holds, and its late OK ends it.
    conn.receive_data(unit * (2 * MAX_RESPONSE_SIZE // len(unit)) + b'\r\n+QSSLURC: "closed",4\r\n\r\nOK\r\n')
    assert drain(conn) == [SslClosed(4)]
    assert conn.state is ConnectionState.IDLE
    at = c.Attention()
    conn.send(at)
    conn.receive_data(b"\r\nOK\r\n")
    assert drain(conn) == [CommandSucceeded(at)]


def test_a_long_response_within_the_bound_is_delivered() -> None:
    raw = c.Raw("AT+CLAC")
    names = [f"AT+Q{i:05d}" for i in range((MAX_RESPONSE_SIZE - 100) // 10)]
    wire = b"".join(b"\r\n" + name.encode() + b"\r\n" for name in names) + b"\r\nOK\r\n"
    conn = ModemConnection()
    conn.send(raw)
    conn.receive_data(wire)
    assert drain(conn) == [CommandSucceeded(raw, "OK", tuple(names))]


def test_the_bound_is_per_command() -> None:
    command = c.SslRecv(1, 1500)
    block = RECV_BLOCK + b"\r\nOK\r\n"
    conn = ModemConnection()
    events: list[Event] = []
    for _ in range(3 * MAX_RESPONSE_SIZE // 1500):
        conn.send(command)
        conn.receive_data(block)
        events.extend(drain(conn))
    assert events == [CommandSucceeded(command, "OK", ("+QSSLRECV: 1500",), bytes(1500))] * len(events)
    assert len(events) == 3 * MAX_RESPONSE_SIZE // 1500


def test_two_blocks_in_one_response_are_split_invariant() -> None:
    raw = c.Raw("AT+QSSLRECV=1,4")
    wire = b"\r\n+QSSLRECV: 2\r\nab\r\n\r\n+QSSLRECV: 2\r\ncd\r\n\r\nOK\r\n"
    assert assert_split_invariant([Send(raw), Rx(wire)]) == [
        CommandSucceeded(raw, "OK", ("+QSSLRECV: 2", "+QSSLRECV: 2"), b"abcd")
    ]
