# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures (tiny random TIPSv2 models written once per session) and the fast lane.

The fast lane: a test that starts a process or a build (a node or camera process, colcon,
rosdep, Ray, launch, a ``tips-ros`` run as a subprocess, ``torch.compile``, a linter that
forks, even ``git``) is marked ``@pytest.mark.slow`` (or its module sets ``pytestmark =
pytest.mark.slow``; one case of a parametrized test: ``pytest.param(..., marks=...)``), so
``pytest -m "not slow"`` runs the rest in a few minutes while you work; CI (``.ci/run``) runs
everything. The marker is registered in ``setup.cfg`` ([tool:pytest], ``--strict-markers``).

It is enforced, not only a convention: a test without the marker that starts a process
during its setup or call fails with the program it started (:func:`pytest_runtest_setup`,
:func:`pytest_runtest_call`; ``test/test_fast_lane.py`` checks that). A few in-process tests
are marked too because they are long (over ~5 s of CPU alone: many replays, large model
shapes) while a shorter case of the same check stays in the fast lane; keep that rare and
look at ``--durations`` before adding one. In-process rclpy stays in the fast lane.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

# Hub look-ups must fail fast in tests (no network here); loading code itself is unchanged.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: the workplace's shared test material (``<repo>/../shared``, README in each folder)
SHARED = Path(__file__).resolve().parents[2] / "shared"


@contextmanager
def _processes_started() -> Iterator[list[str]]:
    """Record the processes started in the block (``subprocess``, ``os.fork``, ``os.system``).

    Yields the list the programs are appended to; the processes themselves start as usual.
    """
    started: list[str] = []
    execute_child = subprocess.Popen._execute_child
    fork, system = os.fork, os.system

    def watched_execute_child(popen: subprocess.Popen, args: Any, *rest: Any) -> Any:
        started.append(str(args if isinstance(args, (str, bytes)) else list(args))[:200])
        return execute_child(popen, args, *rest)

    def watched_fork() -> int:
        started.append("os.fork()")
        return fork()

    def watched_system(command: str) -> int:
        started.append(f"os.system({command!r})")
        return system(command)

    subprocess.Popen._execute_child = watched_execute_child  # type: ignore[method-assign]
    os.fork, os.system = watched_fork, watched_system
    try:
        yield started
    finally:
        subprocess.Popen._execute_child = execute_child  # type: ignore[method-assign]
        os.fork, os.system = fork, system


def _fail_unless_slow(item: pytest.Item, phase: str) -> Iterator[None]:
    if item.get_closest_marker("slow"):
        return (yield)
    with _processes_started() as started:
        result = yield
    if started:
        pytest.fail(f"{item.nodeid} starts a process in its {phase} ({started[0]}); mark it "
                    "@pytest.mark.slow (test/conftest.py explains the fast lane)",
                    pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Fail a test not marked ``slow`` whose fixtures start a process."""
    return (yield from _fail_unless_slow(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a test not marked ``slow`` that starts a process."""
    return (yield from _fail_unless_slow(item, "call"))


def shared_path(*parts: str) -> Path:
    """Return ``SHARED / parts``; fail in CI (``CI`` set) and skip elsewhere if it is absent.

    CI always has ``../shared``: missing there fails the test; a clone without it skips with
    the reason.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{path} is missing; CI must provide ../shared")
        pytest.skip(f"{path} is absent (this clone has no ../shared)")
    return path


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(dpt_dir, text_dir)`` of a tiny random model written by the project's own writer."""
    from tips_ros.engine.testmodel import write_test_models

    return write_test_models(tmp_path_factory.mktemp("models"), "tiny")


@pytest.fixture(scope="session")
def tiny_engine(tiny_models: tuple[Path, Path]):
    """Load an fp32 CPU engine on the tiny model, shared by read-only tests."""
    from tips_ros.engine import Engine, EngineConfig

    dpt, text = tiny_models
    return Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu",
                               precision="fp32"))


@pytest.fixture(scope="session")
def listener():
    """One rclpy node in this process recording every subscribed topic (and /diagnostics)."""
    from diagnostic_msgs.msg import DiagnosticArray

    from ros_harness import Listener

    listener = Listener("test_listener")
    listener.subscribe(DiagnosticArray, "/diagnostics")
    yield listener
    listener.close()
