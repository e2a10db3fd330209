# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Check the package layout rules of the README's "Layout" section on the real tree.

- The import contracts in ``.importlinter`` (layers, nothing imports the ROS layer, no ROS 2
  below it, no cycles) hold: ``lint-imports`` (import-linter) on the package.
- No module is longer than :data:`MODULE_LINES` lines unless :data:`LONG_MODULES` says why; no
  function or method is longer than :data:`FUNCTION_LINES` lines (decorators and docstring
  included).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tips_ros"
MODULE_LINES = 400
FUNCTION_LINES = 60
#: modules allowed over MODULE_LINES, with the reason (package-relative path -> reason)
LONG_MODULES: dict[str, str] = {}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.slow
def test_import_contracts_hold() -> None:
    """``lint-imports`` exits 0: every contract in .importlinter is kept."""
    run = subprocess.run(
        [sys.executable, "-c",
         "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(config_filename='.importlinter', no_cache=True))"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def test_modules_are_short() -> None:
    """Every module has at most MODULE_LINES lines, or a reason in LONG_MODULES."""
    long = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in _modules()}
    long = {name: n for name, n in long.items() if n > MODULE_LINES and name not in LONG_MODULES}
    assert not long, f"modules over {MODULE_LINES} lines: {long}"


def test_functions_are_short() -> None:
    """No function or method is longer than FUNCTION_LINES lines."""
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([d.lineno for d in node.decorator_list] + [node.lineno])
                lines = node.end_lineno - start + 1
                if lines > FUNCTION_LINES:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines})")
    assert not found, f"functions over {FUNCTION_LINES} lines: {found}"
