"""The emulator's one-step parse of two-number write commands equals the general parser."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from quectel_aio._grammar import parse_command_line
from quectel_aio.testing._command_line import parse_command

_NAMES = st.sampled_from(["+QSSLRECV", "+QSSLSEND", "+QISWTMD", "+QSSLCLOSE", "+qsslrecv", "+Q1"])
_NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=99999).map(str), st.sampled_from(["00", "007", "", "-1"])
)


@given(_NAMES, _NUMBERS, _NUMBERS)
def test_two_number_commands_parse_as_the_general_parser_does(name: str, first: str, second: str) -> None:
    text = f"AT{name}={first},{second}"
    try:
        expected = parse_command_line(text)
    except Exception as exc:  # the general parser refuses: so must the emulator
        try:
            parse_command(text[2:])
        except type(exc):
            return
        raise AssertionError(f"{text!r} parsed by the fast path only") from None
    assert parse_command(text[2:]) == expected
