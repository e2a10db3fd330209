# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Check that what README.md and docs/*.md name exists in the tree.

Checked, by reading the sources (nothing of the package is imported but ``tips_ros.cli``):

- repository paths (``tips_ros/io/cdr.py``, ``test/test_onnx.py``, ``bench/...``, ``launch/``);
- bare file names in backticks (``qos.py``): some file of the repository has that name;
- dotted names ``tips_ros.x.y[.Name[.member]]``: the module, then the name it defines, then the
  member of that class (a string such as the ONNX metadata key ``tips_ros.batch`` passes when
  the package's source holds it as a literal);
- ``Class.member`` of a class defined in the package (``Engine.warmup``), and
  ``module.name`` of a package module (``imaging.decode_image``);
- ``tips-ros COMMAND`` subcommands and ``python -m MODULE`` commands;
- README's "Layout" section: one paragraph per part of the package (each subpackage and
  top-level module, no more, no fewer), and every nested subpackage named in it.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import pytest

from tips_ros.cli import COMMANDS

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tips_ros"
DOCS = sorted([REPO / "README.md", *(REPO / "docs").glob("*.md")])
#: top folders of the repository whose paths the docs name
TOP_FOLDERS = ("tips_ros", "test", "bench", "launch", "docs", "config", "evidence", "resource")
#: files of other projects that the docs name (the TIPS authors' and DINOv2's sources)
EXTERNAL_FILES = {"image_encoder.py", "decoders.py", "text_encoder.py"}

PATH = re.compile(rf"(?<![\w/.-])((?:{'|'.join(TOP_FOLDERS)})/[\w./{{,}}-]*[\w/}}])")
BRACES = re.compile(r"\{([^{}]*)\}")
BARE_FILE = re.compile(r"`([\w-]+\.py)`")
DOTTED = re.compile(r"(?<![\w.])(tips_ros(?:\.\w+)+)")
#: file name extensions, so that ``config.json`` or ``tokenizer.model`` is not read as a member
EXTENSIONS = (
    "py|json|png|jpg|yaml|md|txt|csv|xml|toml|cfg|sh|launch|onnx|npz|zip|mcap|db3|model"
    "|safetensors|bin|pt|pth"
)
MEMBER = re.compile(rf"`(\w+)\.(?!(?:{EXTENSIONS})`)(\w+)(?:\(\))?`")
COMMAND = re.compile(r"(?<![\w-])tips-ros (\w[\w-]*)")
PYTHON_M = re.compile(r"python -m ([\w.]+)")


@lru_cache(maxsize=None)
def file_names() -> frozenset[str]:
    """Return the names of the files at the top of the repository and in TOP_FOLDERS."""
    folders = [REPO / folder for folder in TOP_FOLDERS]
    files = [*REPO.glob("*"), *(path for folder in folders for path in folder.rglob("*"))]
    return frozenset(path.name for path in files if path.is_file())


def path_exists(relative: str) -> bool:
    """Tell whether ``relative`` is a file or a folder of the repository.

    A trailing ``/`` is allowed, and ``{a,b}`` stands for both names (as in a shell).
    """
    alternatives = BRACES.search(relative)
    if alternatives:
        start, end = alternatives.span()
        return all(
            path_exists(relative[:start] + choice + relative[end:])
            for choice in alternatives.group(1).split(",")
        )
    return (REPO / relative).exists()


def module_file(dotted: str) -> Path | None:
    """Return the source of module ``dotted`` (a package's ``__init__.py``), if it exists."""
    base = REPO.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=None)
def names_of(source: Path) -> dict[str, frozenset[str]]:
    """Return the top-level names of a module, each with its members (for a class).

    Members of a class are its methods, class attributes and fields, and the ``self.x``
    attributes its methods assign. A package's lazily exported names (the ``_PUBLIC`` keys of
    its ``__init__``) count as its names.
    """
    tree = ast.parse(source.read_text())
    names: dict[str, frozenset[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = _members(node)
        for name in _bound_names(node):
            names.setdefault(name, frozenset())
    lazy = re.search(r"_PUBLIC\s*=\s*\{(.*?)\}", source.read_text(), re.S)
    for name in re.findall(r"\"(\w+)\":", lazy.group(1) if lazy else ""):
        names.setdefault(name, frozenset())
    return names


def _bound_names(node: ast.stmt) -> list[str]:
    """Return the names a top-level statement binds (definitions, assignments, imports)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return [target.id for target in targets if isinstance(target, ast.Name)]


def _members(cls: ast.ClassDef) -> frozenset[str]:
    """Return the methods, class-level names and ``self.x`` attributes of a class."""
    members = {name for node in cls.body for name in _bound_names(node)}
    for node in ast.walk(cls):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id == "self" and isinstance(node.ctx, ast.Store)):
            members.add(node.attr)
    return frozenset(members)


@lru_cache(maxsize=None)
def package_index() -> tuple[dict[str, frozenset[str]], dict[str, list[Path]]]:
    """Return the package's classes (name -> members) and modules (last name -> sources)."""
    classes: dict[str, frozenset[str]] = {}
    modules: dict[str, list[Path]] = {}
    for source in sorted(PACKAGE.rglob("*.py")):
        name = source.parent.name if source.name == "__init__.py" else source.stem
        modules.setdefault(name, []).append(source)
        for tree_node in ast.parse(source.read_text()).body:
            if isinstance(tree_node, ast.ClassDef):
                classes[tree_node.name] = classes.get(tree_node.name, frozenset()) | _members(
                    tree_node
                )
    return classes, modules


@lru_cache(maxsize=None)
def package_literals() -> str:
    """Return the package's whole source text (to find string literals such as metadata keys)."""
    return "\n".join(source.read_text() for source in sorted(PACKAGE.rglob("*.py")))


def dotted_problem(dotted: str) -> str | None:
    """Return why ``tips_ros.x.y[.Name[.member]]`` does not exist, or None when it does."""
    parts = dotted.split(".")
    depth = max(n for n in range(1, len(parts) + 1) if module_file(".".join(parts[:n])))
    module, rest = ".".join(parts[:depth]), parts[depth:]
    if not rest:
        return None
    names = names_of(module_file(module))
    if rest[0] not in names:
        if f'"{dotted}"' in package_literals():
            return None
        return f"{dotted}: module {module} has no {rest[0]}"
    if len(rest) > 1 and names[rest[0]] and rest[1] not in names[rest[0]]:
        return f"{dotted}: {rest[0]} has no member {rest[1]}"
    return None


def member_problem(owner: str, member: str) -> str | None:
    """Return why ``owner.member`` (a package class or module) does not exist, or None."""
    classes, modules = package_index()
    if owner == PACKAGE.name:
        return None  # a dotted name, checked by dotted_problem
    if owner in classes:
        return None if member in classes[owner] else f"{owner}.{member}: no such member"
    if owner in modules:
        if any(member in names_of(source) for source in modules[owner]):
            return None
        return f"{owner}.{member}: no module {owner} defines {member}"
    return None  # not ours (numpy, torch, a report field): not checked


def problems(text: str) -> list[str]:
    """Return every reference in a Markdown ``text`` that does not exist in the tree."""
    found = [f"path {path}" for path in PATH.findall(text) if not path_exists(path)]
    found += [
        f"file {name}" for name in BARE_FILE.findall(text)
        if name not in file_names() and name not in EXTERNAL_FILES
    ]
    found += [p for p in map(dotted_problem, DOTTED.findall(text)) if p]
    found += [p for p in (member_problem(*ref) for ref in MEMBER.findall(text)) if p]
    found += [f"tips-ros {name}" for name in COMMAND.findall(text) if name not in COMMANDS]
    found += [
        f"python -m {name}" for name in PYTHON_M.findall(text)
        if name.startswith("tips_ros") and module_file(name) is None
    ]
    return sorted(set(found))


@pytest.mark.parametrize("doc", DOCS, ids=[doc.name for doc in DOCS])
def test_references_exist(doc: Path) -> None:
    """Every path, module, name, member and command ``doc`` names exists."""
    missing = problems(doc.read_text())
    assert not missing, f"{doc.relative_to(REPO)} names what does not exist: {missing}"


LAYOUT_PART = re.compile(r"^\*\*`(tips_ros/[\w/.]+)`\*\*", re.M)


def layout_section(readme: str) -> str:
    """Return the text of README's "Layout" section."""
    return readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]


def package_parts() -> tuple[set[str], set[str]]:
    """Return the package's parts (``tips_ros/x/`` and ``tips_ros/x.py``) and nested packages."""
    parts = {f"{path.relative_to(REPO)}/" if path.is_dir() else str(path.relative_to(REPO))
             for path in PACKAGE.iterdir()
             if (path / "__init__.py").is_file() or path.suffix == ".py"}
    nested = {f"{init.parent.relative_to(REPO)}/" for init in PACKAGE.glob("*/*/**/__init__.py")}
    return parts, nested


def test_readme_layout_describes_every_part() -> None:
    """Check that "Layout" has one paragraph per subpackage and top-level module.

    A paragraph starts with the part's path in bold (``**`tips_ros/engine/`**``) and says
    what it owns and may import; nested subpackages (``tips_ros/tools/bench/``) are named in
    their parent's paragraph.
    """
    section = layout_section((REPO / "README.md").read_text())
    described = set(LAYOUT_PART.findall(section))
    parts, nested = package_parts()
    assert sorted(parts - described) == [], "parts of tips_ros without a Layout paragraph"
    assert sorted(described - parts) == [], "Layout paragraphs about no part of tips_ros"
    assert sorted(p for p in nested if f"`{p}" not in section) == [], "nested packages unnamed"


def test_the_check_catches_what_is_gone() -> None:
    """Renamed or removed things are reported (the check is not vacuous)."""
    text = (
        "`tips_ros/engine.py`, `tips_ros/io/gone.py`, `nowhere.py`, `tips_ros.io.nothing`, "
        "`tips_ros.io.imaging.no_such_name`, `tips_ros.io.imaging.EncodedImage.no_field`, "
        "`imaging.no_function`, `tips-ros no-command`, `python -m tips_ros.nothing`, "
        "`bench/results/{cpu-tiny,nothing}.json`, `tips_ros/io/cdr.py`, `config.json`, "
        "`tokenizer.model`, "
        "`tips_ros.io.imaging.EncodedImage.step`, `imaging.decode_image`, `tips_ros.batch`, "
        "`bench/results/cpu-b14-stages-{before,after}.json`"
    )
    assert problems(text) == sorted([
        "path tips_ros/engine.py", "path tips_ros/io/gone.py", "file nowhere.py",
        "tips_ros.io.nothing: module tips_ros.io has no nothing",
        "tips_ros.io.imaging.no_such_name: module tips_ros.io.imaging has no no_such_name",
        "tips_ros.io.imaging.EncodedImage.no_field: EncodedImage has no member no_field",
        "imaging.no_function: no module imaging defines no_function",
        "tips-ros no-command", "python -m tips_ros.nothing",
        "tips_ros.nothing: module tips_ros has no nothing",
        "path bench/results/{cpu-tiny,nothing}.json",
    ])
