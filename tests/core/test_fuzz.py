"""Property tests: arbitrary module output never crashes the core."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from quectel_aio import _commands as c
from quectel_aio._connection import ConnectionState, ModemConnection
from quectel_aio._errors import RemoteProtocolError
from quectel_aio._events import NEED_DATA, Event

TOKENS = [
    b"\r\n",
    b"\r",
    b"\n",
    b"OK",
    b"ERROR",
    b"+CME ERROR: 550",
    b"+CME ERROR: text",
    b"SEND OK",
    b"SEND FAIL",
    b"CONNECT",
    b"NO CARRIER",
    b"> ",
    b">",
    b"RDY",
    b'+QSSLURC: "recv",1',
    b'+QSSLURC: "recv",1,3',
    b'+QSSLURC: "closed",1',
    b'+QIURC: "pdpdeact",1',
    b"+QSSLOPEN: 1,0",
    b"+QSSLRECV: 2",
    b"+QSSLRECV: 0",
    b"+QSSLRECV: 99999",
    b"+QSSLSTATE: 1",
    b"AT+QSSLSEND=1,3",
    b"\x00",
    b"\xff",
    b"\x1a",
    b'"',
]
COMMANDS = [c.SslSend(1, 3), c.SslRecv(1, 10), c.SslState(), c.FileUpload("a", 3), c.Raw("ATI"), None]


def state_of(conn: ModemConnection) -> ConnectionState:
    return conn.state


def exercise(conn: ModemConnection, chunks: list[bytes], actions: list[int]) -> list[Event]:
    """Feed chunks; between chunks maybe send a command, a payload, abandon or resync."""
    events: list[Event] = []
    for chunk, action in zip(chunks, actions, strict=False):
        command = COMMANDS[action % len(COMMANDS)]
        if state_of(conn) is ConnectionState.IDLE and command is not None:
            conn.send(command)
        elif state_of(conn) in (ConnectionState.SENDING_PAYLOAD, ConnectionState.DATA_PHASE):
            conn.send_payload(b"abc")
        elif action % 7 == 0:
            conn.abandon_command()
        elif action % 11 == 0:
            conn.clear_abandoned()
        if chunk:  # b"" would mean EOF
            conn.receive_data(chunk)
        while True:
            try:
                event = conn.next_event()
            except RemoteProtocolError:
                assert state_of(conn) is ConnectionState.ERROR
                conn.resync()
                assert state_of(conn) is not ConnectionState.ERROR
                continue
            if event is NEED_DATA:
                break
            assert isinstance(event, Event)
            events.append(event)
    return events


@settings(max_examples=400, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20), st.lists(st.integers(0, 1000), max_size=20))
def test_random_bytes(chunks: list[bytes], actions: list[int]) -> None:
    exercise(ModemConnection(), chunks, actions)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(TOKENS), max_size=8).map(b"".join), max_size=20),
    st.lists(st.integers(0, 1000), max_size=20),
    st.booleans(),
)
def test_random_token_streams(chunks: list[bytes], actions: list[int], echo: bool) -> None:
    exercise(ModemConnection(payload_echo=echo), chunks, actions)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_then_resync_recovers(noise: bytes) -> None:
    conn = ModemConnection()
    exercise(conn, [noise, b"\r\n" * 3], [5, 5])
    conn.receive_data(b"\n" + b"\r\n" * 5000)  # ends any pending payload and line
    while True:
        try:
            if conn.next_event() is NEED_DATA:
                break
        except RemoteProtocolError:
            conn.resync()
    conn.clear_abandoned()
    if state_of(conn) is ConnectionState.IDLE:
        at = c.Attention()
        conn.send(at)
        conn.receive_data(b"\r\nOK\r\n")
        events = []
        while (event := conn.next_event()) is not NEED_DATA:
            events.append(event)
        assert events[-1].command is at  # type: ignore[attr-defined]
