"""Throwaway certificate authority and certificates, built with ``cryptography``.

Everything is in memory and returned as PEM bytes. The keys are unencrypted:
these certificates exist for tests and demos only.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertificateAuthority",
    "IssuedCert",
    "KeyType",
    "issue_client_cert",
    "issue_server_cert",
    "make_ca",
]

KeyType = Literal["ec", "rsa"]
_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _new_key(key_type: KeyType) -> _PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"unknown key type {key_type!r}")


def _key_pem(key: _PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class IssuedCert:
    """A leaf certificate and its key.

    Attributes:
        cert_pem: the certificate (PEM).
        key_pem: its private key (PKCS#8 PEM, unencrypted).
        chain_pem: the certificate followed by the issuing CA certificate.
        cert: the parsed certificate.
    """

    cert_pem: bytes
    key_pem: bytes
    chain_pem: bytes
    cert: x509.Certificate = field(repr=False)


@dataclass(frozen=True)
class CertificateAuthority:
    """A self-signed root CA that issues test certificates.

    Attributes:
        cert_pem: the CA certificate (PEM) - upload it as the module's cacert.
        key_pem: the CA private key (PEM).
        cert: the parsed CA certificate.
    """

    cert_pem: bytes
    key_pem: bytes
    cert: x509.Certificate = field(repr=False)
    _key: _PrivateKey = field(repr=False)

    def issue_server_cert(
        self,
        hostnames: Sequence[str] = ("localhost",),
        *,
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
        key_type: KeyType = "ec",
        common_name: str | None = None,
    ) -> IssuedCert:
        """Issue a TLS server certificate; see :func:`issue_server_cert`."""
        return issue_server_cert(
            self,
            hostnames,
            not_before=not_before,
            not_after=not_after,
            key_type=key_type,
            common_name=common_name,
        )

    def issue_client_cert(
        self,
        common_name: str = "quectel-aio test client",
        *,
        not_before: _dt.datetime | None = None,
        not_after: _dt.datetime | None = None,
        key_type: KeyType = "ec",
    ) -> IssuedCert:
        """Issue a TLS client certificate; see :func:`issue_client_cert`."""
        return issue_client_cert(
            self, common_name, not_before=not_before, not_after=not_after, key_type=key_type
        )


def make_ca(common_name: str = "quectel-aio test CA", *, key_type: KeyType = "ec") -> CertificateAuthority:
    """Create a self-signed root CA valid from yesterday for ten years.

    Args:
        common_name: the CA's subject CN.
        key_type: ``"ec"`` (P-256, fast) or ``"rsa"`` (2048 bit). The key of
            the server certificate decides which suites can work:
            :class:`~quectel_aio.SSLConfig`'s default suite (ECDHE-RSA)
            needs ``issue_server_cert(..., key_type="rsa")``.

    Returns:
        The new :class:`CertificateAuthority`.
    """
    key = _new_key(key_type)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(days=1))
        .not_valid_after(now + _dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertificateAuthority(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key), cert, key)


def _san_entry(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _issue(
    ca: CertificateAuthority,
    subject_cn: str,
    *,
    sans: Sequence[str],
    usage: x509.ObjectIdentifier,
    not_before: _dt.datetime | None,
    not_after: _dt.datetime | None,
    key_type: KeyType,
) -> IssuedCert:
    key = _new_key(key_type)
    now = _now()
    start = not_before if not_before is not None else now - _dt.timedelta(days=1)
    end = not_after if not_after is not None else now + _dt.timedelta(days=365)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca._key.public_key()), critical=False
        )
    )
    if sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san_entry(n) for n in sans]), critical=False
        )
    cert = builder.sign(ca._key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    return IssuedCert(cert_pem, _key_pem(key), cert_pem + ca.cert_pem, cert)


def issue_server_cert(
    ca: CertificateAuthority,
    hostnames: Sequence[str] = ("localhost",),
    *,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    key_type: KeyType = "ec",
    common_name: str | None = None,
) -> IssuedCert:
    """Issue a server certificate signed by ``ca``.

    Args:
        ca: the issuing authority.
        hostnames: DNS names and IP literals for the subjectAltName extension
            (may be empty to test CN-only certificates).
        not_before: start of validity (default: one day ago). Pass dates in
            the past or future to build expired / not-yet-valid certificates.
        not_after: end of validity (default: in one year).
        key_type: ``"ec"`` or ``"rsa"``. An ``"ec"`` server needs an ECDSA
            suite in the :class:`~quectel_aio.SSLConfig`; its default suite
            (ECDHE-RSA) needs ``"rsa"``.
        common_name: subject CN (default: the first host name).

    Returns:
        The :class:`IssuedCert`.
    """
    cn = common_name if common_name is not None else (hostnames[0] if hostnames else "server")
    return _issue(
        ca,
        cn,
        sans=hostnames,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        not_before=not_before,
        not_after=not_after,
        key_type=key_type,
    )


def issue_client_cert(
    ca: CertificateAuthority,
    common_name: str = "quectel-aio test client",
    *,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    key_type: KeyType = "ec",
) -> IssuedCert:
    """Issue a client-authentication certificate signed by ``ca``.

    Args:
        ca: the issuing authority.
        common_name: subject CN.
        not_before: start of validity (default: one day ago).
        not_after: end of validity (default: in one year).
        key_type: ``"ec"`` or ``"rsa"``.

    Returns:
        The :class:`IssuedCert`.
    """
    return _issue(
        ca,
        common_name,
        sans=(),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        not_before=not_before,
        not_after=not_after,
        key_type=key_type,
    )
