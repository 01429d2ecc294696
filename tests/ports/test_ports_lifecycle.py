"""Opening, EOF, closing and errors of every backend."""

from __future__ import annotations

import asyncio
import errno
import time

import pytest
import serial

from quectel_aio._errors import LocalProtocolError, ModemUnavailable
from quectel_aio._memory_ports import memory_port_pair
from quectel_aio._port_backends import _open_failed
from quectel_aio._ports import BACKENDS, open_port

from .conftest import ALL_BACKENDS, SERIAL_BACKENDS
from .helpers import MakeLink, Pty, read_exactly


def test_all_backends_available() -> None:
    assert set(BACKENDS) == set(ALL_BACKENDS)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
async def test_backend_property(make_link: MakeLink, backend: str) -> None:
    link = await make_link(backend)
    assert link.port.backend == backend
    assert backend in repr(link.port)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
async def test_read_after_aclose_returns_empty(make_link: MakeLink, backend: str) -> None:
    link = await make_link(backend)
    await link.peer.send(b"unread")
    await asyncio.sleep(0.02)
    await link.port.aclose()
    assert await link.port.read() == b""
    assert await link.port.read() == b""
    await link.port.aclose()  # idempotent


@pytest.mark.parametrize("backend", ALL_BACKENDS)
async def test_aclose_wakes_pending_read(make_link: MakeLink, backend: str) -> None:
    link = await make_link(backend)
    reading = asyncio.create_task(link.port.read())
    await asyncio.sleep(0.01)
    assert not reading.done()
    await asyncio.gather(link.port.aclose(), link.port.aclose())
    assert await asyncio.wait_for(reading, 1) == b""


@pytest.mark.parametrize("backend", ALL_BACKENDS)
async def test_write_and_drain_after_aclose_raise(make_link: MakeLink, backend: str) -> None:
    link = await make_link(backend)
    await link.port.aclose()
    with pytest.raises(ModemUnavailable, match="closed"):
        link.port.write(b"AT\r")
    with pytest.raises(ModemUnavailable, match="closed"):
        await link.port.drain(timeout=1)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
async def test_second_concurrent_read_is_refused(make_link: MakeLink, backend: str) -> None:
    link = await make_link(backend)
    first = asyncio.create_task(link.port.read())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="already"):
        await link.port.read()
    await link.peer.send(b"x")
    assert await asyncio.wait_for(first, 1) == b"x"


@pytest.mark.parametrize("backend", ["socket", "memory"])
async def test_peer_close_is_eof_after_buffered_bytes(make_link: MakeLink, backend: str) -> None:
    link = await make_link(backend)
    await link.peer.send(b"last words")
    await link.peer.close()
    assert await read_exactly(link.port, 10) == b"last words"
    assert await asyncio.wait_for(link.port.read(), 1) == b""
    assert await link.port.read() == b""
    with pytest.raises(ModemUnavailable):
        link.port.write(b"AT\r")


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_pty_hangup_is_modem_unavailable(make_link: MakeLink, pty: Pty, backend: str) -> None:
    # A vanished far end of a pty reads as EIO, like an unplugged USB modem.
    link = await make_link(backend)
    pending = asyncio.create_task(link.port.read())
    await asyncio.sleep(0.01)
    pty.close_master()
    with pytest.raises(ModemUnavailable, match=pty.path) as info:
        await asyncio.wait_for(pending, 2)
    assert info.value.__cause__ is not None
    with pytest.raises(ModemUnavailable):  # sticky until closed
        await link.port.read()
    with pytest.raises(ModemUnavailable):
        link.port.write(b"AT\r")
    await link.port.aclose()
    assert await link.port.read() == b""


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("", {}),
        ("ttyUSB2", {}),
        ("dev/ttyUSB2", {}),
        ("COM3", {}),
        ("rfc2217://host:2217", {}),
        ("loop://", {}),
        ("socket://host", {}),
        ("socket://:5000", {}),
        ("socket://host:99999", {}),
        ("socket://host:0", {}),
        ("socket://host:x", {}),
        ("socket://host:5000/path", {}),
        ("socket://host:5000?logging=debug", {}),
        ("/dev/ttyUSB2\0", {}),
        ("/dev/ttyUSB2", {"baudrate": 0}),
        ("/dev/ttyUSB2", {"baudrate": True}),
        ("/dev/ttyUSB2", {"baudrate": "115200"}),
        ("/dev/ttyUSB2", {"baudrate": 10**9}),
        ("/dev/ttyUSB2", {"rtscts": 1}),
        ("/dev/ttyUSB2", {"backend": "pyserial-asyncio-fast"}),
        ("/dev/ttyUSB2", {"backend": "memory"}),
        ("/dev/ttyUSB2", {"backend": "socket"}),
        ("/dev/ttyUSB2", {"write_buffer_high": -1}),
    ],
)
async def test_bad_arguments_raise_local_protocol_error(url: str, kwargs: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        await open_port(url, **kwargs)  # type: ignore[arg-type]


async def test_bad_url_error_redacts_password() -> None:
    with pytest.raises(LocalProtocolError) as info:
        await open_port("socket://user:hunter2@host")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("backend", ["auto", *SERIAL_BACKENDS])
async def test_missing_device_is_modem_unavailable(backend: str) -> None:
    path = "/dev/quectel-aio-no-such-device"
    with pytest.raises(ModemUnavailable, match=path) as info:
        await open_port(path, backend=backend)
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("backend", ["auto", *SERIAL_BACKENDS])
async def test_a_missing_device_error_says_what_to_check(backend: str) -> None:
    with pytest.raises(ModemUnavailable, match=r"no such device: is the module connected.*dmesg"):
        await open_port("/dev/quectel-aio-no-such-device", backend=backend)


@pytest.mark.parametrize(
    "exc",
    [
        PermissionError(errno.EACCES, "Permission denied"),
        serial.SerialException(
            errno.EACCES, "could not open port /dev/ttyUSB2: [Errno 13] Permission denied"
        ),
    ],
)
def test_a_device_without_permission_says_how_to_get_it(exc: OSError) -> None:
    # Tests run as root here, so the error is built from the exception an open raises.
    error = _open_failed("/dev/ttyUSB2", exc)
    assert str(error).startswith("cannot open /dev/ttyUSB2: permission denied")
    assert "dialout" in str(error)


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_non_tty_is_modem_unavailable(backend: str) -> None:
    with pytest.raises(ModemUnavailable, match="/dev/null"):
        await open_port("/dev/null", backend=backend)


async def test_refused_socket_is_modem_unavailable() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port_no = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(ModemUnavailable, match=f"127.0.0.1:{port_no}") as info:
        await open_port(f"socket://127.0.0.1:{port_no}")
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_serial_ports_are_exclusive(make_link: MakeLink, pty: Pty, backend: str) -> None:
    await make_link(backend)
    with pytest.raises(ModemUnavailable, match=pty.path):
        await open_port(pty.path, backend=backend)


async def test_socket_name_redacts_credentials(make_link: MakeLink) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port_no = server.sockets[0].getsockname()[1]
    port = await open_port(f"socket://admin:hunter2@127.0.0.1:{port_no}")
    assert "hunter2" not in port.name
    assert port.name == f"socket://admin:***@127.0.0.1:{port_no}"
    assert port.backend == "socket"
    await port.aclose()
    await asyncio.sleep(0.01)
    for writer in accepted:
        writer.close()
        await writer.wait_closed()
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("backend", ALL_BACKENDS)
async def test_dtr_unsupported_without_modem_lines(make_link: MakeLink, backend: str) -> None:
    # ptys, sockets and memory links have no DTR line.
    link = await make_link(backend)
    assert link.port.supports_dtr is False
    with pytest.raises(LocalProtocolError, match="DTR"):
        link.port.set_dtr(False)


async def test_port_is_an_async_context_manager() -> None:
    a, b = memory_port_pair()
    async with a, b:
        a.write(b"ping")
        assert await b.read() == b"ping"
    assert await a.read() == b""


async def test_open_close_is_quick(pty: Pty) -> None:
    for backend in SERIAL_BACKENDS:
        started = time.monotonic()
        port = await open_port(pty.path, backend=backend)
        await port.aclose()
        assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("backend", SERIAL_BACKENDS)
async def test_set_dtr_reaches_the_device(make_link: MakeLink, backend: str) -> None:
    # A pty has no modem lines: force the capability on to exercise the call.
    # serialx ignores ENOTTY from the ioctl; pyserial raises, which is reported.
    link = await make_link(backend)
    link.port._dtr = True  # type: ignore[attr-defined]
    assert link.port.supports_dtr
    if backend == "serialx":
        link.port.set_dtr(False)
    else:
        with pytest.raises(ModemUnavailable, match="DTR"):
            link.port.set_dtr(False)
    await link.port.aclose()
    with pytest.raises(ModemUnavailable, match="closed"):
        link.port.set_dtr(True)


async def test_write_rejects_text() -> None:
    a, b = memory_port_pair()
    with pytest.raises(TypeError):
        a.write("AT\r")  # type: ignore[arg-type]
    await a.aclose()
    await b.aclose()
