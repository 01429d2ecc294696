"""``quectel-aio demo``: a verified HTTPS request through a module SSL socket.

Without ``--port`` everything runs locally: a throwaway CA signs a certificate
for ``demo.quectel-aio.test``; an HTTPS server on 127.0.0.1 serves a body; the
emulator serves an EC200U on a pty and maps that host name to the server; the
driver opens the pty's slave path like any serial device, uploads the CA,
configures the SSL context, opens a verified TLS socket and sends the request.

With ``--port`` the same client steps run against real hardware and ``--url``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .modem import Modem
from .ssl_config import SSLConfig

__all__ = ["run_demo"]

DEMO_HOST = "demo.quectel-aio.test"

_T = TypeVar("_T")


class _Steps:
    def __init__(self, json_output: bool) -> None:
        self.json_output = json_output
        self.records: list[dict[str, Any]] = []

    async def run(self, name: str, action: Callable[[], Awaitable[_T]]) -> _T:
        start = time.perf_counter()
        result = await action()
        elapsed = (time.perf_counter() - start) * 1000
        self.records.append({"step": name, "ms": round(elapsed, 2)})
        if not self.json_output:
            print(f"  {elapsed:9.1f} ms  {name}", flush=True)
        return result


def _demo_body(size: int) -> bytes:
    seed = hashlib.sha256(b"quectel-aio demo").digest()
    blocks = (size // len(seed)) + 1
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(blocks))[:size]


async def _http_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> bytes:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: quectel-aio-demo\r\nConnection: close\r\n\r\n"
    )
    writer.write(request.encode("ascii"))
    await writer.drain()
    return await reader.read()


def _parse_response(raw: bytes) -> tuple[str, bytes]:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no HTTP header terminator in the response")
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    return status, body


async def _serve_https(body: bytes, server_ssl: Any) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            head = (
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("ascii") + body)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ssl)


async def _emulated(args: argparse.Namespace, steps: _Steps) -> dict[str, Any]:
    from .testing import EmulatorConfig, ModemEmulator, issue_server_cert, make_ca, server_ssl_context

    body = _demo_body(args.body_size)

    async def make_certs() -> tuple[Any, Any]:
        # RSA keys: the default suite is ECDHE-RSA-AES128-GCM-SHA256.
        ca = make_ca("quectel-aio demo CA", key_type="rsa")
        return ca, issue_server_cert(ca, [DEMO_HOST], key_type="rsa")

    ca, leaf = await steps.run("create a throwaway CA and a server certificate", make_certs)
    server_ctx = server_ssl_context(leaf.chain_pem, leaf.key_pem)

    async def start_server() -> asyncio.Server:
        return await _serve_https(body, server_ctx)

    server = await steps.run("start the HTTPS server on 127.0.0.1", start_server)
    port = server.sockets[0].getsockname()[1]
    emulator = ModemEmulator(EmulatorConfig(host_map={DEMO_HOST: "127.0.0.1"}))
    try:
        async with emulator.serve_pty() as device:
            result = await _client_steps(
                steps, device, args, DEMO_HOST, port, "/", SSLConfig(cafile=ca.cert_pem), apn="internet"
            )
    finally:
        server.close()
        await server.wait_closed()
    result["expected_sha256"] = hashlib.sha256(body).hexdigest()
    result["verified"] = result["sha256"] == result["expected_sha256"]
    return result


async def _client_steps(
    steps: _Steps,
    device: str,
    args: argparse.Namespace,
    host: str,
    port: int,
    path: str,
    ssl: SSLConfig,
    *,
    apn: str,
) -> dict[str, Any]:
    opener = Modem.open(
        device,
        baudrate=getattr(args, "baudrate", 115200),
        rtscts=getattr(args, "rtscts", False),
        backend=getattr(args, "backend", "auto"),
        urc_port=getattr(args, "urc_port", None),
        wire_trace=getattr(args, "wire_trace", False),
    )
    modem = await steps.run(f"open the modem on {device}", opener.__aenter__)
    try:
        await steps.run("activate PDP context 1", lambda: modem.activate_pdp(1, apn=apn))
        reader, writer = await steps.run(
            f"upload CA, configure SSL context, open verified TLS to {host}:{port}",
            lambda: modem.open_connection(host, port, ssl=ssl),
        )
        raw = await steps.run(f"GET {path} and read to EOF", lambda: _http_get(reader, writer, host, path))

        async def close() -> None:
            writer.close()
            await writer.wait_closed()

        await steps.run("close the socket (AT+QSSLCLOSE)", close)
    finally:
        await opener.__aexit__(None, None, None)
    status, body = _parse_response(raw)
    return {"status": status, "body_bytes": len(body), "sha256": hashlib.sha256(body).hexdigest()}


async def _hardware(args: argparse.Namespace, steps: _Steps) -> dict[str, Any]:
    if not args.url or not args.cafile:
        raise SystemExit("with --port, give --url https://host/path and --cafile ca.pem")
    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "https" or not url.hostname:
        raise SystemExit("--url must be an https:// URL")
    path = url.path or "/"
    if url.query:
        path += "?" + url.query
    return await _client_steps(
        steps,
        args.port,
        args,
        url.hostname,
        url.port or 443,
        path,
        SSLConfig(cafile=args.cafile),
        apn=args.apn,
    )


async def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; returns the exit code (0 on a verified 200 response)."""
    steps = _Steps(args.json)
    if not args.json:
        target = args.port or "an emulated EC200U on a pty"
        print(f"quectel-aio demo: TLS through the module's SSL stack ({target})", flush=True)
    started = time.perf_counter()
    result = await (_hardware(args, steps) if args.port else _emulated(args, steps))
    result["steps"] = steps.records
    result["total_ms"] = round((time.perf_counter() - started) * 1000, 2)
    ok = result["status"].split(" ")[1:2] == ["200"] and result.get("verified", True)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"status: {result['status']}")
        print(f"body:   {result['body_bytes']} bytes, sha256 {result['sha256']}")
        if "verified" in result:
            print(f"check:  {'matches' if result['verified'] else 'DOES NOT MATCH'} the server's body")
        print(f"total:  {result['total_ms']:.1f} ms")
    return 0 if ok else 1
