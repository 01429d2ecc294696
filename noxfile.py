"""Developer tasks: ``nox`` runs lint, typecheck and tests; ``nox -s bench`` the benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (what CI runs)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
@nox.parametrize(
    "pins",
    [("aiohttp==3.9.5", "httpx==0.25.2"), ("aiohttp>=3.9,<4", "httpx>=0.25,<1")],
    ids=["oldest", "newest"],
)
def compat(session: nox.Session, pins: tuple[str, str]) -> None:
    """The HTTP integrations against the oldest and the newest aiohttp and httpx the extras admit."""
    session.install("-e", ".[test]", *pins)
    session.run("pytest", "tests/contrib", "tests/test_examples.py", "tests/test_readme.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, tests, benchmarks and examples."""
    session.install("-e", ".[test]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Throughput benchmarks through the emulator; writes benchmarks/results/*.json and matrix.png."""
    session.install("-e", ".[test,bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
