# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Write config/tips.yaml and the README parameter table from the parameter specs.

Both files are generated from :data:`tips_ros.engine.parameters.SPECS`; ``python -m
tips_ros.tools.parameter_files`` says which is out of date (exit 1), ``--write`` rewrites it.
A test checks they are up to date.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tips_ros.engine.parameters import SPECS

REPO = Path(__file__).resolve().parents[2]
YAML_PATH = REPO / "config" / "tips.yaml"
README_PATH = REPO / "README.md"
README_HEADER = "| parameter | default | when | meaning |\n|---|---|---|---|\n"
#: Lists longer than this are summarised in the README table (the YAML has them in full).
README_LIST_ITEMS = 4


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (str, list)) else str(value)


def params_yaml() -> str:
    """``config/tips.yaml``: every parameter with its default and description."""
    lines = ["# tips_node parameters with their defaults (see README 'Parameters').",
             "# Runtime parameters take effect on the next frame; the others at configure.",
             "# Generated from tips_ros/engine/parameters.py: "
             "python -m tips_ros.tools.parameter_files --write",
             "/**:", "  ros__parameters:"]
    for spec in SPECS:
        lines += [f"    # {spec.description}", f"    {spec.name}: {_yaml_value(spec.default)}"]
    return "\n".join(lines) + "\n"


def _readme_default(value: Any) -> str:
    if isinstance(value, list) and len(value) > README_LIST_ITEMS:
        return (f"{len(value)} entries (`{json.dumps(value[0])}`, ...; "
                "see `config/tips.yaml`)")
    return f"`{_yaml_value(value)}`"


def readme_table() -> str:
    """Return the README's parameter table (header included), one row per spec."""
    rows = []
    for spec in SPECS:
        meaning = spec.description
        if spec.choices:
            meaning += f" ({', '.join(spec.choices)})"
        limits = spec.int_range[:2] if spec.int_range else spec.float_range
        if limits:
            meaning += f" [{limits[0]}..{limits[1]}]"
        when = "runtime" if spec.runtime else "configure"
        default = _readme_default(spec.default)
        rows.append(f"| `{spec.name}` | {default} | {when} | {meaning} |\n")
    return README_HEADER + "".join(rows)


def readme_with_table(readme: str) -> str:
    """``readme`` with its parameter table (header up to the first blank line) regenerated."""
    start = readme.index(README_HEADER)
    end = readme.index("\n\n", start) + 1
    return readme[:start] + readme_table() + readme[end:]


def main(argv: list[str] | None = None) -> int:
    """``python -m tips_ros.tools.parameter_files [--write]``: check (or rewrite) the files."""
    parser = argparse.ArgumentParser(prog="python -m tips_ros.tools.parameter_files",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true",
                        help="rewrite config/tips.yaml and the README table from SPECS")
    args = parser.parse_args(argv)
    stale = []
    for path, text in ((YAML_PATH, params_yaml()),
                       (README_PATH, readme_with_table(README_PATH.read_text()))):
        if path.read_text() != text:
            stale.append(path)
            if args.write:
                path.write_text(text)
    for path in stale:
        print(f"{'rewrote' if args.write else 'out of date'}: {path.relative_to(REPO)}")
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
