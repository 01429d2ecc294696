"""The ``quectel-aio`` command line.

Subcommands:

* ``demo``: a local HTTPS server with a throwaway CA, the emulator on a pty,
  the driver on the pty's slave path, a verified TLS request through the
  module's SSL socket; prints each step's time, the status line, body size and
  sha256. With ``--port`` it runs against real hardware and a URL instead.
* ``emulate``: serve an emulated EC200U on a pty; prints ``PTY <path>`` first
  (``{"pty": "<path>"}`` with ``--json``). ``--listen [HOST:]PORT`` serves over
  TCP instead and prints ``SOCKET socket://HOST:PORT``; ``--map
  NAME=ADDRESS[:PORT]`` lets the emulated module reach a server by name.
* ``at``: send raw AT commands to a module.
* ``info``: model, revision, SIM state, signal quality.
* ``bench``: throughput of every access mode through the emulator (in its own
  process) beside the link capacity and the perfect-host bound; with
  ``--port`` and ``--target`` the same through a real module to a TLS echo server.

Every subcommand accepts ``--json`` for machine-readable output and
``-v``/``--verbose``, before or after its name. ``main(argv)``
returns the exit code and is testable in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

import structlog

from ._errors import QuectelError
from .modem import URC_PORTS, Modem

__all__ = ["main"]


def _add_port_options(parser: argparse.ArgumentParser, *, required: bool, wire_trace: bool = True) -> None:
    parser.add_argument("--port", required=required, help="device path (/dev/ttyUSB2) or socket://host:port")
    parser.add_argument("--baudrate", type=int, default=115200, help="UART speed (default 115200)")
    parser.add_argument("--rtscts", action="store_true", help="enable RTS/CTS hardware flow control")
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "serialx", "pyserial-asyncio"],
        help="serial backend (default: serialx)",
    )
    parser.add_argument(
        "--urc-port",
        default=None,
        choices=URC_PORTS,
        help='send AT+QURCCFG="urcport",<value> at start (uart1 for a module on its main UART)',
    )
    if wire_trace:
        parser.add_argument(
            "--wire-trace", action="store_true", help="print AT traffic to stderr (payloads redacted)"
        )


def _add_output_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="log lifecycle events to stderr"
    )
    parser.add_argument("--json", action="store_true", default=default, help="machine-readable output")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quectel-aio",
        description="Drive the SSL/TLS sockets of a Quectel EC200U / EG91xU module, or try them on an emulator.",
    )
    _add_output_options(parser, False)
    # Also accepted after the subcommand; unset there, they leave the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    _add_output_options(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    demo = add_parser("demo", help="end-to-end TLS request through an emulated (or real) module")
    _add_port_options(demo, required=False)
    demo.add_argument("--url", default=None, help="with --port: the https:// URL to fetch")
    demo.add_argument("--cafile", default=None, help="with --port: CA file that signs the server")
    demo.add_argument("--apn", default="", help="with --port: APN for PDP context 1")
    demo.add_argument("--body-size", type=int, default=64 * 1024, help="emulated server's body size")

    emulate = add_parser("emulate", help="serve an emulated EC200U on a pty until interrupted")
    emulate.add_argument("--no-echo", action="store_true", help="start with echo off (factory default is on)")
    emulate.add_argument(
        "--listen",
        metavar="[HOST:]PORT",
        default=None,
        help="serve over TCP (for --port socket://HOST:PORT) instead of a pty; port 0 picks one",
    )
    emulate.add_argument(
        "--map",
        metavar="NAME=ADDRESS[:PORT]",
        action="append",
        default=[],
        help="let AT+QSSLOPEN reach server NAME at a loopback ADDRESS (and PORT); repeatable",
    )

    at = add_parser("at", help="send raw AT commands")
    _add_port_options(at, required=True)
    at.add_argument("lines", nargs="+", help='commands, e.g. "AT+CSQ"')
    at.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each answer (default 5)")

    info = add_parser("info", help="model, revision, SIM and signal")
    _add_port_options(info, required=True)

    bench = add_parser("bench", help="throughput of every access mode (emulator, or --port hardware)")
    _add_port_options(bench, required=False, wire_trace=False)
    bench.add_argument("--target", default=None, help="with --port: HOST:PORT of a TLS echo server")
    bench.add_argument("--cafile", default=None, help="with --port: CA file that signs the echo server")
    bench.add_argument("--apn", default="", help="with --port: APN for PDP context 1")
    bench.add_argument("--size", type=int, default=256 * 1024, help="with --port: bytes each way per mode")
    bench.add_argument(
        "--modes", default="buffer,push,transparent", help="with --port: comma-separated access modes"
    )
    bench.add_argument("--scale", type=float, default=1.0, help="emulator: transfer size factor")
    bench.add_argument("--tiny", action="store_true", help="emulator: a few seconds, two links")
    bench.add_argument("--output", default=None, help="write the JSON report to this file")
    return parser


def _configure_logging(verbose: bool, wire_trace: bool = False) -> None:
    # The wire trace is logged at debug level: asking for it shows it.
    level = logging.DEBUG if verbose or wire_trace else logging.WARNING
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


def _open_from_args(args: argparse.Namespace) -> contextlib.AbstractAsyncContextManager[Modem]:
    """``Modem.open`` with the port options of ``at`` and ``info``."""
    return Modem.open(
        args.port,
        baudrate=args.baudrate,
        rtscts=args.rtscts,
        backend=args.backend,
        urc_port=args.urc_port,
        wire_trace=args.wire_trace,
    )


async def _run_at(args: argparse.Namespace) -> int:
    results: list[dict[str, Any]] = []
    async with _open_from_args(args) as modem:
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
    info: dict[str, Any] = {}
    failed = 0
    async with _open_from_args(args) as modem:
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
                failed += 1
    _emit(args, info, "\n".join(f"{k}: {'; '.join(v)}" for k, v in info.items()))
    return 1 if failed == len(info) else 0  # a query may fail (no SIM); all failing is no answer


async def _run_emulate(args: argparse.Namespace) -> int:
    from .testing import EmulatorConfig, ModemEmulator, serve_pty_forever, serve_socket_forever

    host_map = dict(_parse_map(entry) for entry in args.map)
    emulator = ModemEmulator(EmulatorConfig(echo=not args.no_echo, host_map=host_map))
    if args.listen is not None:
        address, port = _parse_listen(args.listen)

        def listening(url: str) -> None:
            print(json.dumps({"socket": url}) if args.json else f"SOCKET {url}", flush=True)

        await serve_socket_forever(emulator, listening, address, port)
        return 0

    def ready(path: str) -> None:
        print(json.dumps({"pty": path}) if args.json else f"PTY {path}", flush=True)

    await serve_pty_forever(emulator, ready)
    return 0


def _parse_listen(text: str) -> tuple[str, int]:
    address, _, port = text.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"--listen {text!r}: expected [HOST:]PORT")
    return address.strip("[]") or "127.0.0.1", int(port)


def _parse_map(text: str) -> tuple[str, str | tuple[str, int]]:
    name, sep, target = text.partition("=")
    if not sep or not name or not target:
        raise ValueError(f"--map {text!r}: expected NAME=ADDRESS[:PORT]")
    address, colon, port = target.rpartition(":")
    if colon and port.isdigit() and address and address.count(":") == 0:
        return name, (address, int(port))
    return name, target


async def _run_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.port is None:
        from .benchmarking._run import SOCKETS_LINK, EmulatorRun, run_emulator_suite
        from .benchmarking._suite import default_plan, tiny_plan

        if args.scale <= 0:
            raise ValueError("--scale must be positive")
        run = EmulatorRun(
            tiny_plan() if args.tiny else default_plan(args.scale),
            sockets_link=SOCKETS_LINK,
            sockets_total=4 * 1024 if args.tiny else 16 * 1024,
            ticks=20 if args.tiny else 200,
            bulk=32 * 1024 if args.tiny else 128 * 1024,
            json_path=Path(args.output) if args.output else None,
            command="quectel-aio bench",
        )
        report = await run_emulator_suite(run, out=print if not args.json else _silent)
        if args.json:
            print(json.dumps(report, sort_keys=True, default=str))
        return 0

    from .benchmarking._hardware import HardwareRun, format_hardware, run_hardware

    if args.target is None or args.cafile is None:
        raise ValueError("--port needs --target HOST:PORT of a TLS echo server and --cafile")
    host, _, port = args.target.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--target must be HOST:PORT, not {args.target!r}")
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    unknown = [m for m in modes if m not in ("buffer", "push", "transparent")]
    if unknown or not modes or args.size < 1:
        raise ValueError(
            f"--modes takes buffer, push, transparent (got {args.modes!r}); --size must be positive"
        )
    hardware = await run_hardware(
        HardwareRun(
            port=args.port,
            baudrate=args.baudrate,
            target=(host, int(port)),
            cafile=args.cafile,
            size=args.size,
            modes=modes,
            backend=args.backend,
            rtscts=args.rtscts,
            apn=args.apn,
            urc_port=args.urc_port,
        )
    )
    if args.output:
        text = json.dumps(hardware, indent=2, default=str) + "\n"
        await asyncio.to_thread(Path(args.output).write_text, text)
    _emit(args, hardware, format_hardware(hardware))
    return 0 if all(row["status"] == "ok" for row in hardware["rows"]) else 1


def _silent(_text: str) -> None:
    pass


#: Options that only apply with ``--port``: without it the command runs its own emulator and server.
_HARDWARE_ONLY = {"demo": ("url", "cafile"), "bench": ("target", "cafile")}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    for name in _HARDWARE_ONLY.get(args.command, ()):
        if getattr(args, name) is not None and args.port is None:
            parser.error(f"--{name} needs --port (without it {args.command} runs on an emulator)")
    saved = structlog.get_config()
    _configure_logging(args.verbose, getattr(args, "wire_trace", False))
    try:
        return _run(args)
    finally:
        # In-process callers (tests, embedding programs) get their logging back,
        # not a logger bound to whatever sys.stderr was during this call.
        structlog.configure(**saved)


def _run(args: argparse.Namespace) -> int:
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
        if args.command == "bench":
            return asyncio.run(_run_bench(args))
        return asyncio.run(_run_info(args))
    except QuectelError as exc:
        print(f"quectel-aio: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, TimeoutError) as exc:
        print(f"quectel-aio {args.command} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
