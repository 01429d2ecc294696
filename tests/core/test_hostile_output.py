"""A module that floods, damages or never ends its output: memory stays bounded, errors are clear."""

from __future__ import annotations

import pytest

from quectel_aio import _commands as c
from quectel_aio._connection import MAX_RESPONSE_SIZE, ConnectionState, ModemConnection
from quectel_aio._errors import RemoteProtocolError
from quectel_aio._events import (
    NEED_DATA,
    CommandSucceeded,
    Event,
    ModemReady,
    SslClosed,
    SslDataLost,
    SslDataPushed,
    UnknownUrc,
)

from .helpers import Rx, Send, Splitter, assert_split_invariant, bytewise, cut_at, drain, whole

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
    assert f"response of {command.label} is longer than {MAX_RESPONSE_SIZE} bytes" in message
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


# ---------------------------------------------------------------------------
# One byte lost on the way to the host (no flow control)
# ---------------------------------------------------------------------------

LOST_PAYLOAD = b"HE\nLO\r\nOK\r\nX"
RECV_RESPONSE = b"\r\n+QSSLRECV: 12\r\n" + LOST_PAYLOAD + b"\r\n\r\nOK\r\n"


def outcome(command: c.Command | None, wire: bytes, splitter: Splitter) -> list[object]:
    """Events of ``wire`` fed as ``splitter`` cuts it; a protocol error is recorded and resynced.

    ``command`` is in flight as the bytes arrive (None: the port is idle).
    """
    conn = ModemConnection()
    if command is not None:
        conn.send(command)
    got: list[object] = []
    for piece in splitter(wire, 0):
        conn.receive_data(piece)
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError:
                got.append(RemoteProtocolError)
                conn.resync()
                continue
            if event is NEED_DATA:
                break
            got.append(event)
    return got


def split_invariant_outcome(command: c.Command | None, wire: bytes, *, step: int = 1) -> list[object]:
    """The events of ``wire`` fed whole, after checking that byte by byte and every ``step``-th cut agree."""
    reference = outcome(command, wire, whole)
    assert outcome(command, wire, bytewise) == reference
    for point in range(1, len(wire), step):
        assert outcome(command, wire, cut_at([point])) == reference, point
    return reference


@pytest.mark.parametrize("lost", range(len(RECV_RESPONSE)))
def test_a_byte_lost_anywhere_in_a_recv_response_never_delivers_other_data(lost: int) -> None:
    command = c.SslRecv(1, 1500)
    wire = RECV_RESPONSE[:lost] + RECV_RESPONSE[lost + 1 :] + b"\r\n"
    reference = split_invariant_outcome(command, wire)
    for event in reference:
        if isinstance(event, CommandSucceeded):
            assert event.payload == LOST_PAYLOAD  # never "nothing to read", never other bytes


@pytest.mark.parametrize(
    "damaged",
    [
        RECV_RESPONSE.replace(b"+QSSLRECV", b"QSSLRECV"),
        RECV_RESPONSE.replace(b"+QSSLRECV", b"+QSLRECV"),
        RECV_RESPONSE.replace(b"+QSSLRECV:", b"+QSSLRECV"),
        RECV_RESPONSE.replace(b"+QSSLRECV: 12\r\n", b"+QSSLRECV: 12\r"),  # the header runs into the data
    ],
    ids=["plus", "letter", "colon", "lf"],
)
def test_a_damaged_recv_header_is_a_protocol_error(damaged: bytes) -> None:
    events = outcome(c.SslRecv(1, 1500), damaged, whole)
    assert RemoteProtocolError in events
    assert not any(isinstance(event, CommandSucceeded) for event in events)


def test_an_empty_read_is_still_empty() -> None:
    command = c.SslRecv(1, 1500)
    wire = b"\r\n+CREG: 1\r\n\r\n+QSSLRECV: 0\r\n\r\nOK\r\n"
    assert assert_split_invariant([Send(command), Rx(wire)]) == [
        UnknownUrc("+CREG: 1"),
        CommandSucceeded(command, "OK", ("+QSSLRECV: 0",), b""),
    ]
    # A bare OK (decision 3) is empty too, as long as nothing else came.
    assert assert_split_invariant([Send(command), Rx(b"\r\nOK\r\n")]) == [CommandSucceeded(command)]


EVIL = b'\r\n+QSSLURC: "recv",3,5\r\nEVIL!\r\n\r\n+QSSLURC: "closed",4\r\n\r\nRDY\r\n'
#: 250 bytes of server data that look like module output.
EVIL_PAYLOAD = b"A" * 60 + EVIL + b"B" * (250 - 60 - len(EVIL))
#: What the module sends after the read: far enough on to be outside any block.
LATER_URCS = b"\r\n+CREG: 1\r\n" * 30 + b'\r\n+QSSLURC: "closed",5\r\n'


@pytest.mark.parametrize("command", [c.SslRecv(1, 300), c.Raw("AT+QSSLRECV=1,300")], ids=["read", "raw-read"])
def test_after_a_broken_block_the_rest_of_its_data_is_never_read_as_module_output(command: c.Command) -> None:
    # A length digit lost (250 -> 50): the framing error is found 50 bytes in,
    # and the other 200 bytes are the server's. Read as lines they would push
    # data into socket 3, close socket 4 and fake a restart. The skip ends
    # after the largest block the read asked for, not the largest any read may
    # carry: what the module sends next is read again.
    wire = b"\r\n+QSSLRECV: 50\r\n" + EVIL_PAYLOAD + b"\r\n\r\nOK\r\n" + LATER_URCS
    reference = split_invariant_outcome(command, wire)
    assert reference[0] is RemoteProtocolError
    assert not any(isinstance(event, SslDataPushed | ModemReady) for event in reference)
    assert SslClosed(4) not in reference
    assert reference[-1] == SslClosed(5)  # past the largest block the read could carry, lines count again


#: Text of the server's whose lines end in CR LF, like most of what goes over TLS.
LINES_PAYLOAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbody"


@pytest.mark.parametrize("shortened", [15, 41])  # each ends where a line of the data ends
def test_a_shortened_block_whose_data_goes_on_with_a_line_is_never_delivered(shortened: int) -> None:
    # A lost length digit (a hundred and fifteen read as 15) whose shortened block
    # happens to end at a CR LF of the data: the next line is still the server's.
    assert LINES_PAYLOAD[shortened : shortened + 2] == b"\r\n"
    command = c.SslRecv(1, 120)
    wire = b"\r\n+QSSLRECV: %d\r\n" % shortened + LINES_PAYLOAD + b"\r\n\r\nOK\r\n" + LATER_URCS
    reference = split_invariant_outcome(command, wire)
    assert reference[0] is RemoteProtocolError
    assert not any(isinstance(event, CommandSucceeded) for event in reference)
    assert reference[-1] == SslClosed(5)


@pytest.mark.parametrize(
    "after",
    [
        b"\r\n\r\nOK\r\n",
        b"\r\nOK\r\n",
        b'\r\n\r\n+QSSLURC: "recv",2\r\n\r\nOK\r\n',
        b'\r\n+QSSLURC: "recv",2\r\n\r\nOK\r\n',
    ],
    ids=["blank-line", "no-blank-line", "urc", "urc-no-blank-line"],
)
def test_a_block_ending_where_the_module_goes_on_is_delivered(after: bytes) -> None:
    command = c.SslRecv(1, 1500)
    events = assert_split_invariant(
        [Send(command), Rx(b"\r\n+QSSLRECV: 15\r\n" + LINES_PAYLOAD[:15] + after)]
    )
    assert events[-1] == CommandSucceeded(command, "OK", ("+QSSLRECV: 15",), LINES_PAYLOAD[:15])


@pytest.mark.parametrize("lost", [*range(2, 12), 17])  # each byte of "+QSSLRECV:", then its LF
def test_the_block_of_a_damaged_header_is_never_read_as_module_output(lost: int) -> None:
    command = c.SslRecv(1, 300)
    header = b"\r\n+QSSLRECV: 250\r\n"
    wire = header[:lost] + header[lost + 1 :] + EVIL_PAYLOAD + b"\r\n\r\nOK\r\n" + LATER_URCS
    reference = split_invariant_outcome(command, wire)
    assert reference[0] is RemoteProtocolError
    assert not any(isinstance(event, SslDataPushed | ModemReady | CommandSucceeded) for event in reference)
    assert SslClosed(4) not in reference
    assert reference[-1] == SslClosed(5)


def test_a_broken_block_abandoned_after_silence_is_dropped_whole() -> None:
    # The read was short (the module fell silent before the largest block it
    # could carry had passed): the driver abandons the skip after a quiet
    # period, and nothing skipped so far is read as lines.
    conn = ModemConnection()
    command = c.SslRecv(1, 1500)
    conn.send(command)
    conn.receive_data(b"\r\n+QSSLRECV: 50\r\n" + EVIL_PAYLOAD + b"\r\n\r\nOK\r\n")
    with pytest.raises(RemoteProtocolError, match="not followed by CR LF"):
        drain(conn)
    conn.resync()
    assert drain(conn) == []
    assert conn.in_block
    conn.abandon_block()
    assert drain(conn) == []
    conn.clear_abandoned()
    at = c.Attention()
    conn.send(at)
    conn.receive_data(b"\r\nOK\r\n")
    assert drain(conn) == [CommandSucceeded(at)]


@pytest.mark.parametrize("lost", [*range(2, 12), 17])  # each byte of "+QSSLRECV:", then its LF
def test_the_block_of_a_damaged_header_is_never_read_as_module_output_on_a_raw_read(lost: int) -> None:
    # A raw read of a socket the host does not hold: its server is no more
    # trusted than any other, and its bytes must not close socket 4 or fake a restart.
    command = c.Raw("AT+QSSLRECV=0,300")
    header = b"\r\n+QSSLRECV: 250\r\n"
    wire = header[:lost] + header[lost + 1 :] + EVIL_PAYLOAD + b"\r\n\r\nOK\r\n" + LATER_URCS
    reference = split_invariant_outcome(command, wire)
    assert reference[0] is RemoteProtocolError
    assert not any(isinstance(event, SslDataPushed | ModemReady | CommandSucceeded) for event in reference)
    assert SslClosed(4) not in reference
    assert reference[-1] == SslClosed(5)


@pytest.mark.parametrize(
    "line",
    ["AT+QSSLRECV=0,0", "AT+QSSLRECV=0,0;+QSSLRECV=0,300", "AT+QSSLRECV=?", "AT+QSSLSTATE"],
)
def test_a_raw_line_that_reads_no_block_takes_recv_lines_as_they_are(line: str) -> None:
    command = c.Raw(line)
    wire = b"\r\n+QSSLRECV: 250,200,50\r\n\r\nOK\r\n"
    assert assert_split_invariant([Send(command), Rx(wire)]) == [
        CommandSucceeded(command, "OK", ("+QSSLRECV: 250,200,50",))
    ]


def test_a_push_longer_than_any_block_is_skipped_by_count_and_reported_lost() -> None:
    # Bytes past any block's length are no push a module sends: a damaged
    # length. The socket hears its data was lost; the block is skipped by its
    # count, so nothing in it is read as module output.
    wire = b'\r\n+QSSLURC: "recv",1,5000\r\n' + (EVIL_PAYLOAD * 20) + LATER_URCS
    reference = split_invariant_outcome(None, wire, step=7)
    assert isinstance(reference[0], SslDataLost)
    assert reference[0].client_id == 1
    assert not any(isinstance(event, SslDataPushed | ModemReady) for event in reference)
    assert SslClosed(4) not in reference
    assert reference[-1] == SslClosed(5)


def test_a_push_header_run_into_its_data_is_reported_lost() -> None:
    # The header's LF lost: the data's first bytes run into the length. How
    # much of the block went with the line cannot be told; the socket is told
    # its data is gone rather than handed a stream with a hole in it.
    wire = b'\r\n+QSSLURC: "recv",1,250\r' + b"A" * 250 + b"\r\n" + LATER_URCS
    events = assert_split_invariant([Rx(wire)])
    assert isinstance(events[0], SslDataLost)
    assert events[0].client_id == 1
    assert not any(isinstance(event, SslDataPushed) for event in events)
