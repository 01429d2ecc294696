"""Fixtures for the access-mode tests: short escape guard times on both sides."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from quectel_aio import Modem
from quectel_aio.testing import EmulatorConfig

from ..conftest import ECHO_HOST

#: The emulated module's escape guard time.
GUARD = 0.05
#: The host keeps a longer silence than the emulated module needs, so a busy
#: test machine cannot shorten the module's view of it below GUARD.
HOST_GUARD = 0.1


@pytest.fixture
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(host_map={ECHO_HOST: "127.0.0.1"}, escape_guard_time=GUARD)


@pytest.fixture
async def modem(device: str) -> AsyncIterator[Modem]:
    async with Modem.open(device, margin=3.0, escape_guard_time=HOST_GUARD) as opened:
        await opened.activate_pdp(1, apn="internet")
        yield opened


def pattern(size: int, seed: int = 0) -> bytes:
    """``size`` reproducible, non-repeating-looking bytes."""
    block = hashlib.sha256(seed.to_bytes(4, "big")).digest() * 64
    return (block * (size // len(block) + 1))[:size]
