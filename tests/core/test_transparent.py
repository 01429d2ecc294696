"""Transparent access mode in the sans-IO core: raw data, NO CARRIER, +++ / OK."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quectel_aio._commands import Attention, ReturnOnline, SslOpen, SslSend, SwitchAccessMode
from quectel_aio._connection import ConnectionState, ModemConnection
from quectel_aio._errors import LocalProtocolError
from quectel_aio._events import (
    AbandonedTransparent,
    CommandFailed,
    CommandSucceeded,
    Event,
    ModemReady,
    SslClosed,
    SslDataAvailable,
    TransparentData,
    TransparentEnded,
    UnknownUrc,
)
from quectel_aio._raw_mode import held_prefix_length

from .helpers import Abandon, Escape, Release, Rx, Send, Step, bytewise, cut_at, drain, run, rx_length, whole

OPEN = SslOpen(1, 0, 3, "echo.test", 443, 2)


def merged(events: list[Event]) -> list[Event]:
    """Join adjacent TransparentData events: how raw bytes are cut is not meaningful."""
    out: list[Event] = []
    for event in events:
        last = out[-1] if out else None
        if (
            isinstance(event, TransparentData)
            and isinstance(last, TransparentData)
            and last.client_id == event.client_id
        ):
            out[-1] = TransparentData(event.client_id, last.data + event.data)
        else:
            out.append(event)
    return out


def assert_raw_split_invariant(steps: list[Step], expected: list[Event]) -> None:
    assert merged(run(steps, whole)) == expected
    assert merged(run(steps, bytewise)) == expected
    for point in range(1, rx_length(steps)):
        assert merged(run(steps, cut_at([point]))) == expected, f"split at {point}"


def test_connect_enters_transparent_and_no_carrier_ends_it() -> None:
    payload = b'OK\r\n+QSSLURC: "closed",3\r\n> SEND OK\r\nERROR\r\n\x00\xff'
    steps: list[Step] = [
        Send(OPEN),
        Rx(b"\r\nCONNECT\r\n" + payload + b"\r\nNO CARRIER\r\n" + b'\r\n+QSSLURC: "recv",5\r\n'),
    ]
    expected: list[Event] = [
        CommandSucceeded(OPEN, "CONNECT", (), None),
        TransparentData(3, payload),
        TransparentEnded(3, "NO CARRIER"),
        SslDataAvailable(5),
    ]
    assert_raw_split_invariant(steps, expected)


@pytest.mark.parametrize("escaping", [False, True])
def test_a_module_restart_ends_the_session_and_is_reported(escaping: bool) -> None:
    # A reset module prints RDY and its boot URCs in command mode: never data of the socket.
    payload = b"RDY\r\n \r\nRD\x00"
    steps: list[Step] = [Send(OPEN), Rx(b"\r\nCONNECT\r\n" + payload)]
    if escaping:
        steps.append(Escape())
    steps += [Rx(b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n"), Send(Attention()), Rx(b"\r\nOK\r\n")]
    expected: list[Event] = [
        CommandSucceeded(OPEN, "CONNECT", (), None),
        TransparentData(3, payload),
        TransparentEnded(3, "RDY"),
        ModemReady(in_band=True),  # a peer could have sent it
        UnknownUrc("+CFUN: 1"),
        UnknownUrc("+CPIN: READY"),
        CommandSucceeded(Attention()),
    ]
    assert_raw_split_invariant(steps, expected)


def test_escape_ok_returns_to_command_mode() -> None:
    switch = SwitchAccessMode(4, 2)
    steps: list[Step] = [
        Send(switch),
        Rx(b"\r\nCONNECT\r\nraw bytes \r\nOK\r\n inside"),
        Escape(),
        Rx(b"late data\r\nOK\r\n"),
        Send(Attention()),
        Rx(b"\r\nOK\r\n"),
    ]
    expected: list[Event] = [
        CommandSucceeded(switch, "CONNECT", (), None),
        # Before +++ an OK is data; after it, the first framed OK ends the session.
        TransparentData(4, b"raw bytes \r\nOK\r\n insidelate data"),
        TransparentEnded(4, "OK"),
        CommandSucceeded(Attention(), "OK", (), None),
    ]
    assert_raw_split_invariant(steps, expected)


def test_no_carrier_while_escaping() -> None:
    back = ReturnOnline(2)
    steps: list[Step] = [Send(back), Rx(b"\r\nCONNECT\r\nab"), Escape(), Rx(b"c\r\nNO CARRIER\r\n")]
    expected: list[Event] = [
        CommandSucceeded(back, "CONNECT", (), None),
        TransparentData(2, b"abc"),
        TransparentEnded(2, "NO CARRIER"),
    ]
    assert_raw_split_invariant(steps, expected)


def test_ato_no_carrier_is_a_failure_and_stays_in_command_mode() -> None:
    back = ReturnOnline(0)
    events = run([Send(back), Rx(b"\r\nNO CARRIER\r\n")])
    assert events == [CommandFailed(back, "NO CARRIER", None, "", ())]


def test_partial_terminator_is_held_until_released() -> None:
    conn = ModemConnection()
    conn.send(OPEN)
    conn.receive_data(b"\r\nCONNECT\r\nline one\r\n")
    assert drain(conn) == [CommandSucceeded(OPEN, "CONNECT", (), None), TransparentData(3, b"line one")]
    assert conn.holds_transparent_tail
    conn.release_transparent_tail()
    assert drain(conn) == [TransparentData(3, b"\r\n")]
    held: bool = conn.holds_transparent_tail
    assert not held
    # A release applies to what was held then, not to later bytes.
    conn.receive_data(b"x\r\nNO")
    assert drain(conn) == [TransparentData(3, b"x")]
    conn.receive_data(b" CARRIER\r\n")
    assert drain(conn) == [TransparentEnded(3, "NO CARRIER")]
    assert conn.state is ConnectionState.IDLE


def test_release_steps_are_split_invariant() -> None:
    steps: list[Step] = [Send(OPEN), Rx(b"\r\nCONNECT\r\nhello\r\n"), Release(), Rx(b"\r\nNO CARRIER\r\n")]
    expected: list[Event] = [
        CommandSucceeded(OPEN, "CONNECT", (), None),
        TransparentData(3, b"hello\r\n"),
        TransparentEnded(3, "NO CARRIER"),
    ]
    assert_raw_split_invariant(steps, expected)


def test_eof_in_transparent_delivers_the_tail() -> None:
    conn = ModemConnection()
    conn.send(OPEN)
    conn.receive_data(b"\r\nCONNECT\r\nbye\r\nNO CAR")
    conn.receive_data(b"")
    events = merged(drain(conn))
    assert events[:2] == [CommandSucceeded(OPEN, "CONNECT", (), None), TransparentData(3, b"bye\r\nNO CAR")]
    assert type(events[2]).__name__ == "EndOfStream"


def test_abandoned_transparent_open_reports_the_port_state() -> None:
    steps: list[Step] = [Send(OPEN), Abandon(), Rx(b"\r\nCONNECT\r\nxyz"), Escape(), Rx(b"\r\nOK\r\n")]
    expected: list[Event] = [
        AbandonedTransparent(OPEN),
        TransparentData(3, b"xyz"),
        TransparentEnded(3, "OK"),
    ]
    assert_raw_split_invariant(steps, expected)


def test_commands_and_payload_rules_in_transparent_mode() -> None:
    conn = ModemConnection()
    conn.send(OPEN)
    conn.receive_data(b"\r\nCONNECT\r\n")
    drain(conn)
    assert conn.transparent_client == 3
    with pytest.raises(LocalProtocolError):
        conn.send(Attention())
    assert conn.send_transparent(memoryview(b"abc")) == b"abc"
    assert conn.start_escape() == b"+++"
    with pytest.raises(LocalProtocolError, match="not in transparent"):
        conn.send_transparent(b"during the guard time")
    with pytest.raises(LocalProtocolError):
        conn.start_escape()
    fresh = ModemConnection()
    with pytest.raises(LocalProtocolError):
        fresh.send_transparent(b"x")
    with pytest.raises(LocalProtocolError):
        fresh.start_escape()


def test_connect_of_other_commands_is_unchanged() -> None:
    """Buffer-mode switches answer OK; only mode 2 / ATO / QSSLOPEN mode 2 go raw."""
    switch = SwitchAccessMode(1, 0)
    events = run([Send(switch), Rx(b'\r\nOK\r\n\r\n+QSSLURC: "closed",1\r\n')])
    assert events == [CommandSucceeded(switch, "OK", (), None), SslClosed(1)]
    assert SslOpen(1, 0, 1, "a.test", 1, 1).transparent_client is None
    assert SslSend(1, 10).transparent_client is None


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (b"", 0),
        (b"abc", 0),
        (b"abc\r", 1),
        (b"abc\r\n", 2),
        (b"\r\nNO CARRIER\r", 13),
        (b"\r\nNO CARRIER\r\n", 2),  # a whole terminator is not a *proper* prefix; CR LF may start another
        (b"\r\nNO CARX", 0),
    ],
)
def test_held_prefix_length(tail: bytes, expected: int) -> None:
    assert held_prefix_length(tail, (b"\r\nNO CARRIER\r\n",)) == expected


@given(st.binary(max_size=300), st.lists(st.integers(min_value=1, max_value=400), max_size=6))
def test_random_raw_payload_round_trips(payload: bytes, cuts: list[int]) -> None:
    """Any payload in which no in-band result code ends the session arrives intact however it is cut."""
    body = payload + b"\r\nNO CARRIER\r\n"
    if body.find(b"\r\nNO CARRIER\r\n") < len(payload) or b"\r\nRDY\r\n" in body:
        return  # decision 88: a restart ends the session too
    stream = b"\r\nCONNECT\r\n" + body
    events = merged(run([Send(OPEN), Rx(stream)], cut_at(cuts)))
    data = b"".join(e.data for e in events if isinstance(e, TransparentData))
    assert data == payload
    assert events[-1] == TransparentEnded(3, "NO CARRIER")
    assert list(itertools.islice((e for e in events if isinstance(e, CommandSucceeded)), 2)) == [
        CommandSucceeded(OPEN, "CONNECT", (), None)
    ]
