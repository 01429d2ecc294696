"""The six SSL contexts of the module and the ``AT+QSSLCFG`` command.

Items, ranges and defaults follow the SSL Application Note §2.2.1. Values are
stored exactly as the host wrote them (paths keep their ``UFS:`` prefix) so a
query answers with what was set.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .._grammar import MAX_SSL_CONTEXT_ID, CommandKind, ParsedCommand

__all__ = [
    "CIPHER_SUITES",
    "ITEMS",
    "SslContextSettings",
    "check_settings",
    "factory_contexts",
    "handle_qsslcfg",
]

#: Table 3 of the SSL Application Note: code -> OpenSSL name.
CIPHER_SUITES: dict[int, str] = {
    0x0035: "AES256-SHA",
    0x002F: "AES128-SHA",
    0x0005: "RC4-SHA",
    0x0004: "RC4-MD5",
    0x000A: "DES-CBC3-SHA",
    0x003D: "AES256-SHA256",
    0xC002: "ECDH-ECDSA-RC4-SHA",
    0xC003: "ECDH-ECDSA-DES-CBC3-SHA",
    0xC004: "ECDH-ECDSA-AES128-SHA",
    0xC005: "ECDH-ECDSA-AES256-SHA",
    0xC007: "ECDHE-ECDSA-RC4-SHA",
    0xC008: "ECDHE-ECDSA-DES-CBC3-SHA",
    0xC009: "ECDHE-ECDSA-AES128-SHA",
    0xC00A: "ECDHE-ECDSA-AES256-SHA",
    0xC011: "ECDHE-RSA-RC4-SHA",
    0xC012: "ECDHE-RSA-DES-CBC3-SHA",
    0xC013: "ECDHE-RSA-AES128-SHA",
    0xC014: "ECDHE-RSA-AES256-SHA",
    0xC00C: "ECDH-RSA-RC4-SHA",
    0xC00D: "ECDH-RSA-DES-CBC3-SHA",
    0xC00E: "ECDH-RSA-AES128-SHA",
    0xC00F: "ECDH-RSA-AES256-SHA",
    0xC023: "ECDHE-ECDSA-AES128-SHA256",
    0xC024: "ECDHE-ECDSA-AES256-SHA384",
    0xC025: "ECDH-ECDSA-AES128-SHA256",
    0xC026: "ECDH-ECDSA-AES256-SHA384",
    0xC027: "ECDHE-RSA-AES128-SHA256",
    0xC028: "ECDHE-RSA-AES256-SHA384",
    0xC029: "ECDH-RSA-AES128-SHA256",
    0xC02A: "ECDH-RSA-AES256-SHA384",
    0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
    0xC030: "ECDHE-RSA-AES256-GCM-SHA384",
}
ALL_CIPHERS = 0xFFFF


@dataclass(frozen=True, slots=True)
class SslContextSettings:
    """The settings of one SSL context (factory defaults as defaults).

    ``cacert``/``clientcert``/``clientkey`` are ``""`` until set.
    """

    sslversion: int = 4
    dtls: int = 0
    dtlsversion: int = 0
    ciphersuite: int = ALL_CIPHERS
    seclevel: int = 0
    cacert: str = ""
    clientcert: str = ""
    clientkey: str = ""
    sni: int = 0
    ignorelocaltime: int = 1
    negotiatetime: int = 300
    ignoreinvalidcertsign: int = 0
    ignorecertitem: int = 0
    ignoremulticertchainverify: int = 0
    session_cache: int = 0


def factory_contexts(defaults: SslContextSettings | None = None) -> dict[int, SslContextSettings]:
    """Return the six contexts at factory defaults (``defaults``, or the note's)."""
    settings = defaults if defaults is not None else SslContextSettings()
    return dict.fromkeys(range(MAX_SSL_CONTEXT_ID + 1), settings)


# item -> (kind, low, high, test-form range text)
_INT = "int"
_PATH = "path"
_HEX = "hex"
ITEMS: dict[str, tuple[str, int, int, str]] = {
    "sslversion": (_INT, 0, 4, "(0-4)"),
    "dtls": (_INT, 0, 1, "(0,1)"),
    "ciphersuite": (_HEX, 0, 0xFFFF, ""),
    "seclevel": (_INT, 0, 2, "(0-2)"),
    "cacert": (_PATH, 0, 0, "<cacertpath>"),
    "clientcert": (_PATH, 0, 0, "<client_cert_path>"),
    "clientkey": (_PATH, 0, 0, "<client_key_path>"),
    "sni": (_INT, 0, 1, "(0,1)"),
    "ignorelocaltime": (_INT, 0, 1, "(0,1)"),
    "negotiatetime": (_INT, 10, 300, "(10-300)"),
    "ignoreinvalidcertsign": (_INT, 0, 1, "(0,1)"),
    "ignorecertitem": (_INT, 0, 0xFFFFF, "(0-1048575)"),
    "ignoremulticertchainverify": (_INT, 0, 1, "(0,1)"),
    "session_cache": (_INT, 0, 1, "(0,1)"),
    "dtlsversion": (_INT, 0, 1, "(0,1)"),
}

_CTX_RANGE = f"(0-{MAX_SSL_CONTEXT_ID})"
_MAX_PATH = 80 + len("UFS:")


def _test_response() -> list[str]:
    lines = []
    for item, (kind, _lo, _hi, text) in ITEMS.items():
        if kind == _HEX:
            text = "(" + ",".join(f"0X{c:04X}" for c in [*CIPHER_SUITES, ALL_CIPHERS]) + ")"
        lines.append(f'+QSSLCFG: "{item}",{_CTX_RANGE},{text}')
    return lines


def _format_value(kind: str, value: int | str) -> str:
    if kind == _PATH:
        return f'"{value}"'
    if kind == _HEX:
        return f"0X{int(value):04X}"
    return str(value)


def _parse_hex(raw: str | int) -> int | None:
    if not isinstance(raw, str) or raw[:2] not in ("0X", "0x") or len(raw) < 3:
        return None
    try:
        value = int(raw[2:], 16)
    except ValueError:
        return None
    if value != ALL_CIPHERS and value not in CIPHER_SUITES:
        return None
    return value


def _valid_path(raw: str | int) -> bool:
    if not isinstance(raw, str) or len(raw) > _MAX_PATH:
        return False
    return all(0x20 <= ord(c) <= 0x7E and c not in '"\\,;' for c in raw)


def handle_qsslcfg(
    contexts: dict[int, SslContextSettings], cmd: ParsedCommand
) -> tuple[list[str] | None, bool]:
    """Execute ``AT+QSSLCFG``.

    Returns:
        ``(info_lines, ok)``: information lines to print before ``OK`` (``None``
        for none) and whether the command succeeded (``False`` -> ``ERROR``).
    """
    if cmd.kind is CommandKind.TEST:
        return _test_response(), True
    if cmd.kind is not CommandKind.WRITE or len(cmd.params) < 2 or len(cmd.params) > 3:
        return None, False
    item, ctx_id = cmd.params[0], cmd.params[1]
    if not isinstance(item, str) or item not in ITEMS:
        return None, False
    # The item name must have been quoted on the wire.
    if not cmd.raw_args.startswith(f'"{item}"'):
        return None, False
    if not isinstance(ctx_id, int) or not 0 <= ctx_id <= MAX_SSL_CONTEXT_ID:
        return None, False
    kind, low, high, _text = ITEMS[item]
    current = contexts[ctx_id]
    if len(cmd.params) == 2:
        value = getattr(current, item)
        return [f'+QSSLCFG: "{item}",{ctx_id},{_format_value(kind, value)}'], True
    raw = cmd.params[2]
    new_value: int | str
    if kind == _INT:
        if not isinstance(raw, int) or not low <= raw <= high:
            return None, False
        new_value = raw
    elif kind == _HEX:
        parsed = _parse_hex(raw)
        if parsed is None or _quoted_last(cmd.raw_args):
            return None, False
        new_value = parsed
    else:
        if not _valid_path(raw) or not _quoted_last(cmd.raw_args):
            return None, False
        new_value = str(raw)
    contexts[ctx_id] = dataclasses.replace(current, **{item: new_value})  # type: ignore[arg-type]
    return None, True


def check_settings(settings: SslContextSettings) -> None:
    """Check that every item is a value ``AT+QSSLCFG`` would accept.

    Raises:
        ValueError: naming the first item out of its range.
    """
    for item, (kind, low, high, _text) in ITEMS.items():
        value = getattr(settings, item)
        if kind == _INT:
            valid = isinstance(value, int) and low <= value <= high
        elif kind == _HEX:
            valid = isinstance(value, int) and (value == ALL_CIPHERS or value in CIPHER_SUITES)
        else:
            valid = isinstance(value, str) and (value == "" or _valid_path(value))
        if not valid:
            raise ValueError(f"SslContextSettings.{item}={value!r} is not a value AT+QSSLCFG accepts")


def _quoted_last(raw_args: str) -> bool:
    return raw_args.rstrip().endswith('"')
