"""Every Python snippet in README.md (and the testing package's example) runs as written.

The snippets name example.com, mqtt.example.com and device-api.example.com,
and CA and client files in the current directory. Here those names map to TLS
servers on loopback, the files are written to a temporary directory, and the
device path of the first snippet becomes the emulator's pty.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import textwrap
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import quectel_aio
import quectel_aio.testing
from quectel_aio import AccessMode, Modem, SSLConfig
from quectel_aio.testing import (
    EmulatorConfig,
    ModemEmulator,
    TlsTestServer,
    make_ca,
    start_https_server,
    start_tls_echo_server,
)

README = Path(__file__).resolve().parent.parent / "README.md"
BODY = b'{"status": "ok"}\n'
#: What the emulator and the host wait around ``+++`` (1 s on a module): short, to keep the test quick.
GUARD_TIME = 0.2

#: Each Python block of the README, named by a line only that block holds.
SNIPPETS = {
    "using-it": 'Modem.open("/dev/ttyUSB2"',
    "access-modes": 'mode="transparent"',
    "mutual-tls": "delete_key_after_handshake=True",
    "protocol": "class Hello",
    "aiohttp": "ModemConnector(",
    "httpx": "ModemTransport(",
    "anyio": "ModemByteStream.connect",
    "testing": "emulator.deactivate_pdp(1)",
}


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.DOTALL | re.MULTILINE)


def snippet(name: str) -> str:
    (block,) = [block for block in python_blocks() if SNIPPETS[name] in block]
    return block


def test_every_python_block_of_the_readme_is_run_here() -> None:
    names = [[name for name, marker in SNIPPETS.items() if marker in block] for block in python_blocks()]
    assert names == [[name] for name in SNIPPETS]


@dataclass
class Stage:
    device: str
    emulator: ModemEmulator
    https: TlsTestServer


@pytest.fixture
async def stage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Stage]:
    ca = make_ca("README CA", key_type="rsa")
    names = ["example.com", "mqtt.example.com", "device-api.example.com"]
    leaf = ca.issue_server_cert(names, key_type="rsa")
    device_cert = ca.issue_client_cert("device")
    for name, data in {
        "isrg-root-x1.pem": ca.cert_pem,
        "ca.pem": ca.cert_pem,
        "device.pem": device_cert.chain_pem,
        "device.key": device_cert.key_pem,
    }.items():
        (tmp_path / name).write_bytes(data)
    monkeypatch.chdir(tmp_path)
    async with (
        await start_https_server(leaf.chain_pem, leaf.key_pem, body=BODY) as https,
        await start_tls_echo_server(leaf.chain_pem, leaf.key_pem) as echo,
        await start_tls_echo_server(leaf.chain_pem, leaf.key_pem, client_ca_pem=ca.cert_pem) as mutual,
    ):
        loopback = {
            "example.com": ("127.0.0.1", https.port),
            "device-api.example.com": ("127.0.0.1", echo.port),
            "mqtt.example.com": ("127.0.0.1", mutual.port),
        }
        emulator = ModemEmulator(EmulatorConfig(host_map=loopback, escape_guard_time=GUARD_TIME))
        try:
            async with emulator.serve_pty() as device:
                yield Stage(device, emulator, https)
        finally:
            await emulator.aclose()


@pytest.fixture
async def modem(stage: Stage) -> AsyncIterator[Modem]:
    async with Modem.open(stage.device, escape_guard_time=GUARD_TIME) as opened:
        await opened.activate_pdp(1, apn="internet")
        yield opened


async def run(name: str, modem: Modem | None = None) -> dict[str, Any]:
    """Run a snippet with top-level ``await``; returns its namespace."""
    namespace: dict[str, Any] = {"asyncio": asyncio, "quectel_aio": quectel_aio}
    if modem is not None:
        # What the snippets take from the text around them.
        namespace.update(modem=modem, host="device-api.example.com", config=SSLConfig(cafile="ca.pem"))
    code = compile(snippet(name), "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if result is not None:
        await result
    return namespace


async def close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    await writer.wait_closed()


async def test_using_it(stage: Stage) -> None:
    # A whole program: it runs its own event loop, so it gets a thread of its own.
    source = snippet("using-it").replace('"/dev/ttyUSB2"', repr(stage.device))
    code = compile(source, "README.md", "exec")
    await asyncio.to_thread(exec, code, {"__name__": "__main__"})
    assert stage.https.accepted == 1


async def test_access_modes(modem: Modem) -> None:
    namespace = await run("access-modes", modem)
    reader, writer = namespace["reader"], namespace["writer"]
    assert writer.transport.access_mode is AccessMode.PUSH
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    await close(writer)


async def test_mutual_tls(modem: Modem, stage: Stage) -> None:
    namespace = await run("mutual-tls", modem)
    reader, writer = namespace["reader"], namespace["writer"]
    writer.write(b"ping")
    assert await reader.readexactly(4) == b"ping"
    await close(writer)
    files = list(stage.emulator.files)
    assert any(name.startswith("crt_") for name in files)
    assert not any(name.startswith("key_") for name in files)


async def test_protocol(modem: Modem, capsys: pytest.CaptureFixture[str]) -> None:
    namespace = await run("protocol", modem)
    protocol = namespace["protocol"]
    lost = asyncio.get_running_loop().create_future()
    # The server closes after its answer; the socket then ends like any other.
    protocol.connection_lost = lost.set_result
    async with asyncio.timeout(10):
        assert await lost is None
    assert "HTTP/1.1 200 OK" in capsys.readouterr().out


async def test_aiohttp(modem: Modem) -> None:
    namespace = await run("aiohttp", modem)
    assert namespace["body"] == BODY


async def test_httpx(modem: Modem) -> None:
    namespace = await run("httpx", modem)
    assert namespace["response"].content == BODY


async def test_anyio(modem: Modem) -> None:
    namespace = await run("anyio", modem)
    assert namespace["reply"] == b"PING"


async def test_testing(capsys: pytest.CaptureFixture[str]) -> None:
    # The snippet brings its own emulator and server.
    await run("testing")
    assert "broken: PDP context 1 was deactivated" in capsys.readouterr().out


async def test_the_testing_package_example() -> None:
    doc = quectel_aio.testing.__doc__ or ""
    lines = doc.split("Example::\n", 1)[1].splitlines()
    # The example is the indented block after "Example::".
    end = next(i for i, line in enumerate(lines) if line and not line.startswith(" "))
    example = textwrap.dedent("\n".join(lines[:end]))
    code = compile(example, "quectel_aio/testing", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    namespace: dict[str, Any] = {}
    result = eval(code, namespace)
    assert result is not None
    await result
    writer = namespace["writer"]
    assert writer.is_closing()  # the modem closed the socket when it closed


def test_the_errors_section_names_every_exception() -> None:
    section = README.read_text().split("### Errors", 1)[1].split("\n### ", 1)[0]
    exported = [getattr(quectel_aio, name) for name in quectel_aio.__all__]
    for error in exported:
        if isinstance(error, type) and issubclass(error, quectel_aio.QuectelError):
            assert error is quectel_aio.ProtocolError or f"`{error.__name__}`" in section, error


def test_the_signatures_the_readme_quotes_have_those_defaults() -> None:
    text = README.read_text()
    quoted: dict[str, Callable[..., object]] = {
        "Modem.open(url, *,": Modem.open,
        "modem.open_connection(host, port, *,": Modem.open_connection,
    }
    for prefix, function in quoted.items():
        (call,) = re.findall(re.escape(prefix) + r"([^`]*)`", text)
        parameters = inspect.signature(function).parameters
        defaults = dict(re.findall(r"(\w+)=([^,]+)", call.removesuffix(")")))
        assert defaults.pop("ssl", "SSLConfig(...)") == "SSLConfig(...)"
        assert defaults, prefix
        for name, value in defaults.items():
            assert repr(parameters[name].default) == value.replace('"', "'"), (prefix, name)
