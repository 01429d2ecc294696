"""Importing an adapter without its library says which extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(("adapter", "library"), [("aiohttp", "aiohttp"), ("httpx", "httpx")])
def test_an_adapter_without_its_library_names_the_extra(adapter: str, library: str) -> None:
    # A None entry in sys.modules makes the library's import fail as if it were not installed.
    code = f"import sys; sys.modules[{library!r}] = None; import quectel_aio.contrib.{adapter}"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert f"pip install 'quectel-aio[{adapter}]'" in result.stderr, result.stderr
