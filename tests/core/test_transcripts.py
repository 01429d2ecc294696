"""Every app-note example and response shape, fed whole, byte by byte and split everywhere."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quectel_aio import _commands as c
from quectel_aio._core_states import echo_after
from quectel_aio._events import (
    CommandFailed,
    CommandSucceeded,
    ConnectReceived,
    EchoReturned,
    Event,
    ModemReady,
    PdpDeactivated,
    PromptReceived,
    SslClosed,
    SslDataAvailable,
    SslDataPushed,
    SslOpened,
    UnknownUrc,
)

from .helpers import Payload, Rx, Send, Step, assert_split_invariant, cut_at, run, rx_length

DATA = b"Test data from SSL"
STATE_LINE = '+QSSLSTATE: 4,"SSLClient","220.180.239.212",8010,65344,2,1,4,0,"usbmodem",1'

CSGP = c.ConfigurePdp(1, "UNINET")
QIACT = c.ActivatePdp(1)
QIACTQ = c.QueryPdp()
QIDEACT = c.DeactivatePdp(1)
CACERT = c.SslConfigure("cacert", 1, "UFS:cacert.pem")
OPEN = c.SslOpen(1, 1, 4, "220.180.239.212", 8010, 0)
OPEN_PUSH = c.SslOpen(1, 1, 4, "220.180.239.212", 8011, 1)
STATE = c.SslState()
SEND = c.SslSend(4, 18)
RECV = c.SslRecv(4, 1500)
CLOSE = c.SslClose(4)
QUERY = c.SslRecvQuery(4)
UPL = c.FileUpload("cacert.pem", 5, 10)
FLST = c.FileList()
GETERR = c.QueryError()
CFG_Q = c.SslConfigure("seclevel", 1)
ATI = c.Raw("ATI")
CCLK = c.QueryClock()
SWT = c.SwitchAccessMode(4, 2)
SPACE = c.FileSpace()

Case = tuple[Sequence[Step], Sequence[Event]]

CASES: dict[str, Case] = {
    # --- SSL Application Note §3 examples -------------------------------
    "3.1.1 qicsgp": (
        [Send(CSGP, b'AT+QICSGP=1,1,"UNINET","","",0\r'), Rx(b"\r\nOK\r\n")],
        [CommandSucceeded(CSGP)],
    ),
    "3.1.2 qiact": ([Send(QIACT, b"AT+QIACT=1\r"), Rx(b"\r\nOK\r\n")], [CommandSucceeded(QIACT)]),
    "3.1.2 qiact?": (
        [Send(QIACTQ, b"AT+QIACT?\r"), Rx(b'\r\n+QIACT: 1,1,1,"10.7.157.1"\r\n\r\nOK\r\n')],
        [CommandSucceeded(QIACTQ, "OK", ('+QIACT: 1,1,1,"10.7.157.1"',))],
    ),
    "3.1.3 qideact": ([Send(QIDEACT, b"AT+QIDEACT=1\r"), Rx(b"\r\nOK\r\n")], [CommandSucceeded(QIDEACT)]),
    "3.2 qsslcfg cacert": (
        [Send(CACERT, b'AT+QSSLCFG="cacert",1,"UFS:cacert.pem"\r'), Rx(b"\r\nOK\r\n")],
        [CommandSucceeded(CACERT)],
    ),
    "3.3.1 qsslopen": (
        [
            Send(OPEN, b'AT+QSSLOPEN=1,1,4,"220.180.239.212",8010,0\r'),
            Rx(b"\r\nOK\r\n\r\n+QSSLOPEN: 4,0\r\n"),
        ],
        [CommandSucceeded(OPEN), SslOpened(4, 0)],
    ),
    "3.3.1 qsslstate": (
        [Send(STATE, b"AT+QSSLSTATE\r"), Rx(f"\r\n{STATE_LINE}\r\n\r\nOK\r\n".encode())],
        [CommandSucceeded(STATE, "OK", (STATE_LINE,))],
    ),
    "3.3.2.2 qsslsend fixed": (
        [Send(SEND, b"AT+QSSLSEND=4,18\r"), Rx(b"\r\n> "), Payload(DATA), Rx(b"\r\nSEND OK\r\n")],
        [PromptReceived(SEND), CommandSucceeded(SEND, "SEND OK")],
    ),
    "3.3.3 qsslrecv": (
        [
            Rx(b'\r\n+QSSLURC: "recv",4\r\n'),
            Send(RECV, b"AT+QSSLRECV=4,1500\r"),
            Rx(b"\r\n+QSSLRECV: 18\r\n" + DATA + b"\r\n\r\nOK\r\n"),
            Send(RECV),
            Rx(b"\r\n+QSSLRECV: 0\r\n\r\nOK\r\n"),
        ],
        [
            SslDataAvailable(4),
            CommandSucceeded(RECV, "OK", ("+QSSLRECV: 18",), DATA),
            CommandSucceeded(RECV, "OK", ("+QSSLRECV: 0",), b""),
        ],
    ),
    "3.3.3 qsslrecv empty as bare OK": (
        [Send(RECV), Rx(b"\r\nOK\r\n")],
        [CommandSucceeded(RECV, "OK", (), None)],
    ),
    "3.3.4 qsslclose": ([Send(CLOSE, b"AT+QSSLCLOSE=4,10\r"), Rx(b"\r\nOK\r\n")], [CommandSucceeded(CLOSE)]),
    "3.4.1 qsslopen push": (
        [Send(OPEN_PUSH), Rx(b"\r\nOK\r\n\r\n+QSSLOPEN: 4,0\r\n")],
        [CommandSucceeded(OPEN_PUSH), SslOpened(4, 0)],
    ),
    "3.4.3 direct push": (
        [Rx(b'\r\n+QSSLURC: "recv",4,18\r\n' + DATA + b"\r\n")],
        [SslDataPushed(4, DATA)],
    ),
    "3.4.3 direct push without trailing crlf": (
        [Rx(b'\r\n+QSSLURC: "recv",4,18\r\n' + DATA + b'\r\n+QSSLURC: "closed",4\r\n')],
        [SslDataPushed(4, DATA), SslClosed(4)],
    ),
    "direct push zero length": (
        [Rx(b'\r\n+QSSLURC: "recv",4,0\r\n\r\n+QSSLURC: "recv",4,1\r\nx')],
        [SslDataPushed(4, b""), SslDataPushed(4, b"x")],
    ),
    # --- failures --------------------------------------------------------
    "plain error": ([Send(OPEN), Rx(b"\r\nERROR\r\n")], [CommandFailed(OPEN)]),
    "cme numeric": (
        [Send(UPL), Rx(b"\r\n+CME ERROR: 407\r\n")],
        [CommandFailed(UPL, "+CME ERROR", 407, "")],
    ),
    "cme text": (
        [Send(UPL), Rx(b"\r\n+CME ERROR: file already exist\r\n")],
        [CommandFailed(UPL, "+CME ERROR", None, "file already exist")],
    ),
    "cms error": ([Send(ATI), Rx(b"\r\n+CMS ERROR: 500\r\n")], [CommandFailed(ATI, "+CMS ERROR", 500, "")]),
    "send fail": (
        [Send(SEND), Rx(b"\r\n> "), Payload(DATA), Rx(b"\r\nSEND FAIL\r\n")],
        [PromptReceived(SEND), CommandFailed(SEND, "SEND FAIL")],
    ),
    "error instead of prompt": ([Send(SEND), Rx(b"\r\nERROR\r\n")], [CommandFailed(SEND)]),
    "cme instead of prompt": (
        [Send(SEND), Rx(b"\r\n+CME ERROR: 3\r\n")],
        [CommandFailed(SEND, "+CME ERROR", 3, "")],
    ),
    "error after payload": (
        [Send(SEND), Rx(b"\r\n> "), Payload(DATA), Rx(b"\r\nERROR\r\n")],
        [PromptReceived(SEND), CommandFailed(SEND)],
    ),
    "recv error discards nothing delivered": (
        [Send(RECV), Rx(b"\r\nERROR\r\n")],
        [CommandFailed(RECV)],
    ),
    "no carrier": ([Send(SWT), Rx(b"\r\nNO CARRIER\r\n")], [CommandFailed(SWT, "NO CARRIER")]),
    # --- other response shapes ------------------------------------------
    "recv query": (
        [Send(QUERY, b"AT+QSSLRECV=4,0\r"), Rx(b"\r\n+QSSLRECV: 36,18,18\r\n\r\nOK\r\n")],
        [CommandSucceeded(QUERY, "OK", ("+QSSLRECV: 36,18,18",))],
    ),
    "qfupl": (
        [
            Send(UPL, b'AT+QFUPL="cacert.pem",5,10,0\r'),
            Rx(b"\r\nCONNECT\r\n"),
            Payload(b"hello"),
            Rx(b"\r\n+QFUPL: 5,6d6f\r\n\r\nOK\r\n"),
        ],
        [ConnectReceived(UPL), CommandSucceeded(UPL, "OK", ("+QFUPL: 5,6d6f",))],
    ),
    "qfupl timeout error after connect": (
        [Send(UPL), Rx(b"\r\nCONNECT\r\n\r\n+QFUPL: 0,0\r\n\r\n+CME ERROR: 421\r\n")],
        [ConnectReceived(UPL), CommandFailed(UPL, "+CME ERROR", 421, "", ("+QFUPL: 0,0",))],
    ),
    "qflst": (
        [
            Send(FLST, b'AT+QFLST="*"\r'),
            Rx(b'\r\n+QFLST: "UFS:a.pem",1939\r\n+QFLST: "UFS:b",1\r\n\r\nOK\r\n'),
        ],
        [CommandSucceeded(FLST, "OK", ('+QFLST: "UFS:a.pem",1939', '+QFLST: "UFS:b",1'))],
    ),
    "qflds": (
        [Send(SPACE, b'AT+QFLDS="UFS"\r'), Rx(b"\r\n+QFLDS: 180224,286720\r\n\r\nOK\r\n")],
        [CommandSucceeded(SPACE, "OK", ("+QFLDS: 180224,286720",))],
    ),
    "qigeterror": (
        [Send(GETERR, b"AT+QIGETERROR\r"), Rx(b"\r\n+QIGETERROR: 552, invalid parameters\r\n\r\nOK\r\n")],
        [CommandSucceeded(GETERR, "OK", ("+QIGETERROR: 552, invalid parameters",))],
    ),
    "qsslcfg query": (
        [Send(CFG_Q, b'AT+QSSLCFG="seclevel",1\r'), Rx(b'\r\n+QSSLCFG: "seclevel",1,0\r\n\r\nOK\r\n')],
        [CommandSucceeded(CFG_Q, "OK", ('+QSSLCFG: "seclevel",1,0',))],
    ),
    "cclk": (
        [Send(CCLK), Rx(b'\r\n+CCLK: "26/08/07,13:54:02+32"\r\n\r\nOK\r\n')],
        [CommandSucceeded(CCLK, "OK", ('+CCLK: "26/08/07,13:54:02+32"',))],
    ),
    "raw ati": (
        [Send(ATI, b"ATI\r"), Rx(b"\r\nQuectel\r\nEC200U\r\nRevision: EC200UEUAAR03A01M08\r\n\r\nOK\r\n")],
        [CommandSucceeded(ATI, "OK", ("Quectel", "EC200U", "Revision: EC200UEUAAR03A01M08"))],
    ),
    "raw test form of qsslopen": (
        [Send(c.Raw("AT+QSSLOPEN=?")), Rx(b"\r\n+QSSLOPEN: (1-7),(0-5),(0-11),,,(0-2)\r\n\r\nOK\r\n")],
        [CommandSucceeded(c.Raw("AT+QSSLOPEN=?"), "OK", ("+QSSLOPEN: (1-7),(0-5),(0-11),,,(0-2)",))],
    ),
    "switch to transparent": ([Send(SWT), Rx(b"\r\nCONNECT\r\n")], [CommandSucceeded(SWT, "CONNECT")]),
    # --- URCs ------------------------------------------------------------
    "boot": (
        [Rx(b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QIND: SMS DONE\r\n")],
        [ModemReady(), UnknownUrc("+CFUN: 1"), UnknownUrc("+CPIN: READY"), UnknownUrc("+QIND: SMS DONE")],
    ),
    "pdpdeact and closed": (
        [Rx(b'\r\n+QIURC: "pdpdeact",1\r\n\r\n+QSSLURC: "closed",4\r\n')],
        [PdpDeactivated(1), SslClosed(4)],
    ),
    "other qiurc and qsslurc": (
        [Rx(b'\r\n+QIURC: "recv",0\r\n\r\n+QSSLURC: "weird",1\r\n\r\nPOWERED DOWN\r\n')],
        [UnknownUrc('+QIURC: "recv",0'), UnknownUrc('+QSSLURC: "weird",1'), UnknownUrc("POWERED DOWN")],
    ),
    "final while idle": (
        [Rx(b"\r\nOK\r\n\r\nERROR\r\n\r\n+CME ERROR: 3\r\n\r\nSEND OK\r\n")],
        [UnknownUrc("OK"), UnknownUrc("ERROR"), UnknownUrc("+CME ERROR: 3"), UnknownUrc("SEND OK")],
    ),
    "garbage while idle": (
        [Rx(b"\x00\xff garbage\r\n\r\nQuectel\r\n")],
        [UnknownUrc("\\x00\\xff garbage"), UnknownUrc("Quectel")],
    ),
    "foreign urc during qsslcfg": (
        [Send(CFG_Q), Rx(b'\r\n+CPIN: READY\r\n\r\n+QSSLCFG: "seclevel",1,2\r\n\r\nOK\r\n')],
        [UnknownUrc("+CPIN: READY"), CommandSucceeded(CFG_Q, "OK", ('+QSSLCFG: "seclevel",1,2',))],
    ),
    "powered down during command": (
        [Send(STATE), Rx(b"\r\nPOWERED DOWN\r\n\r\nOK\r\n")],
        [UnknownUrc("POWERED DOWN"), CommandSucceeded(STATE)],
    ),
    "plain vendor urcs during commands that only take +cmd lines": (
        [
            Send(CFG_Q),
            Rx(b'\r\nUNDER_VOLTAGE WARNING\r\n\r\n+QSSLCFG: "seclevel",1,2\r\n\r\nRING\r\n\r\nOK\r\n'),
            Send(STATE),
            Rx(f"\r\n{STATE_LINE}\r\n\r\nRING\r\n\r\nOK\r\n".encode()),
            Send(SEND),
            Rx(b"\r\nRING\r\n\r\n> "),
            Payload(DATA),
            Rx(b"\r\nRING\r\n\r\nSEND OK\r\n"),
        ],
        [
            UnknownUrc("UNDER_VOLTAGE WARNING"),
            UnknownUrc("RING"),
            CommandSucceeded(CFG_Q, "OK", ('+QSSLCFG: "seclevel",1,2',)),
            UnknownUrc("RING"),
            CommandSucceeded(STATE, "OK", (STATE_LINE,)),
            UnknownUrc("RING"),
            PromptReceived(SEND),
            UnknownUrc("RING"),
            CommandSucceeded(SEND, "SEND OK"),
        ],
    ),
    "stray recv header while idle": (
        [Rx(b'\r\n+QSSLRECV: 5\r\nOK\r\n\r\n+QSSLURC: "closed",1\r\n')],
        [UnknownUrc("+QSSLRECV: 5"), SslClosed(1)],
    ),
    # --- echo on (ATE1) --------------------------------------------------
    "echo ate0": (
        [Send(c.SetEcho(False), b"ATE0\r"), Rx(b"ATE0\r\r\nOK\r\n")],
        [CommandSucceeded(c.SetEcho(False))],
    ),
    "echo qsslstate": (
        [Send(STATE), Rx(f"AT+QSSLSTATE\r\r\n{STATE_LINE}\r\n\r\nOK\r\n".encode())],
        [CommandSucceeded(STATE, "OK", (STATE_LINE,))],
    ),
    "echo qsslsend": (
        [Send(SEND), Rx(b"AT+QSSLSEND=4,18\r\r\n> "), Payload(DATA), Rx(b"\r\nSEND OK\r\n")],
        [PromptReceived(SEND), CommandSucceeded(SEND, "SEND OK")],
    ),
    "echo qsslrecv": (
        [Send(RECV), Rx(b"AT+QSSLRECV=4,1500\r\r\n+QSSLRECV: 3\r\nabc\r\n\r\nOK\r\n")],
        [CommandSucceeded(RECV, "OK", ("+QSSLRECV: 3",), b"abc")],
    ),
    "echo at": ([Send(c.Attention(), b"AT\r"), Rx(b"AT\r\r\nOK\r\n")], [CommandSucceeded(c.Attention())]),
    # --- the echo returns after ATE0: the module restarted unseen ----------
    "echo after ate0": (
        [
            Send(c.SetEcho(False)),
            Rx(b"ATE0\r\r\nOK\r\n"),
            Send(STATE),
            Rx(b"\r\nOK\r\n"),
            Send(c.Attention()),
            Rx(b"AT\r\r\nOK\r\n"),
        ],
        [
            CommandSucceeded(c.SetEcho(False)),
            CommandSucceeded(STATE),
            EchoReturned(),
            CommandSucceeded(c.Attention()),
        ],
    ),
    "echo after ate0 reported once": (
        [
            Send(c.SetEcho(False)),
            Rx(b"\r\nOK\r\n"),
            Send(STATE),
            Rx(b"\r\nOK\r\n"),
            Send(STATE),
            Rx(b"AT+QSSLSTATE\r\r\nOK\r\n"),
            Send(c.Attention()),
            Rx(b"AT\r\r\nOK\r\n"),
        ],
        [
            CommandSucceeded(c.SetEcho(False)),
            CommandSucceeded(STATE),
            EchoReturned(),
            CommandSucceeded(STATE),
            CommandSucceeded(c.Attention()),
        ],
    ),
    "echo kept by a module that ignores ate0 is no restart": (
        [
            Send(c.SetEcho(False)),
            Rx(b"ATE0\r\r\nOK\r\n"),
            Send(STATE),
            Rx(b"AT+QSSLSTATE\r\r\nOK\r\n"),
            Send(c.Attention()),
            Rx(b"AT\r\r\nOK\r\n"),
        ],
        [CommandSucceeded(c.SetEcho(False)), CommandSucceeded(STATE), CommandSucceeded(c.Attention())],
    ),
    "echo after rdy is expected": (
        [
            Send(c.SetEcho(False)),
            Rx(b"\r\nOK\r\n"),
            Send(STATE),
            Rx(b"\r\nOK\r\n\r\nRDY\r\n"),
            Send(c.Attention()),
            Rx(b"AT\r\r\nOK\r\n"),
        ],
        [
            CommandSucceeded(c.SetEcho(False)),
            CommandSucceeded(STATE),
            ModemReady(),
            CommandSucceeded(c.Attention()),
        ],
    ),
    "echo after a raw ate1 is expected": (
        [
            Send(c.SetEcho(False)),
            Rx(b"\r\nOK\r\n"),
            Send(STATE),
            Rx(b"\r\nOK\r\n"),
            Send(c.Raw("ATE1V1")),
            Rx(b"\r\nOK\r\n"),
            Send(c.Attention()),
            Rx(b"AT\r\r\nOK\r\n"),
        ],
        [
            CommandSucceeded(c.SetEcho(False)),
            CommandSucceeded(STATE),
            CommandSucceeded(c.Raw("ATE1V1")),
            CommandSucceeded(c.Attention()),
        ],
    ),
    "echo after a raw ate1 spelt with a space or an s-register is expected": (
        [
            Send(c.SetEcho(False)),
            Rx(b"\r\nOK\r\n"),
            Send(STATE),
            Rx(b"\r\nOK\r\n"),
            Send(c.Raw("ATE1 S0=0")),
            Rx(b"\r\nOK\r\n"),
            Send(c.Attention()),
            Rx(b"AT\r\r\nOK\r\n"),
        ],
        [
            CommandSucceeded(c.SetEcho(False)),
            CommandSucceeded(STATE),
            CommandSucceeded(c.Raw("ATE1 S0=0")),
            CommandSucceeded(c.Attention()),
        ],
    ),
    # --- prompt variants -------------------------------------------------
    "prompt without space": (
        [Send(SEND), Rx(b"\r\n>"), Payload(DATA), Rx(b"\r\nSEND OK\r\n")],
        [PromptReceived(SEND), CommandSucceeded(SEND, "SEND OK")],
    ),
    "prompt with crlf": (
        [Send(SEND), Rx(b"\r\n>\r\n"), Payload(DATA), Rx(b"\r\nSEND OK\r\n")],
        [PromptReceived(SEND), CommandSucceeded(SEND, "SEND OK")],
    ),
    "prompt space arrives late": (
        [Send(SEND), Rx(b"\r\n>"), Payload(DATA), Rx(b" \r\nSEND OK\r\n")],
        [PromptReceived(SEND), CommandSucceeded(SEND, "SEND OK")],
    ),
    # --- URC interleaving ------------------------------------------------
    "urc before echo": (
        [Send(STATE), Rx(b'\r\n+QSSLURC: "recv",1\r\nAT+QSSLSTATE\r\r\nOK\r\n')],
        [SslDataAvailable(1), CommandSucceeded(STATE)],
    ),
    "urc between info and ok": (
        [Send(STATE), Rx(f'\r\n{STATE_LINE}\r\n\r\n+QSSLURC: "closed",2\r\n\r\nOK\r\n'.encode())],
        [SslClosed(2), CommandSucceeded(STATE, "OK", (STATE_LINE,))],
    ),
    "urc between ok and qsslopen": (
        [Send(OPEN), Rx(b'\r\nOK\r\n\r\n+QSSLURC: "recv",1\r\n\r\n+QSSLOPEN: 4,566\r\n')],
        [CommandSucceeded(OPEN), SslDataAvailable(1), SslOpened(4, 566)],
    ),
    "urc right after qsslrecv ok": (
        [Send(RECV), Rx(b'\r\n+QSSLRECV: 2\r\nhi\r\n\r\nOK\r\n\r\n+QSSLURC: "closed",4\r\n')],
        [CommandSucceeded(RECV, "OK", ("+QSSLRECV: 2",), b"hi"), SslClosed(4)],
    ),
    "urc between qsslrecv data and ok": (
        [Send(RECV), Rx(b'\r\n+QSSLRECV: 2\r\nhi\r\n\r\n+QSSLURC: "closed",4\r\n\r\nOK\r\n')],
        [SslClosed(4), CommandSucceeded(RECV, "OK", ("+QSSLRECV: 2",), b"hi")],
    ),
    "urcs before the prompt": (
        [
            Send(SEND),
            Rx(b'\r\n+QSSLURC: "recv",4\r\n\r\n+QSSLURC: "recv",1,3\r\nOK\n\r\n+CPIN: READY\r\n\r\n> '),
            Payload(DATA),
            Rx(b"\r\nSEND OK\r\n"),
        ],
        [
            SslDataAvailable(4),
            SslDataPushed(1, b"OK\n"),
            UnknownUrc("+CPIN: READY"),
            PromptReceived(SEND),
            CommandSucceeded(SEND, "SEND OK"),
        ],
    ),
    "push between prompt and send ok": (
        [Send(SEND), Rx(b"\r\n> "), Payload(DATA), Rx(b'\r\n+QSSLURC: "recv",2,2\r\n> \r\nSEND OK\r\n')],
        [PromptReceived(SEND), SslDataPushed(2, b"> "), CommandSucceeded(SEND, "SEND OK")],
    ),
    "urc during qfupl data phase": (
        [Send(UPL), Rx(b'\r\nCONNECT\r\n\r\n+QSSLURC: "closed",3\r\n'), Payload(b"hello"), Rx(b"\r\nOK\r\n")],
        [ConnectReceived(UPL), SslClosed(3), CommandSucceeded(UPL)],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_transcript_split_invariant(name: str) -> None:
    steps, expected = CASES[name]
    assert_split_invariant(steps, expected)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_multi_cut_partitions(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(CASES)))
    steps, expected = CASES[name]
    total = rx_length(steps)
    cuts = data.draw(st.lists(st.integers(1, max(total - 1, 1)), max_size=32))
    assert run(steps, cut_at(cuts)) == list(expected)


def test_payload_echo_consumed_by_count() -> None:
    steps: list[Step] = [
        Send(SEND),
        Rx(b"\r\n> "),
        Payload(b"\r\nOK\r\nSEND FAIL\r\n\r"),
        Rx(b"\r\nOK\r\nSEND FAIL\r\n\r\r\nSEND OK\r\n"),
    ]
    send = c.SslSend(4, 18)
    assert assert_split_invariant(steps, payload_echo=True) == [
        PromptReceived(send),
        CommandSucceeded(send, "SEND OK"),
    ]


def test_payload_echo_after_prompt_without_space() -> None:
    steps: list[Step] = [Send(SEND), Rx(b"\r\n>"), Payload(DATA), Rx(b" \r\n" + DATA + b"\r\nSEND OK\r\n")]
    assert assert_split_invariant(steps, payload_echo=True) == [
        PromptReceived(SEND),
        CommandSucceeded(SEND, "SEND OK"),
    ]


@pytest.mark.parametrize("prompt", [b"\r\n> ", b"\r\n>", b"\r\n>\r\n", b"\r\n> \r\n"])
@pytest.mark.parametrize("payload", [DATA, b"\r\nOK\r\n" + DATA[6:], b" " + DATA[1:], b"\n" + DATA[1:]])
def test_payload_echo_with_prompt_variants(prompt: bytes, payload: bytes) -> None:
    steps: list[Step] = [Send(SEND), Rx(prompt), Payload(payload), Rx(payload + b"\r\nSEND OK\r\n")]
    assert assert_split_invariant(steps, payload_echo=True) == [
        PromptReceived(SEND),
        CommandSucceeded(SEND, "SEND OK"),
    ]


@pytest.mark.parametrize(
    ("line", "echo"),
    [
        ("ATE0", False),
        ("ATE1", True),
        ("ATE", True),
        ("ate1v1", True),
        ("ATV1E0", False),
        ("ATZ", True),
        ("AT&F0", True),
        ("ATE1;+CMEE=1", True),
        ("AT", None),
        ("ATI", None),
        ("AT&D1", None),
        ("AT+QISDE=0", None),
        ('AT+QSSLCFG="sni",0,1', None),
        ("ATS3=13", None),
        ("ATE1 V1", True),
        ("AT E0", False),
        ("ATE1S0=0", True),
        ("ATS0=0E0", False),
        ("ATE1\\Q3", True),
        ("AT+CMEE=1;E1", True),
        ("ATE1;+CMEE=1;E0", False),
        ('AT+QICSGP=1,1,"E1"', None),
        ("ATE01", True),  # leading zeros are ignored (V.250 5.4.2.1)
        ("ATE00", False),
        ("AT&F00", True),
    ],
)
def test_which_command_lines_set_the_echo(line: str, echo: bool | None) -> None:
    assert echo_after(line) is echo
