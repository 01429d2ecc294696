"""Send a line through a module TLS socket and print what comes back (asyncio streams).

Against the emulator (no arguments): a throwaway CA, a TLS echo server on
127.0.0.1 and an emulated EC200U on a pty. Against hardware:

    python examples/ssl_echo.py --port /dev/ttyUSB2 --host echo.example.com \\
        --tcp-port 4433 --cafile ca.pem --apn internet
"""

from __future__ import annotations

import asyncio

from _local import argument_parser, open_target

MESSAGE = b"hello through the module's TLS stack\n"


async def main() -> None:
    args = argument_parser(__doc__, server="echo").parse_args()
    async with open_target(args, server="echo") as target:
        reader, writer = await target.modem.open_connection(target.host, target.port, ssl=target.tls())
        writer.write(MESSAGE)
        await writer.drain()
        reply = await reader.readexactly(len(MESSAGE))
        writer.close()
        await writer.wait_closed()
    print(reply.decode().rstrip())


if __name__ == "__main__":
    asyncio.run(main())
