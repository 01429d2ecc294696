"""quectel-aio: asyncio streams over the SSL/TLS sockets of Quectel EC200U / EG91xU modules.

The module runs TLS; this package drives it over a serial link with AT
commands and hands each SSL socket to you as an ordinary
:class:`asyncio.StreamReader` / :class:`asyncio.StreamWriter` pair::

    async with quectel_aio.Modem.open("/dev/ttyUSB2", baudrate=115200) as modem:
        await modem.activate_pdp(1, apn="internet")
        reader, writer = await modem.open_connection(
            "example.com", 443, ssl=quectel_aio.SSLConfig(cafile="isrg-root-x1.pem"))
"""

from __future__ import annotations

from ._errors import (
    CommandError,
    CommandTimeout,
    LocalProtocolError,
    ModemUnavailable,
    PortBusy,
    ProtocolError,
    QuectelError,
    RemoteProtocolError,
    SecurityConfigError,
    SecurityWarning,
    SocketBroken,
    SocketOpenError,
)
from ._replies import SslStateInfo
from ._ufs import FileSpace, ModuleFile
from .modem import Modem, PdpContext
from .ssl_config import (
    CIPHER_SUITES,
    CipherSuite,
    DtlsVersion,
    IgnoreCertItem,
    SecLevel,
    SSLConfig,
    SslVersion,
)
from .transport import AccessMode, ModemSocketTransport

__version__ = "0.1.0"

__all__ = [
    "AccessMode",
    "CIPHER_SUITES",
    "CipherSuite",
    "CommandError",
    "CommandTimeout",
    "DtlsVersion",
    "FileSpace",
    "IgnoreCertItem",
    "LocalProtocolError",
    "Modem",
    "ModemSocketTransport",
    "ModemUnavailable",
    "ModuleFile",
    "PdpContext",
    "PortBusy",
    "ProtocolError",
    "QuectelError",
    "RemoteProtocolError",
    "SSLConfig",
    "SecLevel",
    "SecurityConfigError",
    "SecurityWarning",
    "SocketBroken",
    "SocketOpenError",
    "SslStateInfo",
    "SslVersion",
    "__version__",
]
