# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""onnxruntime's execution providers: a dropped provider is an error naming what it got.

onnxruntime drops a provider whose libraries do not load and runs on what is left; the
backend checks the session's providers against what it asked for
(:func:`tips_ros.engine.onnx_backend.check_providers`).
"""

from __future__ import annotations

import pytest
import torch

from tips_ros.engine.onnx_backend import check_providers, CPU, CUDA, TENSORRT
from tips_ros.errors import ModelLoadError

GPU = torch.device("cuda", 0)  # a device name only: nothing runs on it


def test_a_requested_provider_that_did_not_load_is_an_error():
    """The bench's TensorRT step must not measure the CUDA provider without a word."""
    with pytest.raises(ModelLoadError) as err:
        check_providers([TENSORRT, CUDA], [CUDA, CPU], GPU, requested=True)
    assert str(err.value) == (
        f"onnxruntime was asked for {TENSORRT}, {CUDA} but runs on {CUDA}, {CPU}: {TENSORRT} "
        "did not load (its libraries are missing or do not match this onnxruntime)")


def test_a_cuda_device_left_with_the_cpu_provider_is_an_error():
    """Inputs bound to CUDA memory cannot meet a CPU session (the automatic choice too)."""
    with pytest.raises(ModelLoadError, match=f"runs on {CPU}: {TENSORRT}, {CUDA} did not load"):
        check_providers([TENSORRT, CUDA, CPU], [CPU], GPU, requested=False)
    with pytest.raises(ModelLoadError, match=f"{CUDA} did not load"):
        check_providers([CUDA], [CPU], GPU, requested=True)


@pytest.mark.parametrize("asked, obtained, device, requested", [
    ([TENSORRT, CUDA, CPU], [CUDA, CPU], GPU, False),  # automatic: TensorRT may fall away
    ([TENSORRT, CUDA, CPU], [TENSORRT, CUDA, CPU], GPU, True),
    ([CUDA], [CUDA, CPU], GPU, True),  # onnxruntime adds the CPU provider itself
    ([CPU], [CPU], torch.device("cpu"), False),
    ([CPU], [CPU], torch.device("cpu"), True),
])
def test_the_providers_asked_for_pass(asked, obtained, device, requested):
    check_providers(asked, obtained, device, requested)
