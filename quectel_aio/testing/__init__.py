"""Testing tools: an EC200U emulator that speaks the AT dialect over a real pty.

The emulator is public API, in the spirit of ``trio.testing``: use it to test
applications built on quectel-aio without hardware. It answers AT commands
byte-exactly as documented for the EC200U / EG91xU SSL dialect and makes *real*
TLS connections (Python ``ssl``) to servers on loopback, so certificate and
protocol settings are exercised for real.

Example::

    import quectel_aio
    from quectel_aio.testing import ModemEmulator, make_ca, start_tls_echo_server

    ca = make_ca(key_type="rsa")  # RSA: the default suite is ECDHE-RSA
    server_cert = ca.issue_server_cert(["localhost"], key_type="rsa")
    async with await start_tls_echo_server(server_cert.chain_pem, server_cert.key_pem) as server:
        emu = ModemEmulator()
        async with emu.serve_pty() as device_path, quectel_aio.Modem.open(device_path) as modem:
            await modem.activate_pdp(1)
            ssl = quectel_aio.SSLConfig(cafile=ca.cert_pem)
            reader, writer = await modem.open_connection("localhost", server.port, ssl=ssl)
        await emu.aclose()

The emulator never imports the client side of the package: it is an
independent implementation of the same documented protocol.
"""

from __future__ import annotations

from .._grammar import CommandKind, ParsedCommand
from ._certs import (
    CertificateAuthority,
    IssuedCert,
    issue_client_cert,
    issue_server_cert,
    make_ca,
)
from ._config import FACTORY_CLOCK, EmulatorConfig
from ._emulator import ModemEmulator
from ._network import SocketState, TlsSocket
from ._pty import PtyPair, open_pty_pair
from ._serve import run_emulator_forever, serve_pty_forever, serve_socket_forever
from ._servers import (
    TlsTestServer,
    server_ssl_context,
    start_https_server,
    start_tls_echo_server,
    start_tls_server,
)
from ._ssl_state import CIPHER_SUITES, SslContextSettings
from ._state import PdpContext
from ._targets import (
    REQUEST_HEADER,
    TICK_STAMP,
    SinkTarget,
    SourceTarget,
    StreamTarget,
    TargetRecord,
    TickerTarget,
    pattern_bytes,
)

__all__ = [
    "ModemEmulator",
    "EmulatorConfig",
    "FACTORY_CLOCK",
    "SslContextSettings",
    "SocketState",
    "TlsSocket",
    "ParsedCommand",
    "CommandKind",
    "PdpContext",
    "CIPHER_SUITES",
    "open_pty_pair",
    "PtyPair",
    "serve_pty_forever",
    "serve_socket_forever",
    "run_emulator_forever",
    "CertificateAuthority",
    "IssuedCert",
    "make_ca",
    "issue_server_cert",
    "issue_client_cert",
    "TlsTestServer",
    "server_ssl_context",
    "start_tls_server",
    "start_tls_echo_server",
    "start_https_server",
    "StreamTarget",
    "SourceTarget",
    "SinkTarget",
    "TargetRecord",
    "TickerTarget",
    "TICK_STAMP",
    "REQUEST_HEADER",
    "pattern_bytes",
]
