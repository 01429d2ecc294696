"""Periodic telemetry POSTs through the module, surviving network drops.

Each reading is POSTed as JSON over a keep-alive aiohttp session whose TLS runs
on the module. When a POST fails (socket broken, PDP context lost, server
gone) the reading is kept, the session is dropped, and after an exponential
back-off the PDP context is activated again (a no-op when it is still up) and
a new session retries the same reading: delivery is at least once.

Against the emulator (no arguments) a network drop (PDP deactivation) is
injected halfway through. Against hardware:

    python examples/telemetry.py --port /dev/ttyUSB2 --host telemetry.example.com \\
        --cafile ca.pem --apn internet --path /v1/readings --interval 60 --count 0
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time

import aiohttp
from _local import Target, argument_parser, open_target

import quectel_aio
from quectel_aio.contrib.aiohttp import ModemConnector

FIRST_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 60.0


def read_sensor(seq: int) -> dict[str, float | int]:
    """Stand-in for a real sensor."""
    return {"seq": seq, "time": round(time.time(), 3), "temperature_c": round(21 + math.sin(seq / 3), 2)}


def new_session(target: Target) -> aiohttp.ClientSession:
    connector = ModemConnector(target.modem, ssl=target.tls())
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120))


async def run(target: Target, path: str, interval: float, count: int, apn: str) -> int:
    """POST ``count`` readings (0: forever); return how many needed a reconnect."""
    url = target.url(path)
    reconnects = 0
    session = new_session(target)
    try:
        for seq in itertools.count() if count == 0 else range(count):
            reading = read_sensor(seq)
            delay = FIRST_RETRY_DELAY
            while True:
                try:
                    async with session.post(url, json=reading) as response:
                        response.raise_for_status()
                        await response.read()
                    print(f"reading {seq}: {reading['temperature_c']} C -> HTTP {response.status}")
                    break
                except (aiohttp.ClientError, quectel_aio.QuectelError) as exc:
                    reconnects += 1
                    print(f"reading {seq}: {type(exc).__name__}; reconnecting in {delay:g} s")
                    await session.close()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, MAX_RETRY_DELAY)
                    try:
                        await target.modem.activate_pdp(1, apn=apn)
                    except quectel_aio.QuectelError as pdp_error:
                        print(f"  PDP context not back yet: {pdp_error}")
                    session = new_session(target)
            if target.emulator is not None and count and seq == count // 2:
                print("(emulator: the network drops: PDP context 1 deactivated)")
                target.emulator.deactivate_pdp(1)
            await asyncio.sleep(interval)
    finally:
        await session.close()
    return reconnects


async def main() -> None:
    parser = argument_parser(__doc__, server="https")
    parser.add_argument("--path", default="/readings", help="URL path to POST the readings to")
    parser.add_argument("--interval", type=float, help="seconds between readings (0.2 emulated, 60 hardware)")
    parser.add_argument("--count", type=int, default=6, help="readings to send (0: forever)")
    args = parser.parse_args()
    interval = args.interval if args.interval is not None else (60.0 if args.port else 0.2)
    async with open_target(args, server="https") as target:
        reconnects = await run(target, args.path, interval, args.count, args.apn)
    print(f"done: {args.count} readings delivered, {reconnects} retried after a reconnect")


if __name__ == "__main__":
    asyncio.run(main())
