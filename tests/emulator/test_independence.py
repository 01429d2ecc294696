"""The emulator is an independent oracle: it must not import the client side."""

from __future__ import annotations

import ast
from pathlib import Path

import quectel_aio.testing

ALLOWED = {"quectel_aio._grammar", "quectel_aio._errors", "quectel_aio._buffer"}


def _package_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 2:
                base = "quectel_aio"
            elif node.level == 1:
                base = "quectel_aio.testing"
            else:
                base = ""
            module = f"{base}.{node.module}" if base and node.module else (node.module or base)
            if node.level == 2 and node.module is None:
                found.update(f"quectel_aio.{alias.name}" for alias in node.names)
            else:
                found.add(module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("quectel_aio")}


def test_emulator_imports_only_the_shared_grammar() -> None:
    package_dir = Path(quectel_aio.testing.__file__).parent
    for path in sorted(package_dir.glob("*.py")):
        outside = {
            name
            for name in _package_imports(path)
            if not name.startswith("quectel_aio.testing") and name not in ALLOWED
        }
        assert not outside, f"{path.name} imports {sorted(outside)}"
