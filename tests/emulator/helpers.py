"""Raw-byte hosts that drive the emulator without the client library."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from quectel_aio.testing import EmulatorConfig, ModemEmulator
from quectel_aio.testing._pty import set_raw

DEFAULT_TIMEOUT = 5.0


def xor16(data: bytes) -> int:
    """Independent QFUPL checksum: XOR of big-endian 16-bit words, odd byte padded."""
    padded = data + b"\x00" * (len(data) % 2)
    value = 0
    for (word,) in struct.iter_unpack(">H", padded):
        value ^= word
    return value


class Host:
    """The host end of a link: send bytes, assert on exact received bytes."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self._event = asyncio.Event()

    def _received(self, data: bytes) -> None:
        self.buf += data
        self._event.set()

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    async def _wait_for(self, predicate: object, within: float) -> None:
        assert callable(predicate)
        async with asyncio.timeout(within):
            while not predicate():
                self._event.clear()
                await self._event.wait()

    async def read_exactly(self, n: int, within: float = DEFAULT_TIMEOUT) -> bytes:
        try:
            await self._wait_for(lambda: len(self.buf) >= n, within)
        except TimeoutError:
            raise AssertionError(f"wanted {n} bytes, got {bytes(self.buf)!r}") from None
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def expect(self, expected: bytes, within: float = DEFAULT_TIMEOUT) -> None:
        """The next bytes received are exactly ``expected``."""
        try:
            await self._wait_for(lambda: len(self.buf) >= len(expected), within)
        except TimeoutError:
            raise AssertionError(f"expected {expected!r}, got {bytes(self.buf)!r}") from None
        got = bytes(self.buf[: len(expected)])
        assert got == expected, f"expected {expected!r}, got {bytes(self.buf)!r}"
        del self.buf[: len(expected)]

    async def read_until(self, token: bytes, within: float = DEFAULT_TIMEOUT) -> bytes:
        """Everything up to and including ``token``."""
        try:
            await self._wait_for(lambda: token in self.buf, within)
        except TimeoutError:
            raise AssertionError(f"no {token!r} in {bytes(self.buf)!r}") from None
        end = self.buf.index(token) + len(token)
        data = bytes(self.buf[:end])
        del self.buf[:end]
        return data

    async def expect_silence(self, duration: float = 0.2) -> None:
        await asyncio.sleep(duration)
        assert not self.buf, f"unexpected bytes {bytes(self.buf)!r}"

    async def command(self, line: bytes, response: bytes, within: float = DEFAULT_TIMEOUT) -> None:
        """Send ``line`` + CR (echo must be off) and expect ``response`` exactly."""
        self.send(line + b"\r")
        await self.expect(response, within)


class MemoryHost(Host):
    """Drives the emulator through :meth:`ModemEmulator.attach` / ``feed``."""

    def __init__(self, emu: ModemEmulator) -> None:
        super().__init__()
        self.emu = emu
        emu.attach(self._received)

    def send(self, data: bytes) -> None:
        self.emu.feed(data)


class PtyHost(Host):
    """Opens the emulator's pty slave path like a client would (raw mode)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        set_raw(self.fd)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        if data:
            self._received(data)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
            except BlockingIOError:
                continue
            view = view[written:]

    def close(self) -> None:
        self._loop.remove_reader(self.fd)
        os.close(self.fd)


@asynccontextmanager
async def memory_host(config: EmulatorConfig | None = None) -> AsyncIterator[MemoryHost]:
    emu = ModemEmulator(config or EmulatorConfig(emit_rdy_on_start=False))
    host = MemoryHost(emu)
    try:
        yield host
    finally:
        await emu.aclose()


@asynccontextmanager
async def pty_host(config: EmulatorConfig | None = None) -> AsyncIterator[tuple[PtyHost, ModemEmulator]]:
    emu = ModemEmulator(config or EmulatorConfig(emit_rdy_on_start=False))
    async with emu.serve_pty() as path:
        host = PtyHost(path)
        try:
            yield host, emu
        finally:
            host.close()


async def echo_off(host: Host) -> None:
    host.send(b"ATE0\r")
    await host.expect(b"ATE0\r\r\nOK\r\n")


async def upload(host: Host, name: str, data: bytes) -> None:
    """QFUPL ``data`` (echo off) and check the module's checksum."""
    host.send(f'AT+QFUPL="{name}",{len(data)}\r'.encode())
    await host.expect(b"\r\nCONNECT\r\n")
    host.send(data)
    await host.expect(f"\r\n+QFUPL: {len(data)},{xor16(data):x}\r\n\r\nOK\r\n".encode())


async def configure_verified(host: Host, ca_pem: bytes, ctx: int = 1) -> None:
    """Upload the CA and set seclevel 1 + SNI on SSL context ``ctx``; activate PDP 1."""
    await upload(host, "UFS:ca.pem", ca_pem)
    await host.command(f'AT+QSSLCFG="cacert",{ctx},"UFS:ca.pem"'.encode(), b"\r\nOK\r\n")
    await host.command(f'AT+QSSLCFG="seclevel",{ctx},1'.encode(), b"\r\nOK\r\n")
    await host.command(f'AT+QSSLCFG="sni",{ctx},1'.encode(), b"\r\nOK\r\n")
    await host.command(b"AT+QIACT=1", b"\r\nOK\r\n")


async def open_socket(
    host: Host, port: int, *, ctx: int = 1, client_id: int = 0, name: str = "localhost", mode: int = 0
) -> bytes:
    """QSSLOPEN and return the ``+QSSLOPEN`` URC line."""
    host.send(f'AT+QSSLOPEN=1,{ctx},{client_id},"{name}",{port},{mode}\r'.encode())
    await host.expect(b"\r\nOK\r\n")
    return await host.read_until(b"\r\n", within=10) + await host.read_until(b"\r\n", within=10)
