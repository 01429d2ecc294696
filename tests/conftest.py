"""Shared fixtures: leak checks that suites enable with an autouse wrapper."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator, Iterator

import pytest


def _open_fds() -> set[int]:
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


@pytest.fixture
def no_leaked_fds() -> Iterator[None]:
    """Fail the test if it leaves a file descriptor open."""
    before = _open_fds()
    yield
    gc.collect()
    leaked = {fd for fd in _open_fds() - before if os.path.exists(f"/proc/self/fd/{fd}")}
    assert not leaked, {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in leaked}


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail the test if it leaves an asyncio task running."""
    yield
    for _ in range(3):
        await asyncio.sleep(0)
    others = asyncio.all_tasks() - {asyncio.current_task()}
    assert not others, others
