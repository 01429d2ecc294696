"""Typed values of the ``AT+QSSLCFG`` items (SSL Application Note §2.2.1).

The enums and flags here are what :class:`~quectel_aio.SSLConfig` accepts;
their integer values are what goes on the wire.
"""

from __future__ import annotations

import enum

__all__ = ["CIPHER_SUITES", "CipherSuite", "DtlsVersion", "IgnoreCertItem", "SecLevel", "SslVersion"]


class SslVersion(enum.IntEnum):
    """Values of ``AT+QSSLCFG="sslversion"``."""

    #: SSL 3.0 (prohibited by RFC 7568).
    SSL3 = 0
    #: TLS 1.0 (deprecated by RFC 8996).
    TLS1_0 = 1
    #: TLS 1.1 (deprecated by RFC 8996).
    TLS1_1 = 2
    #: TLS 1.2.
    TLS1_2 = 3
    #: Every version the module has (SSL 3.0 to TLS 1.2); the factory value.
    ALL = 4


class SecLevel(enum.IntEnum):
    """Values of ``AT+QSSLCFG="seclevel"`` (the authentication mode)."""

    #: No authentication: any server is accepted (the factory value).
    NONE = 0
    #: The server is verified against the configured CA.
    SERVER = 1
    #: The server is verified and the client certificate is presented when asked for.
    MUTUAL = 2


class DtlsVersion(enum.IntEnum):
    """Values of ``AT+QSSLCFG="dtlsversion"``."""

    DTLS1_0 = 0
    DTLS1_2 = 1


class IgnoreCertItem(enum.IntFlag):
    """Bits of ``AT+QSSLCFG="ignorecertitem"``: certificate checks the module skips.

    The values are mbedTLS's ``MBEDTLS_X509_BADCERT_*`` bits, as listed in the
    Application Note (its table omits the number of the keyUsage line; it is
    mbedTLS's 2048).
    """

    #: Check everything (the factory value).
    NONE = 0
    #: The certificate validity has expired.
    EXPIRED = 1
    #: The certificate's name does not match the server name.
    COMMON_NAME = 4
    #: The certificate is not correctly signed by the trusted CA.
    NOT_TRUSTED = 8
    #: Other reasons (the verify callback's).
    OTHER = 256
    #: Usage does not match the keyUsage extension.
    KEY_USAGE = 2048
    #: Usage does not match the extendedKeyUsage extension.
    EXT_KEY_USAGE = 4096
    #: Usage does not match the nsCertType extension.
    NS_CERT_TYPE = 8192
    #: Signed with an unacceptable public key algorithm.
    BAD_PUBLIC_KEY_ALGORITHM = 32768
    #: Signed with an unacceptable key.
    BAD_KEY = 65536
    #: Ignore every check item: the certificate is not checked at all.
    ALL = 1048575


class CipherSuite(enum.IntEnum):
    """Values of ``AT+QSSLCFG="ciphersuite"`` (Table 3 of the Application Note)."""

    TLS_RSA_WITH_AES_256_CBC_SHA = 0x0035
    TLS_RSA_WITH_AES_128_CBC_SHA = 0x002F
    TLS_RSA_WITH_RC4_128_SHA = 0x0005
    TLS_RSA_WITH_RC4_128_MD5 = 0x0004
    TLS_RSA_WITH_3DES_EDE_CBC_SHA = 0x000A
    TLS_RSA_WITH_AES_256_CBC_SHA256 = 0x003D
    TLS_ECDH_ECDSA_WITH_RC4_128_SHA = 0xC002
    TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA = 0xC003
    TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA = 0xC004
    TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA = 0xC005
    TLS_ECDHE_ECDSA_WITH_RC4_128_SHA = 0xC007
    TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA = 0xC008
    TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA = 0xC009
    TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA = 0xC00A
    TLS_ECDHE_RSA_WITH_RC4_128_SHA = 0xC011
    TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA = 0xC012
    TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA = 0xC013
    TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA = 0xC014
    TLS_ECDH_RSA_WITH_RC4_128_SHA = 0xC00C
    TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA = 0xC00D
    TLS_ECDH_RSA_WITH_AES_128_CBC_SHA = 0xC00E
    TLS_ECDH_RSA_WITH_AES_256_CBC_SHA = 0xC00F
    TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 = 0xC023
    TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384 = 0xC024
    TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256 = 0xC025
    TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384 = 0xC026
    TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256 = 0xC027
    TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384 = 0xC028
    TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256 = 0xC029
    TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384 = 0xC02A
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 = 0xC02F
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 = 0xC030
    #: Offer every suite above, RC4 and 3DES included (the factory value).
    ALL = 0xFFFF


#: The cipher suites of Table 3 (code -> IANA name), without ``ALL``.
CIPHER_SUITES: dict[int, str] = {int(s): s.name for s in CipherSuite if s is not CipherSuite.ALL}
