"""Shared plumbing for the examples: hardware with ``--port``, a local stand-in without.

Without ``--port`` an example gets a throwaway CA, a TLS server on 127.0.0.1
(an HTTPS server or an echo server) whose certificate names ``LOCAL_HOST``, and
an emulated EC200U on a pty that maps ``LOCAL_HOST`` to that server. With
``--port`` it opens the real module and activates the PDP context with ``--apn``.
Either way the example sees a :class:`Target`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import structlog

import quectel_aio
from quectel_aio.testing import (
    EmulatorConfig,
    ModemEmulator,
    TlsTestServer,
    make_ca,
    start_https_server,
    start_tls_echo_server,
)

#: The host name the local server's certificate names; the emulator maps it to 127.0.0.1.
LOCAL_HOST = "device-api.example.test"

Server = Literal["https", "echo", "none"]


@dataclass
class Target:
    """What an example talks to."""

    modem: quectel_aio.Modem
    #: None for examples without a server.
    ssl: quectel_aio.SSLConfig | None
    host: str
    port: int
    #: The emulator when running locally (to inject faults), None on hardware.
    emulator: ModemEmulator | None

    def url(self, path: str = "/") -> str:
        return f"https://{self.host}:{self.port}{path}"

    def tls(self) -> quectel_aio.SSLConfig:
        """The SSL settings (examples that open sockets always have them)."""
        assert self.ssl is not None
        return self.ssl


def argument_parser(description: str | None, server: Server) -> argparse.ArgumentParser:
    """A parser with the hardware options every example shares."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", help="the module's AT port (e.g. /dev/ttyUSB2); omit to use the emulator")
    parser.add_argument("--baudrate", type=int, default=115200, help="UART speed (ignored on USB)")
    parser.add_argument("--rtscts", action="store_true", help="RTS/CTS flow control (UART)")
    parser.add_argument("--apn", default="internet", help="APN of PDP context 1")
    parser.add_argument("--verbose", action="store_true", help="show the library's info-level log")
    if server != "none":
        parser.add_argument("--cafile", help="CA certificate (PEM) that signs the server's certificate")
        parser.add_argument("--host", help="server host name (hardware)")
        parser.add_argument("--tcp-port", type=int, default=443, help="server TCP port (hardware)")
    return parser


@contextlib.asynccontextmanager
async def open_target(args: argparse.Namespace, server: Server) -> AsyncIterator[Target]:
    """Open the modem on ``args.port``, or start the local stand-in."""
    if not args.verbose:
        # The library logs lifecycle events at info level; an application decides what to show.
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.port:
        if server != "none" and not (args.host and args.cafile):
            raise SystemExit("with --port, give --host and --cafile (and --tcp-port unless it is 443)")
        try:
            ssl = quectel_aio.SSLConfig(cafile=args.cafile) if server != "none" else None
        except quectel_aio.QuectelError as exc:
            raise SystemExit(f"--cafile: {exc}") from None
        async with contextlib.AsyncExitStack() as stack:
            try:
                modem = await stack.enter_async_context(
                    quectel_aio.Modem.open(args.port, baudrate=args.baudrate, rtscts=args.rtscts)
                )
            except quectel_aio.QuectelError as exc:
                # A missing or busy device, or a module that does not answer: no traceback.
                raise SystemExit(f"{type(exc).__name__}: {exc}") from None
            try:
                await modem.activate_pdp(1, apn=args.apn)
            except quectel_aio.QuectelError as exc:
                # No SIM, no registration or a wrong APN: say so, without a traceback.
                raise SystemExit(
                    f"cannot activate PDP context 1 with APN {args.apn!r}: {exc} "
                    "(check the SIM with AT+CPIN? and registration with AT+CREG?)"
                ) from None
            yield Target(modem, ssl, getattr(args, "host", "") or "", getattr(args, "tcp_port", 0), None)
        return
    ca = make_ca("examples CA", key_type="rsa")  # RSA: the default suite is ECDHE-RSA
    leaf = ca.issue_server_cert([LOCAL_HOST], key_type="rsa")
    emulator = ModemEmulator(EmulatorConfig(host_map={LOCAL_HOST: "127.0.0.1"}))
    tls_server: TlsTestServer | None = None
    if server == "https":
        tls_server = await start_https_server(
            leaf.chain_pem, leaf.key_pem, body=b'{"status": "ok"}\n', content_type="application/json"
        )
    elif server == "echo":
        tls_server = await start_tls_echo_server(leaf.chain_pem, leaf.key_pem)
    try:
        async with emulator.serve_pty() as device, quectel_aio.Modem.open(device) as modem:
            await modem.activate_pdp(1, apn=args.apn)
            if tls_server is None:
                yield Target(modem, None, "", 0, emulator)
            else:
                ssl = quectel_aio.SSLConfig(cafile=ca.cert_pem)
                yield Target(modem, ssl, LOCAL_HOST, tls_server.port, emulator)
    finally:
        if tls_server is not None:
            await tls_server.aclose()
        await emulator.aclose()
