# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The startup check (tips_ros.engine.requirements).

Versions as pure functions, the installed ones for real, and a too-old torch through the real
command line and the node's configure over rclpy.

The CUDA case through the node's configure over rclpy is in test_reliability.py
(``test_cuda_requested_on_a_machine_without_cuda``), through the engine in test_engine.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tips_ros.engine.requirements import (
    MINIMUM_VERSIONS, RequirementError, check, check_device, check_versions, cuda_problem,
    installed_version, parse_version, version_problem, versions,
)

REPO = Path(__file__).resolve().parents[1]


def old_torch_env(tmp_path: Path) -> dict[str, str]:
    """Return a PYTHONPATH whose first entry has metadata saying torch 2.1.2.

    What an install with Ubuntu's apt python3-torch looks like to importlib.metadata
    (transformers reads the same metadata and disables torch; torch itself still imports).
    """
    shim = tmp_path / "site" / "torch-2.1.2.dist-info"
    shim.mkdir(parents=True)
    (shim / "METADATA").write_text("Metadata-Version: 2.1\nName: torch\nVersion: 2.1.2\n")
    return {"PYTHONPATH": os.pathsep.join(
        filter(None, [str(shim.parent), os.environ.get("PYTHONPATH")]))}


@pytest.mark.parametrize(("text", "expected"), [
    ("2.13.0+cpu", (2, 13, 0)),
    ("2.5.0a0+872d972e41.nv24.08", (2, 5, 0)),  # NVIDIA's JetPack 6.1 wheel
    ("5.17.0.dev0", (5, 17, 0)),
    ("2.1.2", (2, 1, 2)),
    ("unknown", ()),
])
def test_parse_version(text: str, expected: tuple[int, ...]):
    assert parse_version(text) == expected


@pytest.mark.parametrize(("package", "installed", "ok"), [
    ("torch", "2.13.0+cpu", True),
    ("torch", "2.6.0", True),
    ("torch", "2.6.0+cu126", True),
    ("torch", "2.1.2", False),  # Ubuntu noble's apt python3-torch era
    ("torch", "2.5.0a0+872d972e41.nv24.08", False),
    ("torch", None, False),
    ("transformers", "5.24.0", True),
    ("transformers", "5.17.0", True),
    ("transformers", "5.16.2", False),  # no TIPSv2 yet
    ("transformers", "4.57.1", False),
    ("transformers", None, False),
])
def test_version_problem_is_one_sentence_with_the_fix(package: str, installed: str | None,
                                                      ok: bool):
    problem = version_problem(package, installed)
    if ok:
        assert problem is None
        return
    wanted = ".".join(map(str, MINIMUM_VERSIONS[package]))
    assert problem.startswith(f"{package} {installed} is too old" if installed
                              else f"{package} is not installed")
    assert f"needs {package} >= {wanted}" in problem and "\n" not in problem
    assert f"{sys.executable} -m pip install" in problem  # the interpreter that runs tips_ros
    if package == "torch":  # every target's way to a working torch
        assert "CUDA build" in problem and "JetPack" in problem and "whl/cpu" in problem


def test_installed_versions_pass_for_real():
    assert installed_version("torch") and installed_version("transformers")
    assert installed_version("no-such-distribution-tips-ros") is None
    check_versions()  # the ones this suite runs with
    check("cpu")
    check("auto")


def test_reports_record_the_versions_in_use():
    import numpy
    import torch
    import transformers

    import tips_ros

    found = versions()
    assert set(found) == {"python", "tips_ros", "torch", "transformers", "numpy", "rosbags",
                          "rclpy"}
    assert (found["torch"], found["transformers"], found["numpy"], found["tips_ros"]) == (
        torch.__version__, transformers.__version__, numpy.__version__, tips_ros.__version__)
    assert found["rosbags"] and found["rclpy"]  # both installed in the test environment


def test_check_versions_reports_the_first_problem():
    with pytest.raises(RequirementError, match=r"^torch 2\.1\.2 is too old"):
        check_versions({"torch": "2.1.2", "transformers": "4.40.0"})
    with pytest.raises(RequirementError, match=r"^transformers 4\.40\.0 is too old"):
        check_versions({"torch": "2.13.0", "transformers": "4.40.0"})


def cuda(device: str, build: str | None = "12.8", available: bool = True,
         count: int = 1) -> str | None:
    return cuda_problem(device, torch_version="2.13.0", cuda_build=build,
                        cuda_available=available, device_count=count)


def test_cuda_problem_names_the_cause_and_the_fix():
    assert cuda("cpu", build=None, available=False, count=0) is None
    assert cuda("auto", build=None, available=False, count=0) is None
    assert cuda("cuda") is None and cuda("cuda:0") is None and cuda("cuda:1", count=2) is None
    cpu_build = cuda("cuda", build=None, available=False, count=0)
    assert "torch 2.13.0 is a CPU-only build; install a CUDA build" in cpu_build
    assert "JetPack" in cpu_build and cpu_build.endswith("or set device to cpu or auto")
    no_gpu = cuda("cuda:0", available=False, count=0)
    assert "(CUDA 12.8) finds no usable GPU" in no_gpu and "nvidia-smi" in no_gpu
    assert "has 1 CUDA device(s); use cuda:0 .. cuda:0" in cuda("cuda:1")
    assert "has 2 CUDA device(s)" in cuda("cuda:x", count=2)
    for problem in (cpu_build, no_gpu, cuda("cuda:1")):
        assert "\n" not in problem


def test_check_device_for_real_on_this_machine():
    import torch

    check_device("cpu")
    if torch.cuda.is_available():
        check_device("cuda")
        return
    expected = "is a CPU-only build" if torch.version.cuda is None else "finds no usable GPU"
    with pytest.raises(RequirementError, match=expected):
        check_device("cuda")


def test_setup_py_states_the_same_minimum_versions():
    text = (REPO / "setup.py").read_text()
    for package, minimum in MINIMUM_VERSIONS.items():
        found = re.search(rf'"{package}>=([\d.]+)"', text)
        assert found and parse_version(found.group(1)) == minimum, package


@pytest.mark.slow
def test_too_old_torch_is_one_sentence_from_the_command_line(tiny_models, tmp_path: Path):
    """Stop the demo with one sentence and exit code 2 when the metadata says torch 2.1.2.

    As with Ubuntu's apt python3-torch (transformers reads the same metadata and disables
    torch): nothing is loaded first.
    """
    env = dict(os.environ, **old_torch_env(tmp_path))
    dpt, text = tiny_models
    result = subprocess.run(
        [sys.executable, "-m", "tips_ros.cli", "demo", "--model", str(dpt), "--text-model",
         str(text), "--out", str(tmp_path / "demo"), "--frames", "1", "--device", "cpu"],
        capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 2, result.stderr
    # before it, transformers' own import-time warnings ("Disabling PyTorch ...") may appear
    ours = [line for line in result.stderr.splitlines() if not line.startswith("[transformers]")]
    assert len(ours) == 1 and "Traceback" not in result.stderr, result.stderr
    assert ours[0].startswith("tips-ros demo: error: torch 2.1.2 is too old: tips_ros needs "
                              "torch >= 2.6; install torch >= 2.6 into this Python")
    assert not (tmp_path / "demo" / "report.json").exists()


@pytest.mark.slow
def test_node_configure_fails_with_one_sentence_on_a_too_old_torch(
        tiny_models, listener, tmp_path: Path):
    from ros_harness import NodeProcess, diagnostic_values, lifecycle_state, node_params

    name = "/reqtorch/tips_node"
    with NodeProcess(node_params(tiny_models, diagnostics_period=0.2),
                     env=old_torch_env(tmp_path), ros_args=["-r", "__ns:=/reqtorch"]) as node:
        assert listener.wait_for(lambda: lifecycle_state(listener, name) == "unconfigured")
        assert listener.wait_for(
            lambda: diagnostic_values(listener, f"{name}: engine").get("_level") == "2")
        message = diagnostic_values(listener, f"{name}: engine")["_message"]
        reason = message.removeprefix("no model loaded: ")
        assert reason.startswith("torch 2.1.2 is too old: tips_ros needs torch >= 2.6")
        assert node.alive()
        log = node.log()
        assert f"configure failed: {reason}" in log and "Traceback" not in log


@pytest.mark.slow
def test_node_and_cli_import_no_tipsv2_model_code():
    """Import the node and the model commands without loading a TIPSv2 model module.

    With a transformers that lacks TIPSv2 the node still starts and its configure gives the
    sentence.
    """
    code = ("import sys, tips_ros.ros.node, tips_ros.offline.replay, tips_ros.offline.demo; "
            "print(sorted(m for m in sys.modules if 'tipsv2' in m.lower()))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
