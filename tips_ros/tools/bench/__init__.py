# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros bench``: latency, throughput, stage breakdown and precision of the engine.

The naive transformers pipeline is measured in the same run as the reference. For every
configuration (precision x batch x compile x heads) the bench runs

* a **timed pass**: ``Engine.infer`` on ``batch`` camera frames per call, from the uint8 image
  on the host to numpy outputs on the host (upload, resize, backbone, heads, upsampling,
  colour views, download); reported as p50/p99 ms per frame and frames/s;
* a separate **profiling pass** that runs the same work stage by stage with a device
  synchronisation after each stage (so stage times add up but the pass itself is slower):

  =============  ===========================================================================
  decode         ``imaging.decode_image`` of a ROS ``Image`` message (rgb8, host)
  upload         host -> device copy of the uint8 frames (pinned memory on CUDA)
  resize         resize to the model input and scale to 0..1 on the device
  backbone       one ViT pass returning the four DPT feature maps
  depth          DPT neck + decoder + fp32 bin expectation (at head resolution)
  normals        DPT neck + decoder + fp32 normalisation
  segmentation   DPT neck + decoder (logits)
  heatmaps       cosine similarity of the patch tokens to the cached query embeddings
  postprocess    upsampling to the frame size, renormalisation, argmax, whole batch (device)
  views          rgb8 colour views (normals, palette, heatmap overlay) on the device
  download       device -> host copies of every output array, one synchronisation
  messages       ``outputs.encode_prediction`` + serialised ``Image`` bytes, all topics
  =============  ===========================================================================

* **precision agreement** of the configuration's raw head outputs with the fp32 eager engine
  on the same frames (depth median relative error, normals median angle in degrees,
  segmentation-logit and heatmap Pearson correlation, label agreement);
* the **naive pipeline** once per batch size (:mod:`.naive`); its agreement with the fast
  fp32 path and the speed ratio ``naive p50 / fast p50`` are reported.

``--e2e`` adds an end-to-end run through real rclpy in separate processes (:mod:`.e2e`).

Modules: :mod:`.options` (what a run measures), :mod:`.runner` (:func:`benchmark`),
:mod:`.measure` (timed pass, stage profile, agreement, FLOPs, host waits),
:mod:`.naive`, :mod:`.e2e`, :mod:`.report` (JSON and table); the command is
``tips_ros.cli.bench``.
The bench measures through the engine's public methods only.

All times are milliseconds, rates frames/s, memory bytes.
"""

from tips_ros.tools.bench.common import heads_of, STAGES
from tips_ros.tools.bench.measure import (
    agreement, count_gflop, host_syncs_per_batch, HostSyncCounter, parity, profile_pass,
    raw_outputs,
)
from tips_ros.tools.bench.options import BenchOptions, E2EOptions
from tips_ros.tools.bench.runner import benchmark

__all__ = [
    "BenchOptions", "E2EOptions", "HostSyncCounter", "STAGES", "agreement", "benchmark",
    "count_gflop", "heads_of", "host_syncs_per_batch", "parity", "profile_pass",
    "raw_outputs",
]
