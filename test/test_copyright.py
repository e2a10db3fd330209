# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Check that every Python file starts with the SPDX copyright and licence lines.

This replaces ament_copyright (not installable from PyPI, so it cannot run in CI here): the
licence is the one ``package.xml`` and ``setup.py`` declare.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEADER = ("# SPDX-FileCopyrightText: ", "# SPDX-License-Identifier: Apache-2.0")


def _python_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                             "*.py"], cwd=REPO, capture_output=True, text=True, check=True)
    return [REPO / name for name in listed.stdout.split() if (REPO / name).is_file()]


@pytest.mark.slow
def test_every_python_file_has_the_spdx_header() -> None:
    """The first two lines (after a shebang) are the SPDX copyright and licence lines."""
    files = _python_files()
    assert len(files) > 50
    missing = []
    for path in files:
        lines = [line for line in path.read_text().splitlines()[:3] if not line.startswith("#!")]
        if len(lines) < 2 or not all(line.startswith(h) for line, h in zip(lines, HEADER)):
            missing.append(str(path.relative_to(REPO)))
    assert not missing, f"files without the SPDX header: {missing}"


def test_package_declares_the_same_licence() -> None:
    """package.xml and setup.py name the licence of the headers."""
    assert "<license>Apache-2.0</license>" in (REPO / "package.xml").read_text()
    assert 'license="Apache-2.0"' in (REPO / "setup.py").read_text()
