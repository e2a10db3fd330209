# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: tiny random TIPSv2 models written once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Hub look-ups must fail fast in tests (no network here); loading code itself is unchanged.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: the workplace's shared test material (``<repo>/../shared``, README in each folder)
SHARED = Path(__file__).resolve().parents[2] / "shared"


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
