"""The ``quectel-aio`` command line.

Subcommands:

* ``demo``: a local HTTPS server with a throwaway CA, the emulator on a pty,
  the driver on the pty's slave path, a verified TLS request through the
  module's SSL socket; prints each step's time, the status line, body size and
  sha256. With ``--port`` it runs against real hardware and a URL instead.
* ``emulate``: serve an emulated EC200U on a pty; prints ``PTY <path>`` first.
* ``at``: send raw AT commands to a module.
* ``info``: model, revision, SIM state, signal quality.

Every subcommand accepts ``--json`` for machine-readable output. ``main(argv)``
returns the exit code and is testable in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import structlog

from ._errors import QuectelError

__all__ = ["main"]


def _add_port_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--port", required=required, help="device path (/dev/ttyUSB2) or socket://host:port")
    parser.add_argument("--baudrate", type=int, default=115200, help="UART speed (default 115200)")
    parser.add_argument("--rtscts", action="store_true", help="enable RTS/CTS hardware flow control")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "serialx", "pyserial-asyncio"],
        help="serial backend (default: serialx)",
    )
    parser.add_argument("--urc-port", default=None, help='send AT+QURCCFG="urcport",<value> at start')
    parser.add_argument("--wire-trace", action="store_true", help="log AT traffic (payloads redacted)")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quectel-aio", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log lifecycle events to stderr")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="end-to-end TLS request through an emulated (or real) module")
    _add_port_options(demo, required=False)
    demo.add_argument("--url", default=None, help="with --port: the https:// URL to fetch")
    demo.add_argument("--cafile", default=None, help="with --port: CA file that signs the server")
    demo.add_argument("--apn", default="", help="with --port: APN for PDP context 1")
    demo.add_argument("--body-size", type=int, default=64 * 1024, help="emulated server's body size")

    emulate = sub.add_parser("emulate", help="serve an emulated EC200U on a pty until interrupted")
    emulate.add_argument("--no-echo", action="store_true", help="start with echo off (factory default is on)")

    at = sub.add_parser("at", help="send raw AT commands")
    _add_port_options(at, required=True)
    at.add_argument("lines", nargs="+", help='commands, e.g. "AT+CSQ"')
    at.add_argument("--timeout", type=float, default=5.0)

    info = sub.add_parser("info", help="model, revision, SIM and signal")
    _add_port_options(info, required=True)
    return parser


def _configure_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(payload, sort_keys=True))
    else:
        print(text)


async def _run_at(args: argparse.Namespace) -> int:
    from .modem import Modem

    results: list[dict[str, Any]] = []
    async with Modem.open(
        args.port,
        baudrate=args.baudrate,
        rtscts=args.rtscts,
        backend=args.backend,
        urc_port=args.urc_port,
        wire_trace=args.wire_trace,
    ) as modem:
        for line in args.lines:
            try:
                lines = await modem.command(line, timeout=args.timeout)
                results.append({"command": line, "ok": True, "lines": lines})
            except QuectelError as exc:
                results.append({"command": line, "ok": False, "error": str(exc)})
    text = "\n".join(
        "\n".join([r["command"], *r.get("lines", []), "OK" if r["ok"] else f"ERROR: {r['error']}"])
        for r in results
    )
    _emit(args, {"results": results}, text)
    return 0 if all(r["ok"] for r in results) else 1


async def _run_info(args: argparse.Namespace) -> int:
    from .modem import Modem

    info: dict[str, Any] = {}
    async with Modem.open(
        args.port, baudrate=args.baudrate, rtscts=args.rtscts, backend=args.backend, urc_port=args.urc_port
    ) as modem:
        for key, line in (
            ("identity", "ATI"),
            ("sim", "AT+CPIN?"),
            ("signal", "AT+CSQ"),
            ("pdp", "AT+QIACT?"),
        ):
            try:
                info[key] = await modem.command(line)
            except QuectelError as exc:
                info[key] = [f"error: {exc}"]
    _emit(args, info, "\n".join(f"{k}: {'; '.join(v)}" for k, v in info.items()))
    return 0


async def _run_emulate(args: argparse.Namespace) -> int:
    from .testing import EmulatorConfig, ModemEmulator, serve_pty_forever

    emulator = ModemEmulator(EmulatorConfig(echo=not args.no_echo))

    def ready(path: str) -> None:
        print(f"PTY {path}", flush=True)

    await serve_pty_forever(emulator, ready)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        if args.command == "demo":
            from ._demo import run_demo

            return asyncio.run(run_demo(args))
        if args.command == "emulate":
            try:
                return asyncio.run(_run_emulate(args))
            except KeyboardInterrupt:
                return 0
        if args.command == "at":
            return asyncio.run(_run_at(args))
        return asyncio.run(_run_info(args))
    except QuectelError as exc:
        print(f"quectel-aio: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TimeoutError) as exc:
        print(f"quectel-aio {args.command} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
