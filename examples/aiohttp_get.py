"""An aiohttp GET whose TLS runs on the module (quectel_aio.contrib.aiohttp).

Against the emulator (no arguments), or hardware:

    python examples/aiohttp_get.py --port /dev/ttyUSB2 --host example.com --cafile isrg-root-x1.pem
"""

from __future__ import annotations

import asyncio

import aiohttp
from _local import argument_parser, open_target

from quectel_aio.contrib.aiohttp import ModemConnector


async def main() -> None:
    parser = argument_parser(__doc__, server="https")
    parser.add_argument("--path", default="/", help="URL path to GET (default /)")
    args = parser.parse_args()
    async with open_target(args, server="https") as target:
        connector = ModemConnector(target.modem, ssl=target.tls())
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(target.url(args.path)) as response:
                body = await response.read()
            print(f"GET {target.url(args.path)} -> {response.status} {response.reason}, {len(body)} bytes")
            print(body[:200].decode("utf-8", "replace").rstrip())


if __name__ == "__main__":
    asyncio.run(main())
