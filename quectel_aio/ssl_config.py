"""TLS settings for one module SSL context (``AT+QSSLCFG``).

The module, not the host, runs TLS. :class:`SSLConfig` describes what the
module must enforce; the driver writes every ``AT+QSSLCFG`` item into an SSL
context and reads every item back before a socket opens on it.

Secure by default: the server is verified against a CA that you provide, SNI
is sent for host names, only TLS 1.2 is offered, only an ECDHE suite with
AES-GCM is offered, certificate dates are checked against the module clock
(which the driver sets from the host clock), none of the module's "ignore"
switches is on, and the handshake gives up after 60 s. Anything weaker is an
explicit argument that emits one :class:`~quectel_aio.SecurityWarning` per
weakening. What the module cannot do at all (pinning, a verify callback, ALPN,
DTLS over these sockets) raises :class:`~quectel_aio.SecurityConfigError`.

Every value set is typed (:class:`SslVersion`, :class:`CipherSuite`,
:class:`SecLevel`, :class:`IgnoreCertItem`, :class:`DtlsVersion`) and checked
against the ranges of the SSL Application Note §2.2.1 when the object is
built, so nothing invalid reaches the module.
"""

from __future__ import annotations

import enum
import hashlib
import os
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TypeVar

from ._errors import SecurityConfigError, SecurityWarning
from ._grammar import validate_filename
from ._tls_values import CIPHER_SUITES, CipherSuite, DtlsVersion, IgnoreCertItem, SecLevel, SslVersion

__all__ = [
    "CIPHER_SUITES",
    "CipherSuite",
    "DtlsVersion",
    "IgnoreCertItem",
    "SSLConfig",
    "SecLevel",
    "SslVersion",
]

#: Suites with forward secrecy and no RC4/3DES: offered without a warning.
STRONG_CIPHER_SUITES = frozenset(
    {
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
    }
)

#: The largest certificate or key file accepted for upload.
MAX_CREDENTIAL_SIZE = 64 * 1024

#: ``negotiatetime`` range in seconds (§2.2.1).
MIN_NEGOTIATE_TIME = 10
MAX_NEGOTIATE_TIME = 300

CredentialSource = str | os.PathLike[str] | bytes | bytearray | memoryview
_E = TypeVar("_E", bound=enum.IntEnum)


def _read_credential(source: CredentialSource | None, what: str) -> bytes | None:
    if source is None:
        return None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        if isinstance(source, str) and ("-----BEGIN" in source or "\n" in source):
            # PEM text given where a path belongs: never echo it (it may be a key).
            raise SecurityConfigError(
                f"{what} holds PEM text, not a path: pass the PEM as bytes (text.encode()) or a file path"
            )
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SecurityConfigError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from exc
    else:
        raise SecurityConfigError(f"{what} must be a path or bytes, not {type(source).__name__}")
    if not data:
        raise SecurityConfigError(f"{what} is empty")
    if len(data) > MAX_CREDENTIAL_SIZE:
        raise SecurityConfigError(f"{what} is larger than {MAX_CREDENTIAL_SIZE} bytes")
    return data


def _module_path(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    if not isinstance(path, str):
        raise SecurityConfigError(f"{what} must be a module file name such as 'UFS:ca.pem'")
    validate_filename(path)
    return path


def _content_name(prefix: str, data: bytes) -> str:
    return f"UFS:{prefix}_{hashlib.sha256(data).hexdigest()[:16]}.pem"


def _as_enum(kind: type[_E], value: object, what: str) -> _E:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SecurityConfigError(f"{what} must be a {kind.__name__}, not {value!r}")
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(f"{m.name} ({int(m):#x})" if kind is CipherSuite else m.name for m in kind)
        raise SecurityConfigError(f"{what}={value!r} is not one of the module's values: {allowed}") from None


def _as_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise SecurityConfigError(f"{what} must be True or False, not {value!r}")
    return value


#: Features of :mod:`ssl` that the module's TLS stack has no equivalent for.
_UNSUPPORTED = {
    "verify_callback": "the module verifies certificates itself; no host code runs during its handshake",
    "pinned_sha256": "the module has no certificate or public-key pinning; trust a dedicated CA instead",
    "alpn_protocols": "the module has no ALPN setting (AT+QSSLCFG offers none)",
}


@dataclass(frozen=True, repr=False)
class SSLConfig:
    """What the module's TLS stack must enforce for a connection.

    Credentials can come from host files, bytes, or files already on the
    module. Uploads use content-addressed names (``UFS:ca_<sha256 prefix>.pem``), so
    identical bytes are uploaded once per :class:`~quectel_aio.Modem`
    (a file found under such a name is replaced, never trusted).

    Args:
        cafile: trusted CA (PEM) as a host path or bytes; uploaded to UFS.
        ca_module_path: a CA file already on the module (``"UFS:ca.pem"``),
            instead of ``cafile``.
        certfile: client certificate (PEM, host path or bytes) for mutual TLS.
        keyfile: client private key (PEM, host path or bytes) for mutual TLS.
        cert_module_path: a client certificate already on the module.
        key_module_path: a client key already on the module.
        seclevel: :class:`SecLevel`. Default: ``MUTUAL`` (2) when a client
            certificate is given, else ``SERVER`` (1). ``NONE`` (0) verifies
            nothing: an explicit, warned opt-out.
        sni: send Server Name Indication for host names (on by default).
        ssl_version: :class:`SslVersion` offered; TLS 1.2 by default.
        ciphersuite: the :class:`CipherSuite` offered (default
            ``TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256``, 0xC02F; ECDSA servers
            need 0xC023 or 0xC024). Suites without forward secrecy, RC4, 3DES
            or ``CipherSuite.ALL`` are warned opt-ins.
        check_time: check certificate dates against the module clock (the
            driver sets it from the host clock first); ``ignorelocaltime``.
        negotiate_time: handshake timeout in seconds (10-300, default 60).
        ignore_invalid_cert_sign: accept certificates with an invalid
            signature (``ignoreinvalidcertsign``); warned.
        ignore_cert_items: :class:`IgnoreCertItem` checks to skip
            (``ignorecertitem``); each flag is warned.
        ignore_multi_cert_chain_verify: skip verification of multi-level
            chains (``ignoremulticertchainverify``); warned.
        session_cache: let the module cache TLS sessions of this context
            (``session_cache``, off by default).
        dtls: must stay ``False``: SSL sockets run over TCP.
        dtls_version: :class:`DtlsVersion` written to the context (inert
            while ``dtls`` is off).
        delete_key_after_handshake: delete the client key file from the
            module once the handshake is over (re-uploaded for each open). A
            socket with it cannot open in transparent mode (switch after the open).
        verify_callback: not supported; anything but ``None`` raises.
        pinned_sha256: not supported; anything but ``None`` raises.
        alpn_protocols: not supported; anything but ``None`` raises.

    Raises:
        SecurityConfigError: no CA with verification on, an unreadable or empty
            file, a value out of range, a combination the module would
            silently ignore, or a feature the module does not have.
    """

    cafile: CredentialSource | None = None
    ca_module_path: str | None = None
    certfile: CredentialSource | None = None
    keyfile: CredentialSource | None = None
    cert_module_path: str | None = None
    key_module_path: str | None = None
    seclevel: SecLevel | int | None = None
    sni: bool = True
    ssl_version: SslVersion | int = SslVersion.TLS1_2
    ciphersuite: CipherSuite | int = CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    check_time: bool = True
    negotiate_time: int = 60
    ignore_invalid_cert_sign: bool = False
    ignore_cert_items: IgnoreCertItem | int = IgnoreCertItem.NONE
    ignore_multi_cert_chain_verify: bool = False
    session_cache: bool = False
    dtls: bool = False
    dtls_version: DtlsVersion | int = DtlsVersion.DTLS1_2
    delete_key_after_handshake: bool = False
    verify_callback: object = None
    pinned_sha256: object = None
    alpn_protocols: object = None
    _ca_bytes: bytes | None = field(init=False, compare=False, default=None)
    _cert_bytes: bytes | None = field(init=False, compare=False, default=None)
    _key_bytes: bytes | None = field(init=False, compare=False, default=None)

    def __post_init__(self) -> None:
        for name, why in _UNSUPPORTED.items():
            if getattr(self, name) is not None:
                raise SecurityConfigError(f"{name} cannot be honoured: {why}")
        self._check_values()
        self._load_credentials()
        self._check_combinations()
        self._warn_weaknesses()

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def _check_values(self) -> None:
        for name in (
            "sni",
            "check_time",
            "ignore_invalid_cert_sign",
            "ignore_multi_cert_chain_verify",
            "session_cache",
            "dtls",
            "delete_key_after_handshake",
        ):
            _as_bool(getattr(self, name), name)
        if self.dtls:
            raise SecurityConfigError(
                "dtls=True cannot be honoured: AT+QSSLOPEN opens TLS over TCP and has no DTLS transport"
            )
        if self.seclevel is not None:
            self._set("seclevel", _as_enum(SecLevel, self.seclevel, "seclevel"))
        self._set("ssl_version", _as_enum(SslVersion, self.ssl_version, "ssl_version"))
        self._set("ciphersuite", _as_enum(CipherSuite, self.ciphersuite, "ciphersuite"))
        self._set("dtls_version", _as_enum(DtlsVersion, self.dtls_version, "dtls_version"))
        items = self.ignore_cert_items
        if isinstance(items, bool) or not isinstance(items, int) or not 0 <= items <= IgnoreCertItem.ALL:
            raise SecurityConfigError(
                f"ignore_cert_items must be an IgnoreCertItem (0-{int(IgnoreCertItem.ALL)}), not {items!r}"
            )
        self._set("ignore_cert_items", IgnoreCertItem(items))
        time = self.negotiate_time
        if (
            isinstance(time, bool)
            or not isinstance(time, int)
            or not MIN_NEGOTIATE_TIME <= time <= MAX_NEGOTIATE_TIME
        ):
            raise SecurityConfigError(
                f"negotiate_time must be {MIN_NEGOTIATE_TIME}-{MAX_NEGOTIATE_TIME} seconds, not {time!r}"
            )

    def _load_credentials(self) -> None:
        pairs = (
            ("cafile", "ca_module_path"),
            ("certfile", "cert_module_path"),
            ("keyfile", "key_module_path"),
        )
        for host_name, module_name in pairs:
            if getattr(self, host_name) is not None and getattr(self, module_name) is not None:
                raise SecurityConfigError(f"give either {host_name} or {module_name}, not both")
            _module_path(getattr(self, module_name), module_name)
        self._set("_ca_bytes", _read_credential(self.cafile, "cafile"))
        self._set("_cert_bytes", _read_credential(self.certfile, "certfile"))
        self._set("_key_bytes", _read_credential(self.keyfile, "keyfile"))

    def _check_combinations(self) -> None:
        has_cert = self.cert_path_on_module is not None
        if has_cert != (self.key_path_on_module is not None):
            raise SecurityConfigError("a client certificate and its key go together")
        if self.seclevel is None:
            self._set("seclevel", SecLevel.MUTUAL if has_cert else SecLevel.SERVER)
        if self.seclevel is SecLevel.MUTUAL and not has_cert:
            raise SecurityConfigError("seclevel=MUTUAL (2) needs certfile and keyfile")
        if has_cert and self.seclevel is not SecLevel.MUTUAL:
            raise SecurityConfigError(
                f"a client certificate is only presented at seclevel=MUTUAL (2), not {self.seclevel!r}"
            )
        if self.seclevel is not SecLevel.NONE and self.ca_path_on_module is None:
            raise SecurityConfigError(
                "server verification needs a trusted CA: pass SSLConfig(cafile='ca.pem') "
                "(or ca_module_path='UFS:ca.pem' for a CA already on the module), or opt out "
                "explicitly with SSLConfig(seclevel=0), which accepts any server"
            )
        if self.delete_key_after_handshake and self._key_bytes is None:
            raise SecurityConfigError(
                "delete_key_after_handshake needs keyfile (host path or bytes) so the key can be "
                "uploaded again for the next handshake"
            )

    def _warn_weaknesses(self) -> None:
        weak: list[str] = []
        if self.seclevel is SecLevel.NONE:
            weak.append("seclevel=0: the server certificate is NOT verified")
        if self.ssl_version is not SslVersion.TLS1_2:
            weak.append(f"ssl_version={self.tls_version.name}: versions older than TLS 1.2 may be negotiated")
        suite = self.cipher_suite
        if suite is CipherSuite.ALL:
            weak.append("ciphersuite=0xFFFF offers RC4, 3DES and suites without forward secrecy")
        elif suite not in STRONG_CIPHER_SUITES:
            weak.append(f"ciphersuite={int(suite):#06x} ({suite.name}) is weak")
        if not self.check_time:
            weak.append("check_time=False: expired and not-yet-valid certificates are accepted")
        if self.seclevel is not SecLevel.NONE and not self.sni:
            weak.append("sni=False: virtual-hosted servers may present another certificate")
        if self.ignore_invalid_cert_sign:
            weak.append("ignore_invalid_cert_sign=True: certificates with a bad signature are accepted")
        if self.ignore_multi_cert_chain_verify:
            weak.append("ignore_multi_cert_chain_verify=True: multi-level chains are not verified")
        items = self.ignore_cert_items_flags
        if items == IgnoreCertItem.ALL:
            weak.append("ignore_cert_items=ALL: the server certificate is NOT checked")
        else:
            weak.extend(
                f"ignore_cert_items={flag.name}: {reason}"
                for flag, reason in IGNORE_REASONS.items()
                if items & flag
            )
            unnamed = int(items) & ~_NAMED_BITS
            if unnamed:
                weak.append(f"ignore_cert_items bits {unnamed:#x}: further certificate checks are skipped")
        for message in weak:
            warnings.warn(message, SecurityWarning, stacklevel=5)

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if value == f.default and f.name != "seclevel":
                continue
            if isinstance(value, (bytes, bytearray, memoryview)):
                shown = f"<{len(value)} bytes>"
            elif isinstance(value, enum.Enum):
                shown = f"{type(value).__name__}.{value.name}"
            else:
                shown = repr(value)
            parts.append(f"{f.name}={shown}")
        return f"SSLConfig({', '.join(parts)})"

    # -- typed views of the normalised values ----------------------------------------------

    @property
    def security_level(self) -> SecLevel:
        """The resolved :class:`SecLevel`."""
        assert isinstance(self.seclevel, SecLevel)
        return self.seclevel

    @property
    def tls_version(self) -> SslVersion:
        """The :class:`SslVersion` offered."""
        assert isinstance(self.ssl_version, SslVersion)
        return self.ssl_version

    @property
    def cipher_suite(self) -> CipherSuite:
        """The :class:`CipherSuite` offered."""
        assert isinstance(self.ciphersuite, CipherSuite)
        return self.ciphersuite

    @property
    def ignore_cert_items_flags(self) -> IgnoreCertItem:
        """The :class:`IgnoreCertItem` flags written as ``ignorecertitem``."""
        assert isinstance(self.ignore_cert_items, IgnoreCertItem)
        return self.ignore_cert_items

    # -- derived values used by the driver ---------------------------------

    @property
    def ca_bytes(self) -> bytes | None:
        """The CA certificate bytes read from ``cafile``, if any."""
        return self._ca_bytes

    @property
    def cert_bytes(self) -> bytes | None:
        """The client certificate bytes, if any."""
        return self._cert_bytes

    @property
    def key_bytes(self) -> bytes | None:
        """The client key bytes, if any."""
        return self._key_bytes

    @property
    def ca_path_on_module(self) -> str | None:
        """Where the CA lives on the module (content-addressed for uploads)."""
        if self.ca_module_path is not None:
            return self.ca_module_path
        return None if self._ca_bytes is None else _content_name("ca", self._ca_bytes)

    @property
    def cert_path_on_module(self) -> str | None:
        """Where the client certificate lives on the module."""
        if self.cert_module_path is not None:
            return self.cert_module_path
        return None if self._cert_bytes is None else _content_name("crt", self._cert_bytes)

    @property
    def key_path_on_module(self) -> str | None:
        """Where the client key lives on the module."""
        if self.key_module_path is not None:
            return self.key_module_path
        return None if self._key_bytes is None else _content_name("key", self._key_bytes)

    def settings(self, *, host_is_name: bool) -> dict[str, int | str]:
        """Every ``AT+QSSLCFG`` item and value this configuration writes.

        All fifteen items of §2.2.1 are written except a path that is not
        configured (``cacert`` at seclevel 0 without a CA, ``clientcert`` and
        ``clientkey`` without a client certificate).

        Args:
            host_is_name: whether the server address is a DNS name (SNI is
                only sent for names).
        """
        values: dict[str, int | str] = {
            "sslversion": int(self.tls_version),
            "dtls": 0,
            "dtlsversion": int(self.dtls_version),
            "ciphersuite": int(self.cipher_suite),
            "seclevel": int(self.security_level),
            "sni": 1 if (self.sni and host_is_name) else 0,
            "ignorelocaltime": 0 if self.check_time else 1,
            "negotiatetime": self.negotiate_time,
            "ignoreinvalidcertsign": int(self.ignore_invalid_cert_sign),
            "ignorecertitem": int(self.ignore_cert_items_flags),
            "ignoremulticertchainverify": int(self.ignore_multi_cert_chain_verify),
            "session_cache": int(self.session_cache),
        }
        ca = self.ca_path_on_module
        if ca is not None:
            values["cacert"] = ca
        cert, key = self.cert_path_on_module, self.key_path_on_module
        if cert is not None and key is not None:
            values["clientcert"] = cert
            values["clientkey"] = key
        return values

    def cache_key(self, *, host_is_name: bool) -> tuple[tuple[str, int | str], ...]:
        """A hashable identity of the module-side settings."""
        return tuple(sorted(self.settings(host_is_name=host_is_name).items()))


#: What each :class:`IgnoreCertItem` flag lets through (for the warnings).
IGNORE_REASONS: dict[IgnoreCertItem, str] = {
    IgnoreCertItem.EXPIRED: "expired certificates are accepted",
    IgnoreCertItem.COMMON_NAME: "a certificate for another host name is accepted",
    IgnoreCertItem.NOT_TRUSTED: "certificates not signed by the trusted CA are accepted",
    IgnoreCertItem.OTHER: "other verification failures are ignored",
    IgnoreCertItem.KEY_USAGE: "keyUsage mismatches are ignored",
    IgnoreCertItem.EXT_KEY_USAGE: "extendedKeyUsage mismatches are ignored",
    IgnoreCertItem.NS_CERT_TYPE: "nsCertType mismatches are ignored",
    IgnoreCertItem.BAD_PUBLIC_KEY_ALGORITHM: "unacceptable public key algorithms are accepted",
    IgnoreCertItem.BAD_KEY: "unacceptable keys are accepted",
}

_NAMED_BITS = sum(int(flag) for flag in IGNORE_REASONS)
