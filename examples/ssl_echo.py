"""Send a line through a module TLS socket and print what comes back.

Against the emulator (no arguments): starts a throwaway CA, a TLS echo server
on 127.0.0.1 and an emulated EC200U on a pty. Against hardware:

    python examples/ssl_echo.py --port /dev/ttyUSB2 --host echo.example.com \
        --tcp-port 4433 --cafile ca.pem --apn internet
"""

from __future__ import annotations

import argparse
import asyncio

import quectel_aio
from quectel_aio.testing import EmulatorConfig, ModemEmulator, make_ca, start_tls_echo_server

MESSAGE = b"hello through the module's TLS stack\n"


async def echo_once(device: str, host: str, port: int, ssl: quectel_aio.SSLConfig, apn: str) -> bytes:
    async with quectel_aio.Modem.open(device) as modem:
        await modem.activate_pdp(1, apn=apn)
        reader, writer = await modem.open_connection(host, port, ssl=ssl)
        writer.write(MESSAGE)
        await writer.drain()
        reply = await reader.readexactly(len(MESSAGE))
        writer.close()
        await writer.wait_closed()
        return reply


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", help="modem device; omit to use the emulator")
    parser.add_argument("--host", default="echo.example.test")
    parser.add_argument("--tcp-port", type=int, default=4433)
    parser.add_argument("--cafile")
    parser.add_argument("--apn", default="internet")
    args = parser.parse_args()
    if args.port:
        reply = await echo_once(
            args.port, args.host, args.tcp_port, quectel_aio.SSLConfig(cafile=args.cafile), args.apn
        )
    else:
        ca = make_ca("example CA", key_type="rsa")
        leaf = ca.issue_server_cert([args.host], key_type="rsa")
        emulator = ModemEmulator(EmulatorConfig(host_map={args.host: "127.0.0.1"}))
        server = await start_tls_echo_server(leaf.chain_pem, leaf.key_pem)
        async with server, emulator.serve_pty() as device:
            reply = await echo_once(
                device, args.host, server.port, quectel_aio.SSLConfig(cafile=ca.cert_pem), args.apn
            )
        await emulator.aclose()
    print(reply.decode().rstrip())


if __name__ == "__main__":
    asyncio.run(main())
