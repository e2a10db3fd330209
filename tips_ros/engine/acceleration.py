# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Optional speed-ups of a loaded Engine: channels-last convolutions and ``torch.compile``.

Both leave the model's arithmetic unchanged (tests compare them with the eager fp32 path):
``channels_last`` changes only the memory layout of the DPT necks' and decoders' convolution
weights and activations; ``compile`` wraps the backbone and each DPT neck/decoder with
``torch.compile`` in the configured mode (``reduce-overhead`` also captures CUDA graphs for
static shapes, so warm up at configure with ``Engine.warmup``). With ``reduce-overhead`` each
backbone call starts a new CUDA-graph step (``torch.compiler.cudagraph_mark_step_begin``): one
frame's graph outputs stay valid until the next frame's backbone pass, and the graphs of the
necks and decoders may reuse their memory from then on.

Compiled graphs are specialised to their input shapes (``dynamic=False``): each compiled
module gets one graph per batch size and input size it sees, and the three DPT decoders (one
class, so one code object) share Dynamo's per-code cache. Compiling raises Dynamo's
``recompile_limit`` to :data:`RECOMPILE_LIMIT` and makes passing it an error
(``fail_on_recompile_limit_hit``) instead of a silent fall-back to eager for the rest of the
process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import Tipsv2DptForDensePrediction

    from tips_ros.engine.config import EngineConfig

DPT_MODULES = (
    "depth_neck", "depth_decoder", "normals_neck", "normals_decoder",
    "segmentation_neck", "segmentation_decoder",
)
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
#: Dynamo cache entries allowed per code object: 3 decoders (one code object) x up to 8 batch
#: sizes, with room for a second input size. Set process-wide when an engine compiles.
RECOMPILE_LIMIT = 64


def accelerate(model: Tipsv2DptForDensePrediction, config: EngineConfig) -> None:
    """Apply ``config.channels_last`` and ``config.compile`` to a loaded model, in place."""
    if config.compile not in COMPILE_MODES:
        raise ValueError(f"compile must be one of {COMPILE_MODES}, not '{config.compile}'")
    if config.channels_last:
        for name in DPT_MODULES:
            getattr(model, name).to(memory_format=torch.channels_last)
    if config.compile != "none":
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit,
                                                   RECOMPILE_LIMIT)
        torch._dynamo.config.fail_on_recompile_limit_hit = True
        # the mode is inductor's; other backends (eager, aot_eager: CPU checks) take none
        mode = config.compile if config.compile_backend == "inductor" else None
        for name in ("backbone", *DPT_MODULES):
            module = getattr(model, name)
            module.forward = torch.compile(module.forward, mode=mode, dynamic=False,
                                           backend=config.compile_backend)
        if config.compile == "reduce-overhead":
            model.backbone.register_forward_pre_hook(_new_cudagraph_step)


def _new_cudagraph_step(*_: object) -> None:
    """Mark the start of a frame for CUDA-graph trees (see the module docstring)."""
    torch.compiler.cudagraph_mark_step_begin()
