"""The naive synchronous peer: blocking pyserial, the way AT socket code is usually written.

``serial.Serial`` with a read timeout, ``readline()`` for every response line
(pyserial reads those one byte per system call), ``read(n)`` for payloads,
``read_until(b"> ")`` for the send prompt, URC lines skipped when they turn up
in the middle of a command, and a blocking wait for the ``+QSSLURC: "recv"``
doorbell when the module buffer is empty. The same AT sequences as ours, one
at a time, in a worker thread of the measuring process.

It is allowed to fail: a doorbell swallowed while a command was running
leaves it waiting for a URC that never comes, which ends in a timeout. The
benchmark records such a failure as the result.
"""

from __future__ import annotations

import time
from typing import Any

from ..testing import REQUEST_HEADER, pattern_bytes
from ._sample import Arrivals, Sample

__all__ = ["NaiveFailure", "NaivePeer"]

TIMEOUT = 3.0
BLOCK = 64 * 1024


class NaiveFailure(RuntimeError):
    """The naive peer gave up (timeout or an unexpected answer)."""


class NaivePeer:
    """A blocking pyserial host. Every method blocks; run them in a thread.

    Args:
        path: the serial device (the emulator's pty slave).
        baudrate: passed to pyserial (a pty ignores it).
        guard_time: the module's ``+++`` guard time in seconds.
    """

    name = "naive pyserial"

    def __init__(self, path: str, baudrate: int, guard_time: float) -> None:
        import serial  # pyserial, installed with pyserial-asyncio

        self.port: Any = serial.Serial(path, baudrate=baudrate, timeout=TIMEOUT)
        self.guard_time = guard_time

    def close(self) -> None:
        """Close the port."""
        self.port.close()

    def _line(self, what: str) -> bytes:
        line: bytes = self.port.readline()
        if not line.endswith(b"\n"):
            raise NaiveFailure(f"timed out waiting for {what}")
        return line.strip()

    def command(self, line: str) -> list[bytes]:
        """Send ``line``; return the lines before OK (URCs included)."""
        self.port.write(line.encode("ascii") + b"\r")
        lines: list[bytes] = []
        while True:
            got = self._line(f"the answer to {line}")
            if got == b"OK":
                return lines
            if got == b"ERROR" or got.startswith(b"+CME ERROR"):
                raise NaiveFailure(f"{line}: {got.decode('latin-1')}")
            if got:
                lines.append(got)

    def start(self) -> None:
        """Echo off and forget what earlier hosts left on the port."""
        time.sleep(0.05)
        self.port.reset_input_buffer()
        self.port.write(b"ATE0\r")
        while self._line("ATE0") != b"OK":
            pass

    def open(self, host: str, port: int, client_id: int, ctx: int, mode: int) -> None:
        """``AT+QSSLOPEN``, then wait for ``+QSSLOPEN: <id>,0`` (or ``CONNECT``)."""
        self.port.write(f'AT+QSSLOPEN=1,{ctx},{client_id},"{host}",{port},{mode}\r'.encode("ascii"))
        wanted = b"CONNECT" if mode == 2 else f"+QSSLOPEN: {client_id},".encode("ascii")
        while True:
            line = self._line("the open result")
            if line.startswith(wanted):
                if mode != 2 and line != wanted + b"0":
                    raise NaiveFailure(line.decode("latin-1"))
                return
            if line == b"ERROR":
                raise NaiveFailure("AT+QSSLOPEN: ERROR")

    def close_socket(self, client_id: int) -> None:
        """``AT+QSSLCLOSE``."""
        self.command(f"AT+QSSLCLOSE={client_id}")

    def send_chunk(self, client_id: int, data: bytes) -> None:
        """One ``AT+QSSLSEND`` of at most 1460 bytes; ``SEND FAIL`` waits 100 ms and retries."""
        while True:
            self.port.write(f"AT+QSSLSEND={client_id},{len(data)}\r".encode("ascii"))
            prompt = self.port.read_until(b"> ")
            if not prompt.endswith(b"> "):
                raise NaiveFailure("timed out waiting for the > prompt")
            self.port.write(data)
            while True:
                line = self._line("SEND OK")
                if line == b"SEND OK":
                    return
                if line == b"SEND FAIL":
                    time.sleep(0.1)
                    break
                if line == b"ERROR":
                    raise NaiveFailure("AT+QSSLSEND: ERROR")

    def send(self, client_id: int, payload: bytes) -> None:
        """Send ``payload`` in 1460-byte chunks."""
        for start in range(0, len(payload), 1460):
            self.send_chunk(client_id, payload[start : start + 1460])

    def recv_chunk(self, client_id: int) -> bytes:
        """One ``AT+QSSLRECV=<id>,1500``; URC lines in the answer are skipped."""
        self.port.write(f"AT+QSSLRECV={client_id},1500\r".encode("ascii"))
        data = b""
        while True:
            line = self._line("+QSSLRECV")
            if line.startswith(b"+QSSLRECV:"):
                size = int(line.split(b":")[1])
                data = self.port.read(size)
                if len(data) < size:
                    raise NaiveFailure("timed out reading the payload")
            elif line == b"OK":
                return data
            elif line == b"ERROR":
                raise NaiveFailure("AT+QSSLRECV: ERROR")

    def wait_doorbell(self, client_id: int) -> None:
        """Block until ``+QSSLURC: "recv",<id>`` (a lost doorbell times out)."""
        wanted = f'+QSSLURC: "recv",{client_id}'.encode("ascii")
        while self._line('+QSSLURC: "recv"') != wanted:
            pass

    # -- the measured transfers ------------------------------------------------

    def buffer_receive(self, host: str, port: int, total: int, client_id: int, ctx: int) -> Sample:
        """Buffer mode: read ``total`` bytes from the source with AT+QSSLRECV."""
        self.open(host, port, client_id, ctx, 0)
        arrivals = Arrivals()
        started = time.process_time()
        self.send(client_id, REQUEST_HEADER.pack(total))
        while arrivals.got < total:
            data = self.recv_chunk(client_id)
            if data:
                arrivals.add(len(data))
            else:
                self.wait_doorbell(client_id)
        cpu = time.process_time() - started
        self.close_socket(client_id)
        return arrivals.sample(total, cpu)

    def buffer_send(self, host: str, port: int, total: int, client_id: int, ctx: int) -> float:
        """Buffer mode: send ``total`` bytes to the sink; returns CPU seconds."""
        self.open(host, port, client_id, ctx, 0)
        started = time.process_time()
        block = pattern_bytes(0, BLOCK)
        self.send(client_id, REQUEST_HEADER.pack(total))
        left = total
        while left > 0:
            n = min(left, BLOCK)
            self.send(client_id, block[:n])
            left -= n
        while not self.recv_chunk(client_id):
            self.wait_doorbell(client_id)
        cpu = time.process_time() - started
        self.close_socket(client_id)
        return cpu

    def push_receive(self, host: str, port: int, total: int, client_id: int, ctx: int) -> Sample:
        """Direct push: parse ``+QSSLURC: "recv",<id>,<len>`` lines and read the payloads."""
        self.open(host, port, client_id, ctx, 1)
        arrivals = Arrivals()
        started = time.process_time()
        self.send(client_id, REQUEST_HEADER.pack(total))
        header = f'+QSSLURC: "recv",{client_id},'.encode("ascii")
        while arrivals.got < total:
            line = self._line("pushed data")
            if line.startswith(header):
                size = int(line[len(header) :])
                data = self.port.read(size)
                if len(data) < size:
                    raise NaiveFailure("timed out reading pushed data")
                arrivals.add(size)
        cpu = time.process_time() - started
        self.close_socket(client_id)
        return arrivals.sample(total, cpu)

    def _leave_transparent(self) -> None:
        time.sleep(self.guard_time * 1.5)
        self.port.write(b"+++")
        while self._line("OK after +++") != b"OK":
            pass

    def transparent_receive(self, host: str, port: int, total: int, client_id: int, ctx: int) -> Sample:
        """Transparent mode: ``read()`` whatever is there until ``total`` bytes arrived."""
        self.open(host, port, client_id, ctx, 2)
        arrivals = Arrivals()
        started = time.process_time()
        self.port.write(REQUEST_HEADER.pack(total))
        while arrivals.got < total:
            data = self.port.read(min(max(self.port.in_waiting, 1), total - arrivals.got))
            if not data:
                raise NaiveFailure("timed out in transparent mode")
            arrivals.add(len(data))
        cpu = time.process_time() - started
        self._leave_transparent()
        self.close_socket(client_id)
        return arrivals.sample(total, cpu)

    def transparent_send(self, host: str, port: int, total: int, client_id: int, ctx: int) -> float:
        """Transparent mode: ``write()`` ``total`` bytes, wait for the sink's ``K``."""
        self.open(host, port, client_id, ctx, 2)
        started = time.process_time()
        block = pattern_bytes(0, BLOCK)
        self.port.write(REQUEST_HEADER.pack(total))
        left = total
        while left > 0:
            n = min(left, BLOCK)
            self.port.write(block[:n])
            left -= n
        if self.port.read(1) != b"K":
            raise NaiveFailure("no acknowledgement in transparent mode")
        cpu = time.process_time() - started
        self._leave_transparent()
        self.close_socket(client_id)
        return cpu
