"""TLS settings for one module SSL context (``AT+QSSLCFG``).

The module, not the host, runs TLS. :class:`SSLConfig` describes what the
module must enforce; the driver writes it into an SSL context with
``AT+QSSLCFG`` and reads every value back before a socket opens on it.

Secure by default: the server is verified against a CA that you provide, SNI
is sent for host names, only TLS 1.2 is offered, only an ECDHE suite with AES-GCM is
offered, certificate dates are checked against the module clock (which the
driver sets from the host clock), and the handshake gives up after 60 s.
Anything weaker is an explicit argument that emits one
:class:`~quectel_aio.SecurityWarning`.
"""

from __future__ import annotations

import enum
import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import SecurityConfigError, SecurityWarning
from ._grammar import validate_filename

__all__ = ["CIPHER_SUITES", "SSLConfig", "SslVersion"]


class SslVersion(enum.IntEnum):
    """Values of ``AT+QSSLCFG="sslversion"`` (SSL Application Note §2.2.1)."""

    #: SSL 3.0 (prohibited by RFC 7568).
    SSL3 = 0
    #: TLS 1.0 (deprecated by RFC 8996).
    TLS1_0 = 1
    #: TLS 1.1 (deprecated by RFC 8996).
    TLS1_1 = 2
    #: TLS 1.2.
    TLS1_2 = 3
    #: Every version the module has (SSL 3.0 to TLS 1.2).
    ALL = 4


#: The cipher suites of the SSL Application Note, Table 3 (code -> IANA name).
CIPHER_SUITES: dict[int, str] = {
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0xC002: "TLS_ECDH_ECDSA_WITH_RC4_128_SHA",
    0xC003: "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC004: "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA",
    0xC005: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA",
    0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC00C: "TLS_ECDH_RSA_WITH_RC4_128_SHA",
    0xC00D: "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC00E: "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA",
    0xC00F: "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC025: "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC026: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC029: "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256",
    0xC02A: "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
}
#: ``0XFFFF`` offers every suite above, RC4 and 3DES included.
ALL_CIPHER_SUITES = 0xFFFF

#: Suites with forward secrecy and no RC4/3DES: the only ones offered by default.
STRONG_CIPHER_SUITES = frozenset(
    {0xC02F, 0xC030, 0xC023, 0xC024, 0xC027, 0xC028, 0xC009, 0xC00A, 0xC013, 0xC014}
)

#: The largest certificate or key file accepted for upload.
MAX_CREDENTIAL_SIZE = 64 * 1024


def _read_credential(source: str | os.PathLike[str] | bytes | None, what: str) -> bytes | None:
    if source is None:
        return None
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SecurityConfigError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from exc
    if not data:
        raise SecurityConfigError(f"{what} is empty")
    if len(data) > MAX_CREDENTIAL_SIZE:
        raise SecurityConfigError(f"{what} is larger than {MAX_CREDENTIAL_SIZE} bytes")
    return data


def _module_name(prefix: str, data: bytes) -> str:
    return f"UFS:{prefix}_{hashlib.sha256(data).hexdigest()[:16]}.pem"


@dataclass(frozen=True)
class SSLConfig:
    """What the module's TLS stack must enforce for a connection.

    Args:
        cafile: the trusted CA (PEM) as a host path or bytes. It is uploaded to
            the module's UFS once (skipped when the same bytes are already
            there) and the server is verified against it.
        ca_module_path: a CA file already on the module (``"UFS:ca.pem"``),
            instead of ``cafile``.
        certfile: client certificate (PEM, host path or bytes) for mutual TLS.
        keyfile: client private key (PEM, host path or bytes) for mutual TLS.
        seclevel: 1 verifies the server, 2 also presents the client
            certificate. ``seclevel=0`` disables verification: an explicit,
            warned opt-out.
        sni: send Server Name Indication for host names (on by default).
        ssl_version: the TLS version offered; TLS 1.2 by default. Anything
            else is a warned opt-in.
        ciphersuite: the suite offered (one code of :data:`CIPHER_SUITES`,
            default ``0xC02F`` ECDHE-RSA-AES128-GCM-SHA256). Weak suites or
            ``0xFFFF`` are warned opt-ins.
        check_time: check certificate validity dates against the module clock
            (the driver sets it from the host clock first). ``False`` is a
            warned opt-out.
        negotiate_time: handshake timeout in seconds (10-300, default 60).

    Raises:
        SecurityConfigError: when no CA is given with verification on, when a
            file cannot be read, or when values are out of range.
    """

    cafile: str | os.PathLike[str] | bytes | None = None
    ca_module_path: str | None = None
    certfile: str | os.PathLike[str] | bytes | None = None
    keyfile: str | os.PathLike[str] | bytes | None = None
    seclevel: int = 1
    sni: bool = True
    ssl_version: SslVersion = SslVersion.TLS1_2
    ciphersuite: int = 0xC02F
    check_time: bool = True
    negotiate_time: int = 60
    _ca_bytes: bytes | None = field(init=False, repr=False, compare=False, default=None)
    _cert_bytes: bytes | None = field(init=False, repr=False, compare=False, default=None)
    _key_bytes: bytes | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if isinstance(self.seclevel, bool) or self.seclevel not in (0, 1, 2):
            raise SecurityConfigError("seclevel must be 0, 1 or 2")
        if isinstance(self.negotiate_time, bool) or not 10 <= self.negotiate_time <= 300:
            raise SecurityConfigError("negotiate_time must be 10-300 seconds")
        if self.ciphersuite != ALL_CIPHER_SUITES and self.ciphersuite not in CIPHER_SUITES:
            raise SecurityConfigError(f"cipher suite {self.ciphersuite:#06x} is not in the module's table")
        version = SslVersion(self.ssl_version)
        object.__setattr__(self, "ssl_version", version)
        if self.cafile is not None and self.ca_module_path is not None:
            raise SecurityConfigError("give either cafile or ca_module_path, not both")
        if self.ca_module_path is not None:
            validate_filename(self.ca_module_path)
        object.__setattr__(self, "_ca_bytes", _read_credential(self.cafile, "cafile"))
        object.__setattr__(self, "_cert_bytes", _read_credential(self.certfile, "certfile"))
        object.__setattr__(self, "_key_bytes", _read_credential(self.keyfile, "keyfile"))
        if (self._cert_bytes is None) != (self._key_bytes is None):
            raise SecurityConfigError("certfile and keyfile go together")
        if self.seclevel == 2 and self._cert_bytes is None:
            raise SecurityConfigError("seclevel=2 needs certfile and keyfile")
        if self.seclevel >= 1 and self._ca_bytes is None and self.ca_module_path is None:
            raise SecurityConfigError(
                "server verification needs a trusted CA: pass SSLConfig(cafile='ca.pem') "
                "(or ca_module_path='UFS:ca.pem' for a CA already on the module), or opt out "
                "explicitly with SSLConfig(seclevel=0), which accepts any server"
            )
        self._warn_weaknesses(version)

    def _warn_weaknesses(self, version: SslVersion) -> None:
        weak: list[str] = []
        if self.seclevel == 0:
            weak.append("seclevel=0: the server certificate is NOT verified")
        if version is not SslVersion.TLS1_2:
            weak.append(f"ssl_version={version.name}: versions older than TLS 1.2 may be negotiated")
        if self.ciphersuite == ALL_CIPHER_SUITES:
            weak.append("ciphersuite=0xFFFF offers RC4, 3DES and suites without forward secrecy")
        elif self.ciphersuite not in STRONG_CIPHER_SUITES:
            weak.append(f"ciphersuite={self.ciphersuite:#06x} ({CIPHER_SUITES[self.ciphersuite]}) is weak")
        if not self.check_time:
            weak.append("check_time=False: expired certificates are accepted")
        if self.seclevel >= 1 and not self.sni:
            weak.append("sni=False: virtual-hosted servers may present another certificate")
        for message in weak:
            warnings.warn(message, SecurityWarning, stacklevel=4)

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
        if self._ca_bytes is not None:
            return _module_name("ca", self._ca_bytes)
        return None

    @property
    def cert_path_on_module(self) -> str | None:
        """Where the client certificate lives on the module."""
        return None if self._cert_bytes is None else _module_name("crt", self._cert_bytes)

    @property
    def key_path_on_module(self) -> str | None:
        """Where the client key lives on the module."""
        return None if self._key_bytes is None else _module_name("key", self._key_bytes)

    def settings(self, *, host_is_name: bool) -> dict[str, int | str]:
        """The ``AT+QSSLCFG`` items and values this configuration writes.

        Args:
            host_is_name: whether the server address is a DNS name (SNI is
                only sent for names).
        """
        values: dict[str, int | str] = {
            "sslversion": int(self.ssl_version),
            "ciphersuite": self.ciphersuite,
            "seclevel": self.seclevel,
            "sni": 1 if (self.sni and host_is_name) else 0,
            "ignorelocaltime": 0 if self.check_time else 1,
            "negotiatetime": self.negotiate_time,
            "ignoreinvalidcertsign": 0,
            "ignorecertitem": 0,
            "ignoremulticertchainverify": 0,
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
