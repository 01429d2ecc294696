"""Command encoders, input validation and the information-line parsers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from quectel_aio import _commands as c
from quectel_aio._errors import LocalProtocolError, RemoteProtocolError
from quectel_aio._raw_command import check_resource_uses, resource_uses

ENCODINGS: list[tuple[c.Command, bytes]] = [
    (c.Raw("ATI"), b"ATI\r"),
    (c.Raw("at+qsslstate=1"), b"at+qsslstate=1\r"),
    (c.Attention(), b"AT\r"),
    (c.SetEcho(False), b"ATE0\r"),
    (c.SetEcho(True), b"ATE1\r"),
    (c.SetErrorFormat(2), b"AT+CMEE=2\r"),
    (c.QueryError(), b"AT+QIGETERROR\r"),
    (c.ConfigurePdp(1, "UNINET"), b'AT+QICSGP=1,1,"UNINET","","",0\r'),
    (c.ConfigurePdp(7, "", "u", "p@ss", 2, 3), b'AT+QICSGP=7,3,"","u","p@ss",2\r'),
    (c.ActivatePdp(1), b"AT+QIACT=1\r"),
    (c.QueryPdp(), b"AT+QIACT?\r"),
    (c.DeactivatePdp(2), b"AT+QIDEACT=2\r"),
    (c.SslConfigure("sslversion", 1, 3), b'AT+QSSLCFG="sslversion",1,3\r'),
    (c.SslConfigure("ciphersuite", 0, 0xC02F), b'AT+QSSLCFG="ciphersuite",0,0XC02F\r'),
    (c.SslConfigure("ciphersuite", 0, 0x35), b'AT+QSSLCFG="ciphersuite",0,0X0035\r'),
    (c.SslConfigure("cacert", 1, "UFS:cacert.pem"), b'AT+QSSLCFG="cacert",1,"UFS:cacert.pem"\r'),
    (c.SslConfigure("seclevel", 5), b'AT+QSSLCFG="seclevel",5\r'),
    (c.SslConfigure("negotiatetime", 2, 10), b'AT+QSSLCFG="negotiatetime",2,10\r'),
    (c.SslConfigure("ignorecertitem", 2, 1048575), b'AT+QSSLCFG="ignorecertitem",2,1048575\r'),
    (c.SslConfigure("session_cache", 2, 1), b'AT+QSSLCFG="session_cache",2,1\r'),
    (c.SslOpen(1, 1, 4, "220.180.239.212", 8010), b'AT+QSSLOPEN=1,1,4,"220.180.239.212",8010,0\r'),
    (c.SslOpen(1, 0, 11, "example.com", 443, 1), b'AT+QSSLOPEN=1,0,11,"example.com",443,1\r'),
    (c.SslOpen(1, 0, 0, "bücher.example", 443), b'AT+QSSLOPEN=1,0,0,"xn--bcher-kva.example",443,0\r'),
    (c.SslSend(4, 18), b"AT+QSSLSEND=4,18\r"),
    (c.SslSend(0, 1460), b"AT+QSSLSEND=0,1460\r"),
    (c.SslRecv(4, 1500), b"AT+QSSLRECV=4,1500\r"),
    (c.SslRecvQuery(4), b"AT+QSSLRECV=4,0\r"),
    (c.SslClose(4), b"AT+QSSLCLOSE=4,10\r"),
    (c.SslClose(4, 0), b"AT+QSSLCLOSE=4,0\r"),
    (c.SslState(), b"AT+QSSLSTATE\r"),
    (c.SslState(3), b"AT+QSSLSTATE=3\r"),
    (c.SwitchAccessMode(4, 1), b"AT+QISWTMD=4,1\r"),
    (c.FileUpload("cacert.pem", 1939, 60), b'AT+QFUPL="cacert.pem",1939,60,0\r'),
    (c.FileList(), b'AT+QFLST="*"\r'),
    (c.FileList("UFS:a.pem"), b'AT+QFLST="UFS:a.pem"\r'),
    (c.FileDelete("UFS:a.pem"), b'AT+QFDEL="UFS:a.pem"\r'),
    (c.FileSpace(), b'AT+QFLDS="UFS"\r'),
    (c.SetClock("24/02/29,23:59:59+32"), b'AT+CCLK="24/02/29,23:59:59+32"\r'),
    (c.SetClock("24/01/01,00:00:00-08"), b'AT+CCLK="24/01/01,00:00:00-08"\r'),
    (c.QueryClock(), b"AT+CCLK?\r"),
]


@pytest.mark.parametrize(("command", "wire"), ENCODINGS, ids=lambda v: repr(v)[:40])
def test_encoding(command: c.Command, wire: bytes) -> None:
    assert command.encode() == wire
    assert wire.startswith(command.at_name.encode()) or isinstance(command, c.Raw)
    assert command.timeout > 0


def test_timeouts_and_metadata() -> None:
    assert c.SslOpen(1, 1, 4, "h", 1, negotiate_time=60).timeout == 210
    assert c.SslOpen(1, 1, 4, "h", 1).timeout == 450
    assert c.ActivatePdp(1).timeout == 150
    assert c.DeactivatePdp(1).timeout == 40
    assert c.SslClose(1, 0).timeout == 0.3
    assert c.SslClose(1, 30).timeout == 30
    assert c.SslSend(1, 1).timeout == 0.3
    assert c.Attention().timeout == 0.3
    assert c.Raw("AT", 2.5).timeout == 2.5
    assert c.SslSend.expects_prompt
    assert not c.SslRecv.expects_prompt
    assert c.FileUpload.expects_connect
    assert not c.SslOpen.expects_connect
    assert c.Raw.accepts_any_line
    assert not c.SslState.accepts_any_line
    assert c.SslState.info_prefixes == ("+QSSLSTATE",)
    assert c.SslRecv.info_prefixes == ("+QSSLRECV",)


def test_password_not_in_repr() -> None:
    assert "s3cret" not in repr(c.ConfigurePdp(1, "apn", "user", "s3cret"))


INJECTIONS = ['a"b', "a,b", "a;b", "a\rb", "a\nb", "a\x1ab", "a\x1bb", "a\x00b", "aé", "a\\b", "a\tb"]


@pytest.mark.parametrize("bad", INJECTIONS, ids=repr)
def test_string_injection_rejected(bad: str) -> None:
    makers: list[Callable[[], object]] = [
        lambda: c.ConfigurePdp(1, bad),
        lambda: c.ConfigurePdp(1, "apn", bad),
        lambda: c.ConfigurePdp(1, "apn", "u", bad),
        lambda: c.SslConfigure("cacert", 1, bad),
        lambda: c.FileUpload(bad, 10),
        lambda: c.FileList(bad),
        lambda: c.FileDelete(bad),
        lambda: c.SetClock(bad),
        lambda: c.SslConfigure(bad, 1),
    ]
    if bad.isascii():  # non-ASCII host names are IDNA-encoded instead
        makers.append(lambda: c.SslOpen(1, 1, 1, bad, 443))
    for make in makers:
        with pytest.raises(LocalProtocolError):
            make()


@pytest.mark.parametrize(
    "bad", ["AT\r", "AT\n", "ATI\x1a", "AT\x1b", "AT\x00", "ATé", "ATI\x7f", "I", "", "+QSSL"]
)
def test_raw_rejects(bad: str) -> None:
    with pytest.raises(LocalProtocolError):
        c.Raw(bad)


@pytest.mark.parametrize("timeout", [0, -1, True, "5", float("nan"), float("inf")])
def test_raw_rejects_bad_timeout(timeout: object) -> None:
    with pytest.raises(LocalProtocolError):
        c.Raw("AT", timeout)  # type: ignore[arg-type]


def test_over_length_strings_rejected() -> None:
    with pytest.raises(LocalProtocolError):
        c.ConfigurePdp(1, "a" * 128)
    c.ConfigurePdp(1, "a" * 127)
    with pytest.raises(LocalProtocolError):
        c.SslOpen(1, 1, 1, "a" * 64 + ".com", 443)
    with pytest.raises(LocalProtocolError):
        c.FileDelete("a" * 81)
    with pytest.raises(LocalProtocolError):
        c.FileDelete("UFS:../x")


@pytest.mark.parametrize(
    "make",
    [
        lambda: c.SslSend(True, 1),
        lambda: c.SslSend(1, True),
        lambda: c.SslRecv(False, 10),
        lambda: c.ActivatePdp(True),
        lambda: c.SslConfigure("sni", 1, True),
        lambda: c.SslConfigure("sni", True, 1),
        lambda: c.SslOpen(1, 1, 1, "h", 443, True),
        lambda: c.SetErrorFormat(True),
        lambda: c.SetEcho(1),  # type: ignore[arg-type]
        lambda: c.SslState(True),
        lambda: c.SslSend(1.0, 1),  # type: ignore[arg-type]
        lambda: c.SslSend("1", 1),  # type: ignore[arg-type]
    ],
)
def test_bool_and_wrong_types_rejected(make: object) -> None:
    with pytest.raises(LocalProtocolError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "make",
    [
        lambda: c.SslSend(12, 1),
        lambda: c.SslSend(-1, 1),
        lambda: c.SslSend(0, 0),
        lambda: c.SslSend(0, 1461),
        lambda: c.SslRecv(0, 0),
        lambda: c.SslRecv(0, 1501),
        lambda: c.SslRecvQuery(12),
        lambda: c.SslClose(0, 65536),
        lambda: c.SslClose(0, -1),
        lambda: c.SslState(12),
        lambda: c.ActivatePdp(0),
        lambda: c.ActivatePdp(8),
        lambda: c.DeactivatePdp(8),
        lambda: c.ConfigurePdp(1, "a", authentication=3),
        lambda: c.ConfigurePdp(1, "a", context_type=0),
        lambda: c.SslOpen(0, 1, 1, "h", 443),
        lambda: c.SslOpen(1, 6, 1, "h", 443),
        lambda: c.SslOpen(1, 1, 12, "h", 443),
        lambda: c.SslOpen(1, 1, 1, "h", 0),
        lambda: c.SslOpen(1, 1, 1, "h", 65536),
        lambda: c.SslOpen(1, 1, 1, "h", 443, 3),
        lambda: c.SslOpen(1, 1, 1, "h", 443, 0, 9),
        lambda: c.SslOpen(1, 1, 1, "h", 443, 0, 301),
        lambda: c.SslConfigure("sslversion", 1, 5),
        lambda: c.SslConfigure("seclevel", 1, 3),
        lambda: c.SslConfigure("seclevel", 6),
        lambda: c.SslConfigure("negotiatetime", 1, 9),
        lambda: c.SslConfigure("ignorecertitem", 1, 1048576),
        lambda: c.SslConfigure("ciphersuite", 1, 0x10000),
        lambda: c.SslConfigure("ciphersuite", 1, "0XFFFF"),
        lambda: c.SslConfigure("sni", 1, 2),
        lambda: c.SslConfigure("sni", 1, "1"),
        lambda: c.SslConfigure("cacert", 1, 5),
        lambda: c.SslConfigure("cacertex", 1, "x"),
        lambda: c.SetErrorFormat(3),
        lambda: c.SwitchAccessMode(1, 3),
        lambda: c.FileUpload("a", 0),
        lambda: c.FileUpload("a", 10_000_001),
        lambda: c.FileUpload("a", 1, 0),
        lambda: c.FileUpload("a", 1, 5, 2),
        lambda: c.SetClock("24/13/01,00:00:00+00"),
        lambda: c.SetClock("24/01/32,00:00:00+00"),
        lambda: c.SetClock("24/01/01,24:00:00+00"),
        lambda: c.SetClock("24/01/01,00:00:00+97"),
        lambda: c.SetClock("24/01/01 00:00:00+00"),
        lambda: c.SetClock("24/01/01,00:00:00"),
        lambda: c.SetClock("\uff124/01/01,00:00:00+00"),
    ],
)
def test_out_of_range_rejected(make: object) -> None:
    with pytest.raises(LocalProtocolError):
        make()  # type: ignore[operator]


def test_commands_are_frozen_and_hashable() -> None:
    command = c.SslSend(1, 10)
    with pytest.raises(AttributeError):
        command.length = 5  # type: ignore[misc]
    assert hash(command) == hash(c.SslSend(1, 10))
    assert isinstance(command, c.Command)


# ---------------------------------------------------------------------------
# Parse helpers
# ---------------------------------------------------------------------------


def test_parse_ssl_state_line() -> None:
    info = c.parse_ssl_state_line(
        '+QSSLSTATE: 4,"SSLClient","220.180.239.212",8010,65344,2,1,4,0,"usbmodem",1'
    )
    assert info == c.SslStateInfo(4, "SSLClient", "220.180.239.212", 8010, 65344, 2, 1, 4, 0, "usbmodem", 1)


def test_parse_pdp_line() -> None:
    assert c.parse_pdp_line('+QIACT: 1,1,1,"10.7.157.1"') == c.PdpInfo(1, 1, 1, ("10.7.157.1",))
    info = c.parse_pdp_line('+QIACT: 1,1,3,"10.171.134.243","240E:459:40D:A39::1"')
    assert info.addresses == ("10.171.134.243", "240E:459:40D:A39::1")
    assert c.parse_pdp_line("+QIACT: 2,0,1").addresses == ()


def test_parse_small_lines() -> None:
    assert c.parse_qfupl_line("+QFUPL: 1939,4f64") == (1939, 0x4F64)
    assert c.parse_qfupl_line("+QFUPL: 5,0") == (5, 0)
    assert c.parse_qiget_error("+QIGETERROR: 552, invalid parameters") == (552, "invalid parameters")
    assert c.parse_qiget_error("+QIGETERROR: 0,operate successfully") == (0, "operate successfully")
    assert c.parse_qiget_error("+QIGETERROR: 579") == (579, "")
    assert c.parse_recv_query("+QSSLRECV: 36,18,18") == (36, 18, 18)
    assert c.parse_file_list_line('+QFLST: "UFS:isrgx1.pem",1939') == ("UFS:isrgx1.pem", 1939)
    assert c.parse_file_space_line("+QFLDS: 180224,286720") == (180224, 286720)
    assert c.parse_cfg_line('+QSSLCFG: "seclevel",1,2') == ("seclevel", 1, 2)
    assert c.parse_cfg_line('+QSSLCFG: "ciphersuite",1,0XFFFF') == ("ciphersuite", 1, 0xFFFF)
    assert c.parse_cfg_line('+QSSLCFG: "ciphersuite",1,0xc02f') == ("ciphersuite", 1, 0xC02F)
    assert c.parse_cfg_line('+QSSLCFG: "cacert",1,"UFS:ca.pem"') == ("cacert", 1, "UFS:ca.pem")
    assert c.parse_clock_line('+CCLK: "26/08/07,13:54:02+32"') == "26/08/07,13:54:02+32"


@pytest.mark.parametrize(
    ("parse", "line"),
    [
        (c.parse_ssl_state_line, '+QSSLSTATE: 4,"SSLClient"'),
        (c.parse_ssl_state_line, '+QSSLSTAT: 4,"SSLClient","a",1,2,2,1,4,0,"usbmodem",1'),
        (c.parse_ssl_state_line, '+QSSLSTATE: x,"SSLClient","a",1,2,2,1,4,0,"usbmodem",1'),
        (c.parse_pdp_line, "+QIACT: 1,1"),
        (c.parse_pdp_line, '+QIACT: 1,1,"x"'),
        (c.parse_qfupl_line, "+QFUPL: 5"),
        (c.parse_qfupl_line, "+QFUPL: 5,zz"),
        (c.parse_qfupl_line, "+QFUPL: x,00"),
        (c.parse_qiget_error, "+QIGETERROR: x"),
        (c.parse_qiget_error, "+QIGETERRO: 1,x"),
        (c.parse_recv_query, "+QSSLRECV: 18"),
        (c.parse_recv_query, "+QSSLRECV: 1,2,x"),
        (c.parse_file_list_line, '+QFLST: "a"'),
        (c.parse_file_list_line, '+QFLST: "a",x'),
        (c.parse_file_space_line, "+QFLDS: 1"),
        (c.parse_cfg_line, "+QSSLCFG: 1,1,1"),
        (c.parse_cfg_line, '+QSSLCFG: "sni",x,1'),
        (c.parse_cfg_line, '+QSSLCFG: "sni,1,1'),
        (c.parse_clock_line, "+CCLK: 26/08/07"),
        (c.parse_clock_line, '+CCL: "x"'),
    ],
)
def test_parse_malformed(parse: object, line: str) -> None:
    with pytest.raises(RemoteProtocolError):
        parse(line)  # type: ignore[operator]


@pytest.mark.parametrize(
    "line",
    [
        "ATO",
        "ato0",
        "AT+QISWTMD=1,2",
        "AT+QSSLSEND=1,10",
        'AT+QFUPL="a.pem",10',
        'AT+QSSLOPEN=1,0,1,"a.test",443,2',
        "ATD*99#",
        # Every command of a concatenated line counts, not only the first.
        'AT;+QFUPL="a.pem",10',
        "ATE0;+QSSLSEND=1,10",
        "ate0;+qisend=0,5",
        'AT+CSQ;+QSSLOPEN=1,0,1,"a.test",443,2',
        "AT+CSQ;+QISWTMD=1,2",
        "ATE0O",
        "ATE0 O",
        "ATS0=0O0",
        "AT+CSQ;D*99#",
        "ATE0D*99#",
        "AT\\Q3O",
        'AT%Q0;+QFUPL="a.pem",10',
        "ATA",
        # Other spellings of access mode 2.
        'AT+QSSLOPEN=1,0,1,"a.test",443,02',
        'AT+QSSLOPEN=1,0,1,"a.test",443, 2',
        # A quoted number, which the resource checks read as that number too.
        'AT+QSSLOPEN=1,0,1,"a.test",443,"2"',
        'AT+QISWTMD=1,"2"',
        'AT+QIOPEN=1,0,"TCP","a.test",80,0,"02"',
        # A download's raw bytes are not lines.
        'AT+QFDWL="UFS:key.pem"',
        'AT+CSQ;+QFDWL="UFS:key.pem"',
        # Result codes the parser would no longer see.
        "ATV0",
        "ATE0V0",
        "ATQ1",
        "ATS3=10",
        "AT+CSQ;S4=13",
        # The same with leading zeros (ignored in numeric constants, V.250 5.4.2.1),
        # or with the value left out (taken as 0, as AT&D is).
        "ATV00",
        "ATV",
        "ATE0V",
        "ATQ01",
        "ATS03=10",
        "ATS004=13",
        "ATO00",
        "ATO1",
        "ATA0",
        # Other data phases of the module's stacks: a prompt or CONNECT the core
        # does not answer, so later command lines would become their data.
        'AT+CMGS="+15550100"',
        "AT+CMGW",
        "AT+QFWRITE=1,10",
        "AT+QHTTPURL=20,80",
        "AT+QHTTPPOST=10,60,60",
        "AT+QHTTPPUT=10",
        'AT+QMTPUB=0,0,0,0,"topic"',
        'AT+QMTPUBEX=0,0,0,0,"topic",5',
        # Raw bytes the core would read as lines (a TCP peer could forge URCs).
        "AT+QFREAD=1,100",
        "AT+QHTTPREAD=80",
        "AT+QIRD=0,1500",
        "AT+QIRD=0",
    ],
)
def test_raw_refuses_lines_that_open_a_data_phase(line: str) -> None:
    with pytest.raises(LocalProtocolError, match="Modem API"):
        c.Raw(line)


@pytest.mark.parametrize(
    "line",
    [
        "AT+IPR=921600;&W",
        'AT+QICSGP=1,1,"a;b",""',
        'AT+QSSLOPEN=1,0,1,"a.test",443,12',
        "ATE0Q0V1",
        "ATS3?",
        "ATS0=0",
        "AT$QCRMCALL=1,1",
        "AT^SYSINFO",
        "AT+CSQ;+CREG?",
        # Test commands and length queries start nothing.
        "AT+QSSLSEND=?",
        "AT+QFUPL=?",
        "AT+CMGS=?",
        "AT+QIRD=0,0",
        'AT+QHTTPPOSTFILE="UFS:body.txt"',
    ],
)
def test_raw_allows_concatenated_commands_without_a_data_phase(line: str) -> None:
    assert c.Raw(line).encode() == line.encode() + b"\r"


def test_raw_allows_buffer_mode_open_and_queries() -> None:
    assert c.Raw('AT+QSSLOPEN=1,0,1,"a.test",443,0').encode().endswith(b",0\r")
    assert c.Raw("AT+QISWTMD=?").encode() == b"AT+QISWTMD=?\r"


@pytest.mark.parametrize(
    "line",
    [
        'AT+CSQ";+QFUPL="a.pem",10',
        # A parser that knows quotes only in parameters would see a QFUPL here.
        'AT+CSQ"x;+QFUPL="a.pem",10"',
        'AT+QICSGP=1,1,"a"b;+QFUPL="a.pem",10',
        'AT+QICSGP=1,1,"a;+QFUPL=1',
    ],
)
def test_raw_refuses_quotes_that_parsers_could_read_differently(line: str) -> None:
    with pytest.raises(LocalProtocolError, match="quote outside a parameter"):
        c.Raw(line)


@pytest.mark.parametrize(
    "line",
    [
        'AT+QICSGP=1,1,"internet","user","pass;word",1',
        'AT+QICSGP=1,1,"apn;data","",""',
        'AT+QICSGP=1,1,"a;+QFUPL=1",""',
        'AT+QURCCFG="urcport", "uart1" ;+CSQ',
    ],
)
def test_raw_allows_a_semicolon_inside_a_quoted_parameter(line: str) -> None:
    assert c.Raw(line).encode() == line.encode() + b"\r"


@pytest.mark.parametrize(
    ("line", "uses"),
    [
        ("AT+QSSLRECV=2,1500", [("client", 2, "AT+QSSLRECV")]),
        ("at+qsslrecv=2", [("client", 2, "AT+QSSLRECV")]),
        ('AT+QSSLRECV="2",5', [("client", 2, "AT+QSSLRECV")]),
        ("AT+QSSLRECV=2,0", []),
        ("AT+QSSLRECV=2,000", []),
        ("AT+QSSLRECV=?", []),
        ("AT+CSQ;+QSSLCLOSE=3,10", [("client", 3, "AT+QSSLCLOSE")]),
        ("AT+QISWTMD=4,1", [("client", 4, "AT+QISWTMD")]),
        ("AT+QSSLCLOSE=x", [("client", None, "AT+QSSLCLOSE")]),
        ('AT+QSSLOPEN=1,5,11,"a.test",443,0', [("open", 11, "AT+QSSLOPEN")]),
        ('AT+QSSLCFG="seclevel",1,0', [("ssl_context", 1, "AT+QSSLCFG")]),
        ('AT+QSSLCFG="cacert",1,"UFS:a,b.pem"', [("ssl_context", 1, "AT+QSSLCFG")]),
        ('AT+QSSLCFG="seclevel",1', []),
        ('AT+QSSLCFG="cacert",1;+QSSLSTATE', []),
        ("AT+QIDEACT=1", [("pdp", 1, "AT+QIDEACT")]),
        ("AT+QIDEACTEX=2", [("pdp", 2, "AT+QIDEACTEX")]),
        ("AT+CGACT=0,1,3", [("pdp", 1, "AT+CGACT"), ("pdp", 3, "AT+CGACT")]),
        ("AT+CGACT=0", [("pdp", None, "AT+CGACT")]),
        ("AT+CGACT=1,1", []),
        ("AT+IFC=2,2", [("flow_control", 2, "AT+IFC")]),
        ("AT+IFC=2,0;+IFC?", [("flow_control", None, "AT+IFC")]),
        ('AT+QICSGP=1,1,"a;+QSSLCLOSE=0","",""', []),
        ("AT+QIACT?;+QSSLSTATE=1", []),
        ("AT+CFUN=0", [("every_pdp", None, "AT+CFUN")]),
        ("AT+CFUN=4", [("every_pdp", None, "AT+CFUN")]),
        ("AT+CFUN=1;+CFUN=1,1;+CFUN?", []),
        ("AT+CGATT=0", [("every_pdp", None, "AT+CGATT")]),
        ("AT+CGATT=1;+CGATT?", []),
    ],
)
def test_raw_names_the_resources_its_commands_act_on(
    line: str, uses: list[tuple[str, int | None, str]]
) -> None:
    found = resource_uses(line)
    assert [(use.kind, use.ident, use.name) for use in found] == uses


def _check(
    line: str, *, payload_echo: bool = False, dtr_escape: bool = False, hardware_flow_control: bool = False
) -> None:
    check_resource_uses(
        resource_uses(line),
        client_ids={0},
        pdp_contexts={1},
        ssl_context_in_use=lambda ctx: ctx in (None, 0),
        payload_echo=payload_echo,
        dtr_escape=dtr_escape,
        hardware_flow_control=hardware_flow_control,
    )


@pytest.mark.parametrize(
    ("line", "options", "match"),
    [
        ("AT+QISDE=1", {}, "payload echo"),
        ("AT+QISDE=0", {"payload_echo": True}, "payload echo"),
        ("AT&D2", {"dtr_escape": True}, "DTR"),
        ("ATE0&D0", {"dtr_escape": True}, "DTR"),
        ("AT&D", {"dtr_escape": True}, "DTR"),
        ("AT+IFC=0,0", {"hardware_flow_control": True}, "RTS/CTS"),
        ("AT+CSQ;+IFC=2,0", {"hardware_flow_control": True}, "RTS/CTS"),
        ("AT+IFC=2", {"hardware_flow_control": True}, "RTS/CTS"),
        # Factory settings and a stored profile reset DTR and flow control too.
        ("AT&F", {"dtr_escape": True}, "DTR"),
        ("ATE1&F0", {"dtr_escape": True}, "DTR"),
        ("ATZ", {"dtr_escape": True}, "DTR"),
        ("AT&F", {"hardware_flow_control": True}, "RTS/CTS"),
        ("at z", {"hardware_flow_control": True}, "RTS/CTS"),
        ("AT+CSQ;&F", {"hardware_flow_control": True}, "RTS/CTS"),
        ("AT+QSSLRECV=0,10", {}, "client ID 0"),
        ('AT+QSSLCFG="sni",x,1', {}, "unspecified SSL context"),  # an unreadable context counts as any
        ("AT+CFUN=4", {}, "every PDP context"),  # the radio off
        ("AT+CSQ;+CGATT=0", {}, "every PDP context"),  # the packet service detached
    ],
)
def test_raw_lines_on_what_the_modem_manages_are_refused(
    line: str, options: dict[str, bool], match: str
) -> None:
    with pytest.raises(LocalProtocolError, match=match):
        _check(line, **options)


@pytest.mark.parametrize(
    ("line", "options"),
    [
        ("AT+QISDE=0", {}),
        ("AT+QISDE=1", {"payload_echo": True}),
        ("AT+QISDE?;+QISDE=?", {}),
        ("AT&D1", {"dtr_escape": True}),
        ("AT&D2", {}),
        ("AT+IFC=2,2;+IFC?;+IFC=?", {"hardware_flow_control": True}),
        ("AT+IFC=0,0", {}),
        ("AT&F;Z", {}),
        ("AT+QSSLRECV=1,10;+QSSLCLOSE=1;+QISWTMD=1,0", {}),
        ("AT+QSSLRECV=0,0;+QSSLSTATE=0", {}),
        ('AT+QSSLCFG="seclevel",1,0;+QSSLCFG="seclevel",0', {}),
        ("AT+QIDEACT=2;+CGACT=0,3", {}),
    ],
)
def test_raw_lines_on_what_the_modem_does_not_manage_are_allowed(line: str, options: dict[str, bool]) -> None:
    _check(line, **options)


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("AT", "AT"),
        ("ATI", "ATI"),
        ("at+csq", "AT+CSQ"),
        ("AT+CPIN?", "AT+CPIN?"),
        ('AT+QSSLCFG="seclevel",1,9', "AT+QSSLCFG"),
        ('AT+QICSGP=1,1,"apn","user","secret;pass",1', "AT+QICSGP"),
        ("ATE0;+CMEE=2", "ATE0;+CMEE"),
        ("AT+QSSLCFG=?", "AT+QSSLCFG"),
        # Without its "=" (a typo the module answers with ERROR) the name still stops before the parameters.
        ('AT+QICSGP 1,1,"apn","user","secret",1', "AT+QICSGP1"),
        ('AT+CSQ;+QICSGP:1,"apn","user","secret"', "AT+CSQ;+QICSGP:1"),
    ],
)
def test_a_raw_line_is_named_by_its_commands_without_their_parameters(line: str, name: str) -> None:
    assert c.Raw(line).label == name


def test_the_radio_may_go_down_while_no_socket_is_open() -> None:
    check_resource_uses(
        resource_uses("AT+CFUN=0;+CGATT=0"),
        client_ids=set(),
        pdp_contexts=set(),
        ssl_context_in_use=lambda ctx: False,
        payload_echo=False,
        dtr_escape=False,
    )
