"""The command line: demo in-process, emulate as a subprocess, argument errors."""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from quectel_aio.cli import _build_parser, main


def test_cli_demo_runs_a_verified_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--json", "demo", "--body-size", "20000"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["status"] == "HTTP/1.1 200 OK"
    assert result["body_bytes"] == 20000
    assert result["verified"] is True
    assert result["sha256"] == result["expected_sha256"]
    steps = [step["step"] for step in result["steps"]]
    assert any("verified TLS" in step for step in steps)


def test_cli_demo_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--body-size", "1000"]) == 0
    out = capsys.readouterr().out
    assert "status: HTTP/1.1 200 OK" in out
    assert "1000 bytes, sha256" in out
    assert "matches the server's body" in out


def test_cli_at_needs_a_port(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["at", "AT"])
    assert info.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_cli_at_reports_a_missing_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["at", "--port", "/dev/does-not-exist-quectel", "AT"]) == 2
    assert "ModemUnavailable" in capsys.readouterr().err


@pytest.fixture(params=["text", "json"])
def emulated_port(request: pytest.FixtureRequest) -> Iterator[str]:
    """``quectel-aio emulate`` in its own process; yields the pty path it prints first."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    json_output = request.param == "json"
    process = subprocess.Popen(
        [sys.executable, "-m", "quectel_aio", *(["--json"] if json_output else []), "emulate"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().decode().strip()
        if json_output:
            path = json.loads(first)["pty"]
        else:
            assert first.startswith("PTY "), first
            path = first.split(" ", 1)[1]
        assert path.startswith("/dev/pts/"), first
        yield path
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_cli_emulate_prints_the_pty_first_and_answers_at(emulated_port: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "quectel_aio", "--json", "at", "--port", emulated_port, "ATI"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["results"][0]["lines"][0] == "Quectel"


@pytest.mark.parametrize("command", [["at", "ATI"], ["info"]])
def test_cli_wire_trace_shows_the_commands_without_verbose(
    command: list[str], emulated_port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command[0], "--port", emulated_port, "--wire-trace", *command[1:]]) == 0
    err = capsys.readouterr().err
    assert "line=ATI" in err


def test_cli_port_options_are_checked_by_the_parser(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["info", "--port", "/dev/x", "--urc-port", "uart9"])
    assert info.value.code == 2
    assert "usbat" in capsys.readouterr().err


def test_cli_help_describes_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _build_parser()
    assert "``" not in (parser.description or "")
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, (name, action.dest)


@pytest.mark.parametrize("option", ["--json", "-v", "--verbose"])
@pytest.mark.parametrize("command", [["at", "AT"], ["info"]])
def test_cli_output_options_are_accepted_after_the_subcommand(
    command: list[str], option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command[0], "--port", "/dev/does-not-exist-quectel", option, *command[1:]]
    assert main(argv) == 2
    assert "ModemUnavailable" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "json_output", "verbose"),
    [
        (["info", "--port", "/dev/x"], False, False),
        (["--json", "info", "--port", "/dev/x"], True, False),
        (["-v", "info", "--port", "/dev/x", "--json"], True, True),
        (["--json", "-v", "info", "--port", "/dev/x"], True, True),
    ],
)
def test_cli_output_options_before_the_subcommand_are_kept(
    argv: list[str], json_output: bool, verbose: bool
) -> None:
    args = _build_parser().parse_args(argv)
    assert (args.json, args.verbose) == (json_output, verbose)


def test_cli_main_leaves_the_logging_configuration_as_it_found_it(capsys: pytest.CaptureFixture[str]) -> None:
    before = structlog.get_config()
    assert main(["-v", "at", "--port", "/dev/does-not-exist-quectel", "AT"]) == 2
    assert structlog.get_config() == before
    capsys.readouterr()


def test_the_readme_names_every_option_of_every_command() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    parser = _build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        assert f"`{name}" in readme, name
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert f"`{option}`" in readme, (name, option)


def test_every_command_line_in_the_readme_parses() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    lines = set(re.findall(r"`quectel-aio ([^`<]+)`", readme))
    assert len(lines) >= 5
    parser = _build_parser()
    for line in lines:
        argv = shlex.split(line.replace("...", "/dev/ttyUSB2"))
        parser.parse_args(argv)  # exits (a test failure) on an unknown option


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--url", "https://example.com/"],
        ["demo", "--cafile", "ca.pem"],
        ["bench", "--target", "echo.example.com:4433"],
        ["bench", "--cafile", "ca.pem"],
    ],
)
def test_cli_hardware_options_without_a_port_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Without --port the command runs its own emulator and server: these would be ignored.
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert f"{argv[1]} needs --port" in capsys.readouterr().err


async def test_cli_emulate_listens_for_socket_urls_and_maps_server_names() -> None:
    """``emulate --listen`` in its own process: a Modem reaches it by ``socket://`` and opens a mapped name."""
    import asyncio

    import quectel_aio
    from quectel_aio.testing import make_ca, start_tls_echo_server

    ca = make_ca(key_type="rsa")
    cert = ca.issue_server_cert(["api.example.test"], key_type="rsa")
    async with await start_tls_echo_server(cert.chain_pem, cert.key_pem) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "quectel_aio",
            "emulate",
            "--listen",
            "127.0.0.1:0",
            "--map",
            f"api.example.test=127.0.0.1:{server.port}",
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            assert process.stdout is not None
            first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
            assert re.fullmatch(r"SOCKET socket://127\.0\.0\.1:\d+", first), first
            url = first.split(" ", 1)[1]
            async with quectel_aio.Modem.open(url) as modem:
                await modem.activate_pdp(1)
                ssl = quectel_aio.SSLConfig(cafile=ca.cert_pem)
                reader, writer = await modem.open_connection("api.example.test", 443, ssl=ssl)
                writer.write(b"across processes")
                await writer.drain()
                assert await reader.readexactly(16) == b"across processes"
                writer.close()
                await writer.wait_closed()
        finally:
            process.terminate()
            await process.wait()


@pytest.mark.parametrize(
    ("option", "value"), [("--map", "no-equals-sign"), ("--map", "=127.0.0.1"), ("--listen", "host:port")]
)
def test_cli_emulate_refuses_malformed_options(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["emulate", option, value]) == 1
    assert option in capsys.readouterr().err


def test_cli_info_fails_when_no_query_is_answered(
    emulated_port: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # One query may fail (no SIM: AT+CPIN? answers an error); none answered is a failure.
    from quectel_aio import CommandError, Modem

    async def refused(self: Modem, line: str, **kwargs: object) -> list[str]:
        raise CommandError(line, "ERROR")

    monkeypatch.setattr(Modem, "command", refused)
    assert main(["info", "--port", emulated_port]) == 1
    assert "error:" in capsys.readouterr().out
