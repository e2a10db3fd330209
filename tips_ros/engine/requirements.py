# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Startup check of the runtime the model needs: torch and transformers versions, and CUDA.

Run before any model is loaded (``Engine`` construction: the node's configure, ``tips-ros
replay``/``demo``/``bench``), so a wrong install is one sentence with the fix instead of a
traceback from deep inside transformers. The usual ways to get there: a colcon workspace
whose ``python3`` has Ubuntu's apt torch (CPU-only, older than transformers 5 accepts), an old
transformers without TIPSv2, or ``device: cuda`` with a CPU-only torch or no usable GPU.

No ROS and no transformers import: versions come from the installed distributions' metadata
(what transformers itself reads to decide whether torch is usable); torch is imported only
for the CUDA check.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import sys
from collections.abc import Mapping

from tips_ros.errors import ModelLoadError

#: Oldest versions that work: transformers 5 disables torch below 2.6. The Tipsv2* classes
#: exist since transformers 5.14; the floor is 5.17, the lowest version the suite has run with
#: (the engine, loading, features, ONNX and precision tests on the CPU in a venv with 5.17.0)
#: and the version the GPU checks run with. 5.17 names the vision attention's
#: projections differently from 5.18+ (tips_ros.engine.features.value_output_projections).
#: setup.py's ``install_requires`` states the same bounds (test/test_requirements.py checks).
MINIMUM_VERSIONS: dict[str, tuple[int, ...]] = {"torch": (2, 6), "transformers": (5, 17)}

#: How to install a working torch on each target (README "Install" has the details).
CUDA_TORCH_FIX = ("on x86 with an NVIDIA GPU `{python} -m pip install --upgrade --force-reinstall "
                  "torch` (PyPI's Linux x86 wheel is the CUDA build), on Jetson NVIDIA's JetPack "
                  "wheel")
TORCH_FIX = ("install torch >= 2.6 into this Python ({python}): " + CUDA_TORCH_FIX
             + ", on a CPU `{python} -m pip install --upgrade torch --index-url "
             'https://download.pytorch.org/whl/cpu` (README "Install")')
TRANSFORMERS_FIX = "run `{python} -m pip install 'transformers>=5.17'`"


class RequirementError(ModelLoadError):
    """The installed torch/transformers or the requested device cannot run the model."""


def parse_version(text: str) -> tuple[int, ...]:
    """Return the numeric release part of a version string; ``()`` if none.

    ``2.13.0+cpu`` -> ``(2, 13, 0)``, ``2.5.0a0+872d972e41.nv24.08`` (a Jetson wheel) ->
    ``(2, 5, 0)``.
    """
    match = re.match(r"\s*v?(\d+(?:\.\d+)*)", text)
    return tuple(int(part) for part in match.group(1).split(".")) if match else ()


def _fix(template: str) -> str:
    return template.format(python=sys.executable)


def version_problem(package: str, installed: str | None) -> str | None:
    """Say in one sentence what is wrong if ``package`` is too old for tips_ros, else None.

    ``installed``: its version string (None: not installed); ``package``: ``torch`` or
    ``transformers``.
    """
    minimum = MINIMUM_VERSIONS[package]
    wanted = ".".join(map(str, minimum))
    fix = _fix(TORCH_FIX if package == "torch" else TRANSFORMERS_FIX)
    if installed is None:
        return f"{package} is not installed but tips_ros needs {package} >= {wanted}; {fix}"
    if parse_version(installed) < minimum:
        return f"{package} {installed} is too old: tips_ros needs {package} >= {wanted}; {fix}"
    return None


def installed_version(package: str) -> str | None:
    """Return the version of the installed distribution ``package``, None if not installed."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """Return the versions reports record: python, tips_ros and the libraries it runs on.

    torch, transformers, numpy, rosbags and rclpy (the ``ros-rclpy`` wheel or a ROS 2 install's
    ``rclpy``) as installed, None where one is not; read without importing them.
    """
    from tips_ros import __version__

    libraries = {name: installed_version(name)
                 for name in ("torch", "transformers", "numpy", "rosbags")}
    rclpy = installed_version("ros-rclpy") or installed_version("rclpy")
    return {"python": platform.python_version(), "tips_ros": __version__, **libraries,
            "rclpy": rclpy}


def check_versions(installed: Mapping[str, str | None] | None = None) -> None:
    """Raise RequirementError (one sentence) for the first package that is missing or too old.

    Packages as in MINIMUM_VERSIONS; ``installed`` maps package -> version (default: what is
    installed).
    """
    for package in MINIMUM_VERSIONS:
        version = installed[package] if installed is not None else installed_version(package)
        problem = version_problem(package, version)
        if problem:
            raise RequirementError(problem)


def cuda_problem(device: str, *, torch_version: str, cuda_build: str | None,
                 cuda_available: bool, device_count: int) -> str | None:
    """Say in one sentence why ``device`` (``cuda`` or ``cuda:N``) cannot be used, else None.

    Other devices pass.

    ``cuda_build`` is ``torch.version.cuda`` (None for a CPU-only build), ``cuda_available``
    ``torch.cuda.is_available()`` and ``device_count`` ``torch.cuda.device_count()``.
    """
    if not device.startswith("cuda"):
        return None
    other = "or set device to cpu or auto"
    if cuda_build is None:
        return (f"device '{device}' was requested but torch {torch_version} is a CPU-only build; "
                f"install a CUDA build into this Python ({sys.executable}): "
                f'{_fix(CUDA_TORCH_FIX)} (README "Install"), {other}')
    if not cuda_available:
        return (f"device '{device}' was requested but torch {torch_version} (CUDA {cuda_build}) "
                "finds no usable GPU; check the NVIDIA driver (`nvidia-smi`) and "
                f"CUDA_VISIBLE_DEVICES, {other}")
    index = device.partition(":")[2]
    if index and (not index.isdigit() or int(index) >= device_count):
        return (f"device '{device}' was requested but this machine has {device_count} CUDA "
                f"device(s); use cuda:0 .. cuda:{device_count - 1}, or auto")
    return None


def check_device(device: str) -> None:
    """Raise RequirementError (one sentence) if the CUDA ``device`` asked for is unusable."""
    if not device.startswith("cuda"):
        return
    import torch

    problem = cuda_problem(device, torch_version=torch.__version__,
                           cuda_build=torch.version.cuda,
                           cuda_available=torch.cuda.is_available(),
                           device_count=torch.cuda.device_count())
    if problem:
        raise RequirementError(problem)


def check(device: str) -> None:
    """Run the whole startup check: versions first, then the device.

    ``device``: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    """
    check_versions()
    check_device(device)
