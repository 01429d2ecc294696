"""Command state machine: misuse, abandon, resync, protocol errors, EOF."""

from __future__ import annotations

import pytest

from quectel_aio import _commands as c
from quectel_aio._connection import MAX_LINE_LENGTH, ConnectionState, ModemConnection
from quectel_aio._errors import LocalProtocolError, RemoteProtocolError
from quectel_aio._events import (
    NEED_DATA,
    AbandonedPrompt,
    CommandFailed,
    CommandSucceeded,
    ConnectReceived,
    EndOfStream,
    ModemReady,
    PromptReceived,
    SslClosed,
    SslDataAvailable,
    SslDataLost,
    SslDataPushed,
    SslOpened,
    UnknownUrc,
)

from .helpers import Abandon, Eof, Payload, Rx, Send, Step, assert_split_invariant, drain

STATE = c.SslState()
RECV = c.SslRecv(1, 100)
SEND = c.SslSend(1, 4)
UPL = c.FileUpload("a.pem", 4)


def state_of(conn: ModemConnection) -> ConnectionState:
    """Read the state through a call, so that mypy does not narrow it."""
    return conn.state


def in_flight_of(conn: ModemConnection) -> c.Command | None:
    return conn.in_flight


def feed(conn: ModemConnection, data: bytes) -> list[object]:
    conn.receive_data(data)
    return list(drain(conn))


# ---------------------------------------------------------------------------
# Local misuse
# ---------------------------------------------------------------------------


def test_send_while_in_flight_raises() -> None:
    conn = ModemConnection()
    conn.send(STATE)
    assert state_of(conn) is ConnectionState.AWAITING_RESPONSE
    assert in_flight_of(conn) is STATE
    with pytest.raises(LocalProtocolError):
        conn.send(c.Attention())
    feed(conn, b"\r\nOK\r\n")
    assert state_of(conn) is ConnectionState.IDLE
    assert conn.in_flight is None
    conn.send(c.Attention())


def test_send_rejects_non_command() -> None:
    with pytest.raises(LocalProtocolError):
        ModemConnection().send(b"AT\r")  # type: ignore[arg-type]


def test_send_payload_rules() -> None:
    conn = ModemConnection()
    with pytest.raises(LocalProtocolError):
        conn.send_payload(b"abcd")
    conn.send(SEND)
    assert state_of(conn) is ConnectionState.AWAITING_PROMPT
    with pytest.raises(LocalProtocolError):
        conn.send_payload(b"abcd")  # before the prompt
    assert feed(conn, b"\r\n> ") == [PromptReceived(SEND)]
    assert state_of(conn) is ConnectionState.SENDING_PAYLOAD
    with pytest.raises(LocalProtocolError):
        conn.send_payload(b"abc")  # wrong length
    with pytest.raises(LocalProtocolError):
        conn.send_payload("abcd")  # type: ignore[arg-type]
    assert conn.send_payload(bytearray(b"abcd")) == b"abcd"
    assert state_of(conn) is ConnectionState.AWAITING_SEND_RESULT
    with pytest.raises(LocalProtocolError):
        conn.send_payload(b"abcd")  # only once
    assert feed(conn, b"\r\nSEND OK\r\n") == [CommandSucceeded(SEND, "SEND OK")]


def test_send_payload_not_allowed_after_failure() -> None:
    conn = ModemConnection()
    conn.send(SEND)
    feed(conn, b"\r\n> ")
    assert feed(conn, b"\r\nERROR\r\n") == [CommandFailed(SEND)]
    with pytest.raises(LocalProtocolError):
        conn.send_payload(b"abcd")


def test_file_upload_states() -> None:
    conn = ModemConnection()
    conn.send(UPL)
    with pytest.raises(LocalProtocolError):
        conn.send_payload(b"data")
    assert feed(conn, b"\r\nCONNECT\r\n") == [ConnectReceived(UPL)]
    assert state_of(conn) is ConnectionState.DATA_PHASE
    with pytest.raises(LocalProtocolError):
        conn.send_payload(b"dat")
    conn.send_payload(b"data")
    assert state_of(conn) is ConnectionState.AWAITING_RESPONSE
    assert feed(conn, b"\r\n+QFUPL: 4,c4e1\r\n\r\nOK\r\n") == [
        CommandSucceeded(UPL, "OK", ("+QFUPL: 4,c4e1",))
    ]


def test_prompt_not_recognised_when_not_expected() -> None:
    conn = ModemConnection()
    assert feed(conn, b"\r\n> \r\n") == [UnknownUrc(">")]
    conn2 = ModemConnection()
    conn2.send(STATE)
    assert feed(conn2, b"\r\n>\r\nOK\r\n") == [UnknownUrc(">"), CommandSucceeded(STATE)]


# ---------------------------------------------------------------------------
# Abandon
# ---------------------------------------------------------------------------


def test_abandoned_late_ok_is_not_given_to_next_command() -> None:
    state = c.SslState(1)
    steps: list[Step] = [
        Send(STATE),
        Abandon(),
        Rx(b'\r\n+QSSLSTATE: 1,"SSLClient","1.2.3.4",1,2,2,1,1,0,"uart1",0\r\n\r\nOK\r\n'),
        Send(state),
        Rx(b"\r\nOK\r\n"),
    ]
    assert assert_split_invariant(steps) == [CommandSucceeded(state)]


def test_send_during_abandoned_raises_and_clear_abandoned() -> None:
    conn = ModemConnection()
    conn.send(STATE)
    conn.abandon_command()
    assert state_of(conn) is ConnectionState.ABANDONED
    assert conn.in_flight is None
    assert conn.abandoned is STATE
    with pytest.raises(LocalProtocolError):
        conn.send(c.Attention())
    conn.abandon_command()  # idempotent
    conn.clear_abandoned()
    assert state_of(conn) is ConnectionState.IDLE
    conn.clear_abandoned()  # no-op
    conn.abandon_command()  # no-op when idle
    assert state_of(conn) is ConnectionState.IDLE
    conn.send(c.Attention())


def test_abandoned_recv_payload_consumed_and_dropped() -> None:
    steps: list[Step] = [
        Send(RECV),
        Abandon(),
        Rx(b'\r\n+QSSLRECV: 12\r\n\r\nOK\r\nRDY\r\n\r\n\r\nOK\r\n\r\n+QSSLURC: "closed",1\r\n'),
    ]
    assert assert_split_invariant(steps) == [SslClosed(1)]


def test_abandoned_recv_after_clear_still_consumed_by_length() -> None:
    conn = ModemConnection()
    conn.send(RECV)
    conn.abandon_command()
    assert feed(conn, b"\r\n+QSSLRECV: 6\r\n") == []
    conn.clear_abandoned()
    at = c.Attention()
    conn.send(at)
    # The late block still arrives; it must not be parsed as lines.
    assert feed(conn, b"\r\nOK\r\n\r\nOK\r\n") == [CommandSucceeded(at)]


def test_abandoned_error_swallowed() -> None:
    steps: list[Step] = [Send(RECV), Abandon(), Rx(b"\r\n+CME ERROR: 550\r\n\r\nOK\r\n")]
    # The first final ends the abandoned command; the second OK belongs to nobody.
    assert assert_split_invariant(steps) == [UnknownUrc("OK")]


def test_abandoned_command_urcs_still_surface() -> None:
    steps: list[Step] = [
        Send(STATE),
        Abandon(),
        Rx(b'\r\n+QSSLURC: "recv",2\r\n\r\n+CPIN: READY\r\n\r\nOK\r\n\r\n+QSSLOPEN: 2,0\r\n'),
    ]
    assert assert_split_invariant(steps) == [SslDataAvailable(2), UnknownUrc("+CPIN: READY"), SslOpened(2, 0)]


def test_abandoned_prompt_event_and_filler() -> None:
    steps: list[Step] = [
        Send(SEND),
        Abandon(),
        Rx(b"\r\n> "),
        Payload(b"\x00\x00\x00\x00"),
        Rx(b"\r\nSEND OK\r\n\r\nOK\r\n"),
    ]
    assert assert_split_invariant(steps) == [AbandonedPrompt(SEND), UnknownUrc("OK")]


def test_abandoned_prompt_with_payload_echo() -> None:
    steps: list[Step] = [
        Send(SEND),
        Abandon(),
        Rx(b"\r\n> "),
        Payload(b"OK\r\n"),
        Rx(b"OK\r\n\r\nSEND OK\r\n"),
    ]
    assert assert_split_invariant(steps, payload_echo=True) == [AbandonedPrompt(SEND)]


def test_abandon_after_prompt_allows_filler() -> None:
    conn = ModemConnection()
    conn.send(SEND)
    assert feed(conn, b"\r\n> ") == [PromptReceived(SEND)]
    conn.abandon_command()
    assert conn.send_payload(b"pad!") == b"pad!"
    assert feed(conn, b"\r\nSEND OK\r\n") == []
    assert state_of(conn) is ConnectionState.IDLE


def test_abandoned_prompt_then_esc_cancel() -> None:
    steps: list[Step] = [Send(SEND), Abandon(), Rx(b"\r\n> "), Rx(b"\r\nERROR\r\n")]
    assert assert_split_invariant(steps) == [AbandonedPrompt(SEND)]


def test_abandoned_upload_connect() -> None:
    steps: list[Step] = [
        Send(UPL),
        Abandon(),
        Rx(b"\r\nCONNECT\r\n\r\n+QFUPL: 0,0\r\n\r\n+CME ERROR: 421\r\n\r\nOK\r\n"),
    ]
    assert assert_split_invariant(steps) == [AbandonedPrompt(UPL), UnknownUrc("OK")]


def test_abandon_during_data_phase() -> None:
    conn = ModemConnection()
    conn.send(UPL)
    feed(conn, b"\r\nCONNECT\r\n")
    conn.abandon_command()
    assert feed(conn, b"\r\n+QFUPL: 0,0\r\n\r\n+CME ERROR: 421\r\n") == []
    assert state_of(conn) is ConnectionState.IDLE


# ---------------------------------------------------------------------------
# Remote protocol errors and resync
# ---------------------------------------------------------------------------


def test_over_long_line_without_lf() -> None:
    conn = ModemConnection()
    conn.receive_data(b"A" * MAX_LINE_LENGTH)
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"A")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    assert state_of(conn) is ConnectionState.ERROR
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    with pytest.raises(LocalProtocolError):
        conn.send(c.Attention())
    conn.resync()
    assert state_of(conn) is ConnectionState.IDLE
    # Still discarding until the LF of the long line arrives.
    assert feed(conn, b'AAAA\r\nOK-tail\r\n\r\n+QSSLURC: "closed",3\r\n') == [
        UnknownUrc("OK-tail"),
        SslClosed(3),
    ]


def test_over_long_complete_line() -> None:
    conn = ModemConnection()
    conn.receive_data(b"B" * MAX_LINE_LENGTH + b"\r\n\r\nRDY\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    conn.resync()
    assert len(drain(conn)) == 1


@pytest.mark.parametrize(
    "header",
    [
        b"+QSSLRECV: 4097",
        b"+QSSLRECV: 99999",
        b"+QSSLRECV: 00001",
    ],
)
def test_bad_length_headers(header: bytes) -> None:
    conn = ModemConnection()
    conn.send(RECV)
    conn.receive_data(b"\r\n" + header + b"\r\nabc\r\n\r\nOK\r\n")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()
    conn.resync()
    # The command in flight is abandoned: its OK is swallowed.
    assert state_of(conn) is ConnectionState.ABANDONED
    assert drain(conn) == []
    assert state_of(conn) is ConnectionState.IDLE


@pytest.mark.parametrize(
    "header",
    [
        b'+QSSLURC: "recv",1,4097',
        b'+QSSLURC: "recv",1,12345',
        b'+QSSLURC: "recv",1,x',
        b'+QSSLURC: "recv",1,-1',
    ],
)
def test_bad_push_length_headers_report_the_data_lost(header: bytes) -> None:
    conn = ModemConnection()
    conn.receive_data(b"\r\n" + header + b"\r\n")
    event = conn.next_event()
    assert isinstance(event, SslDataLost)
    assert event.client_id == 1


def test_length_cap_accepts_4096() -> None:
    conn = ModemConnection()
    conn.send(RECV)
    data = bytes(4096)
    assert feed(conn, b"\r\n+QSSLRECV: 4096\r\n" + data + b"\r\n\r\nOK\r\n") == [
        CommandSucceeded(RECV, "OK", ("+QSSLRECV: 4096",), data)
    ]


def test_eof_inside_payload() -> None:
    conn = ModemConnection()
    conn.send(RECV)
    conn.receive_data(b"\r\n+QSSLRECV: 10\r\nabc")
    assert conn.next_event() is NEED_DATA
    conn.receive_data(b"")
    with pytest.raises(RemoteProtocolError):
        conn.next_event()


def test_eof_events() -> None:
    steps: list[Step] = [Rx(b'\r\n+QSSLURC: "closed",1\r\nRD'), Eof()]
    assert assert_split_invariant(steps) == [SslClosed(1), UnknownUrc("RD"), EndOfStream()]
    conn = ModemConnection()
    conn.receive_data(b"")
    assert conn.at_eof
    assert conn.next_event() == EndOfStream()
    assert conn.next_event() is NEED_DATA
    with pytest.raises(LocalProtocolError):
        conn.receive_data(b"x")
    with pytest.raises(LocalProtocolError):
        conn.send(c.Attention())


def test_eof_with_prompt_pending() -> None:
    conn = ModemConnection()
    conn.send(SEND)
    conn.receive_data(b"\r\n>")
    conn.receive_data(b"")
    assert drain(conn) == [PromptReceived(SEND), EndOfStream()]


def test_quoting_garbage_is_unknown_not_error() -> None:
    steps: list[Step] = [Rx(b'\r\n+QSSLURC: "recv\r\n\r\n+QIURC: "pdpdeact\r\n\r\n+QSSLOPEN: x,y\r\n')]
    assert assert_split_invariant(steps) == [
        UnknownUrc('+QSSLURC: "recv'),
        UnknownUrc('+QIURC: "pdpdeact'),
        UnknownUrc("+QSSLOPEN: x,y"),
    ]


def test_direct_push_during_qsslrecv_response() -> None:
    steps: list[Step] = [
        Send(RECV),
        Rx(b'\r\n+QSSLURC: "recv",2,3\r\nOK\n\r\n+QSSLRECV: 2\r\nOK\r\n\r\nOK\r\n'),
    ]
    assert assert_split_invariant(steps) == [
        SslDataPushed(2, b"OK\n"),
        CommandSucceeded(RECV, "OK", ("+QSSLRECV: 2",), b"OK"),
    ]


def test_repr_and_properties() -> None:
    conn = ModemConnection(payload_echo=True)
    assert conn.payload_echo
    assert "IDLE" in repr(conn)
    conn.receive_data(b"partial")
    assert conn.buffered == 7


def test_resync_is_a_no_op_outside_error() -> None:
    conn = ModemConnection()
    conn.send(STATE)
    conn.resync()
    assert state_of(conn) is ConnectionState.AWAITING_RESPONSE


def test_echoed_password_never_surfaces() -> None:
    pdp = c.ConfigurePdp(1, "apn", "user", "hunter2")
    steps: list[Step] = [Send(pdp), Rx(b'AT+QICSGP=1,1,"apn","user","hunter2",0\r\r\nOK\r\n')]
    events = assert_split_invariant(steps, [CommandSucceeded(pdp)])
    assert "hunter2" not in repr(events)


def test_transparent_open_connect_is_success() -> None:
    open_ = c.SslOpen(1, 1, 4, "example.com", 443, 2)
    steps: list[Step] = [Send(open_), Rx(b"\r\nCONNECT\r\n")]
    assert assert_split_invariant(steps) == [CommandSucceeded(open_, "CONNECT")]


def test_second_connect_of_abandoned_upload_is_swallowed() -> None:
    steps: list[Step] = [Send(UPL), Abandon(), Rx(b"\r\nCONNECT\r\n\r\nCONNECT\r\n\r\nOK\r\n\r\nOK\r\n")]
    assert assert_split_invariant(steps) == [AbandonedPrompt(UPL), UnknownUrc("OK")]


def test_raw_command_gets_recv_payload() -> None:
    raw = c.Raw("AT+QSSLRECV=1,5")
    steps: list[Step] = [Send(raw), Rx(b"\r\n+QSSLRECV: 5\r\n\r\nOK\r\r\n\r\nOK\r\n")]
    assert assert_split_invariant(steps) == [CommandSucceeded(raw, "OK", ("+QSSLRECV: 5",), b"\r\nOK\r")]


def test_recv_header_for_command_that_does_not_read() -> None:
    steps: list[Step] = [Send(STATE), Rx(b"\r\n+QSSLRECV: 4\r\nOK\r\n\r\nOK\r\n")]
    assert assert_split_invariant(steps) == [UnknownUrc("+QSSLRECV: 4"), CommandSucceeded(STATE)]


def test_bytes_needed_is_the_rest_of_a_recv_block() -> None:
    conn = ModemConnection()
    assert conn.bytes_needed == 1
    conn.send(RECV)
    assert feed(conn, b"\r\n+QSSLRECV: 100\r\n") == []
    assert conn.bytes_needed == 100
    assert feed(conn, b"x" * 30) == []
    assert conn.bytes_needed == 70
    assert feed(conn, b"x" * 69) == []
    assert conn.bytes_needed == 1
    assert feed(conn, b"x") == []
    # After the block the parser reads lines again: any byte can finish one.
    assert conn.bytes_needed == 1
    assert feed(conn, b"\r\nOK\r\n") == [
        CommandSucceeded(RECV, lines=("+QSSLRECV: 100",), payload=b"x" * 100)
    ]


def test_bytes_needed_is_the_rest_of_a_pushed_block() -> None:
    conn = ModemConnection()
    assert feed(conn, b'\r\n+QSSLURC: "recv",3,10\r\n') == []
    assert conn.bytes_needed == 10
    assert feed(conn, b"0123") == []
    assert conn.bytes_needed == 6
    assert feed(conn, b"456789\r\n") == [SslDataPushed(3, b"0123456789")]
    assert conn.bytes_needed == 1


# ---------------------------------------------------------------------------
# Framing the module broke: lost bytes, a reset inside a block (decision 84)
# ---------------------------------------------------------------------------


def feed_in_two(conn: ModemConnection, wire: bytes, cut: int) -> list[object]:
    return [event for piece in (wire[:cut], wire[cut:]) if piece for event in feed(conn, piece)]


@pytest.mark.parametrize(
    "wire",
    [
        b"\r\n+QSSLRECV: 5\r\nHELO\r\n\r\nOK\r\n",  # one byte of the block lost: the CR is taken as data
        b"\r\n+QSSLRECV: 3\r\nHELO\r\n\r\nOK\r\n",  # one byte too many
        b"\r\n+QSSLRECV: 4\r\nHELOX\r\n\r\nOK\r\n",
    ],
)
def test_a_recv_block_not_followed_by_crlf_is_never_delivered(wire: bytes) -> None:
    for cut in range(len(wire) + 1):
        conn = ModemConnection()
        conn.send(RECV)
        with pytest.raises(RemoteProtocolError, match="not followed by CR LF"):
            feed_in_two(conn, wire, cut)
        conn.resync()
        assert conn.abandoned is RECV  # its late OK cannot reach the next command


def test_a_recv_block_followed_by_a_urc_is_delivered() -> None:
    steps: list[Step] = [Send(RECV), Rx(b'\r\n+QSSLRECV: 4\r\nHELO\r\n+QSSLURC: "recv",2\r\n\r\nOK\r\n')]
    assert assert_split_invariant(steps) == [
        SslDataAvailable(2),
        CommandSucceeded(RECV, "OK", ("+QSSLRECV: 4",), b"HELO"),
    ]


@pytest.mark.parametrize("result", [b"SEND OK", b"SEND FAIL"])
def test_a_send_result_does_not_end_a_command_without_a_data_phase(result: bytes) -> None:
    # A byte lost on the way to the module leaves it waiting for one more
    # payload byte: the next command's first byte completes the payload.
    close = c.SslClose(1, 0)
    steps: list[Step] = [Send(close), Rx(b"\r\n" + result + b"\r\n\r\nERROR\r\n")]
    assert assert_split_invariant(steps) == [
        UnknownUrc(result.decode()),
        CommandFailed(close, "ERROR", None, "", ()),
    ]


def test_a_stray_connect_does_not_end_a_command() -> None:
    steps: list[Step] = [Send(STATE), Rx(b"\r\nCONNECT\r\n\r\nOK\r\n")]
    assert assert_split_invariant(steps) == [UnknownUrc("CONNECT"), CommandSucceeded(STATE)]


def test_a_block_the_module_fell_silent_in_can_be_abandoned_so_rdy_is_seen() -> None:
    conn = ModemConnection()
    conn.send(RECV)
    assert feed(conn, b"\r\n+QSSLRECV: 100\r\n" + b"x" * 40) == []
    assert conn.in_block
    received = conn.received_total
    conn.abandon_command()
    conn.clear_abandoned()
    assert conn.in_block  # the finisher alone does not end a block ...
    conn.abandon_block()  # ... the driver does, after silence
    assert (conn.in_block, conn.received_total) == (False, received)
    assert feed(conn, b"xx\r\nRDY\r\n") == [ModemReady()]
    conn.abandon_block()  # a no-op outside a block
    at = c.Attention()
    conn.send(at)
    assert feed(conn, b"\r\nOK\r\n") == [CommandSucceeded(at)]


def test_a_rdy_among_the_bytes_of_an_abandoned_block_may_be_the_peers() -> None:
    wire = b"\r\n+QSSLRECV: 100\r\n" + b"x" * 40 + b"\r\nRDY\r\n"
    later = b"\r\nRDY\r\n"
    for cut in range(len(wire) + 1):
        conn = ModemConnection()
        conn.send(RECV)
        assert feed_in_two(conn, wire, cut) == []
        conn.abandon_command()
        conn.clear_abandoned()
        conn.abandon_block()
        assert list(drain(conn)) == [ModemReady(in_band=True)], cut
        # The next one arrives in command mode: the module's own.
        assert [event for byte in later for event in feed(conn, bytes([byte]))] == [ModemReady()], cut


@pytest.mark.parametrize("result", ["SEND OK", "CONNECT"])
def test_a_raw_command_takes_any_final_result(result: str) -> None:
    # AT+QISENDEX sends hex data without a prompt and answers SEND OK.
    raw = c.Raw('AT+QISENDEX=0,"4142"')
    steps: list[Step] = [Send(raw), Rx(f"\r\n{result}\r\n".encode())]
    assert assert_split_invariant(steps) == [CommandSucceeded(raw, result)]
