"""An httpx GET whose TLS runs on the module (quectel_aio.contrib.httpx).

Against the emulator (no arguments), or hardware:

    python examples/httpx_get.py --port /dev/ttyUSB2 --host example.com --cafile isrg-root-x1.pem
"""

from __future__ import annotations

import asyncio

import httpx
from _local import argument_parser, open_target

from quectel_aio.contrib.httpx import ModemTransport


async def main() -> None:
    parser = argument_parser(__doc__, server="https")
    parser.add_argument("--path", default="/", help="URL path to GET (default /)")
    args = parser.parse_args()
    async with open_target(args, server="https") as target:
        transport = ModemTransport(target.modem, ssl=target.tls())
        async with httpx.AsyncClient(transport=transport, timeout=60) as client:
            response = await client.get(target.url(args.path))
        print(
            f"GET {response.url} -> {response.status_code} {response.reason_phrase}, {len(response.content)} bytes"
        )
        print(response.text[:200].rstrip())


if __name__ == "__main__":
    asyncio.run(main())
