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
class, so one code object) share Dynamo's per-code cache. So a compiled engine pads every
batch to a power of two (:func:`padded_batch`: 1, 2, 4, 8, ... at most 7 sizes up to 64) and
warms up exactly those sizes (:func:`batch_sizes`), so nothing compiles mid-stream. Compiling
raises Dynamo's ``recompile_limit`` to :data:`RECOMPILE_LIMIT` and makes passing it an error
(``fail_on_recompile_limit_hit``) instead of a silent fall-back to eager for the rest of the
process. CUDA-graph trees (torch 2.11) must be recorded and replayed on one thread: warm up
on the thread that infers (the node's worker does).
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
#: Dynamo cache entries allowed per code object: 3 decoders (one code object) x the 7 padded
#: batch sizes up to 64, with room for a few input sizes. Set process-wide when compiling.
RECOMPILE_LIMIT = 64


def padded_batch(count: int) -> int:
    """Return the batch size a compiled engine runs ``count`` frames as: the next power of 2."""
    return 1 << max(0, count - 1).bit_length()


def batch_sizes(max_batch: int) -> tuple[int, ...]:
    """Return every padded batch size of 1..``max_batch`` frames: (1, 2, 4, ...)."""
    return tuple(1 << i for i in range(padded_batch(max_batch).bit_length()))


def accelerate(model: Tipsv2DptForDensePrediction, config: EngineConfig) -> None:
    """Apply ``config.channels_last`` and ``config.compile`` to a loaded model, in place."""
    if config.compile not in COMPILE_MODES:
        raise ValueError(f"compile must be one of {COMPILE_MODES}, not '{config.compile}'")
    if config.channels_last:
        for name in DPT_MODULES:
            getattr(model, name).to(memory_format=torch.channels_last)
    if config.compile != "none":
        _limit_recompiles()
        # the mode is inductor's; other backends (eager, aot_eager: CPU checks) take none
        mode = config.compile if config.compile_backend == "inductor" else None
        for name in ("backbone", *DPT_MODULES):
            module = getattr(model, name)
            module.forward = torch.compile(module.forward, mode=mode, dynamic=False,
                                           backend=config.compile_backend)
        if config.compile == "reduce-overhead":
            model.backbone.register_forward_pre_hook(_new_cudagraph_step)


def _limit_recompiles() -> None:
    """Raise Dynamo's per-code limit to :data:`RECOMPILE_LIMIT`; passing it raises.

    The names changed in torch 2.7 (``cache_size_limit`` -> ``recompile_limit``); both work.
    """
    config = torch._dynamo.config
    new = hasattr(config, "recompile_limit")
    limit = "recompile_limit" if new else "cache_size_limit"
    setattr(config, limit, max(getattr(config, limit), RECOMPILE_LIMIT))
    setattr(config, "fail_on_recompile_limit_hit" if new else "fail_on_cache_limit_hit", True)


def _new_cudagraph_step(*_: object) -> None:
    """Mark the start of a frame for CUDA-graph trees (see the module docstring)."""
    torch.compiler.cudagraph_mark_step_begin()
