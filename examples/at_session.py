"""A raw AT session: identity, SIM, signal, registration, PDP context, an SSL context, sockets.

Against the emulator (no arguments) or hardware:

    python examples/at_session.py --port /dev/ttyUSB2 [--baudrate 115200] [--apn internet]

``Modem.command`` sends one line and returns the information lines; an
``ERROR`` answer raises ``CommandError``, which carries the module's error code
(from ``AT+QIGETERROR`` for the SSL and TCP/IP commands).
"""

from __future__ import annotations

import asyncio

from _local import argument_parser, open_target

import quectel_aio

COMMANDS = ["ATI", "AT+CPIN?", "AT+CSQ", "AT+CREG?", "AT+QIACT?", 'AT+QSSLCFG="seclevel",0', "AT+QSSLSTATE"]


async def main() -> None:
    args = argument_parser(__doc__, server="none").parse_args()
    async with open_target(args, server="none") as target:
        for line in COMMANDS:
            try:
                answer = await target.modem.command(line)
            except quectel_aio.CommandError as exc:
                print(f"{line:<14} -> {exc}")
                continue
            print(f"{line:<14} -> {answer[0] if answer else 'OK'}")
            for more in answer[1:]:
                print(f"{'':<14}    {more}")


if __name__ == "__main__":
    asyncio.run(main())
