# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""ONNX export and the onnxruntime backend against the torch engine (tiny model, CPU).

Tolerances are the issue's: depth and heatmaps within 1e-4 relative, labels >= 99.9 % equal,
normals within 0.1 degree at the 99th percentile (fp32); an fp16 export within the bf16
tolerances of test_precision.py. The exported files are written by the real CLI, checked by
the ONNX checker and run by onnxruntime's CPU execution provider, in the engine, in replay
and in the node (separate processes, real rclpy).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from ros_harness import (
    NodeProcess, diagnostic_values, lifecycle_state, node_params, start_publisher,
)
from rosbags.highlevel import AnyReader
from sensor_msgs.msg import Image
from test_precision import assert_within_issue_tolerances

from tips_ros.engine import Engine, EngineConfig
from tips_ros.engine.loading import ModelLoadError
from tips_ros.engine.onnx_format import OPSET
from tips_ros.engine.prediction import HEADS
from tips_ros.offline.bags import SYNTH_TOPICS, write_synth_bag
from tips_ros.offline.inputs import ground_truth
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.replay import replay
from tips_ros.tools.bench import agreement, parity, raw_outputs
from tips_ros.tools.camera_sim import make_frames

# every test here starts processes (see conftest.py: the fast lane)
pytestmark = pytest.mark.slow

QUERIES = ("floor", "a red box", "chair")
SIZE = 448  # the node's and replay's default input size
SMALL = 112
ALL_OUTPUTS = ["depth", "normals", "segmentation", "heatmaps",
               "normals_color", "segmentation_color", "heatmaps_color"]


def tips_ros(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tips_ros.cli", *args], capture_output=True,
                          text=True, timeout=600)


def export_cli(model: Path, out: Path, *options: str) -> Path:
    result = tips_ros("export", "--onnx", str(out), "--model", str(model), *options)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ONNX checker passed" in result.stdout
    return out


@pytest.fixture(scope="module")
def full_onnx(tiny_models, tmp_path_factory) -> Path:
    """Every head, 448x448, dynamic batch: what the node and replay run."""
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    return export_cli(tiny_models[0], out, "--input-size", str(SIZE), str(SIZE),
                      "--batch", "dynamic")


@pytest.fixture(scope="module")
def depth_onnx(tiny_models, tmp_path_factory) -> Path:
    """Depth only, 112x112, a fixed batch of 2."""
    out = tmp_path_factory.mktemp("onnx") / "depth.onnx"
    return export_cli(tiny_models[0], out, "--heads", "depth", "--input-size", str(SMALL),
                      str(SMALL), "--batch", "2")


def engine(tiny_models, **options) -> Engine:
    dpt, text = tiny_models
    result = Engine(EngineConfig(model=str(dpt), text_model=str(text), device="cpu",
                                 **{"precision": "fp32", "input_size": SIZE, **options}))
    result.set_queries(QUERIES)
    return result


def assert_issue_fp32_tolerances(reference, other) -> None:
    """Predictions (image resolution) of the onnxruntime engine against the torch engine."""
    figures = parity(reference, other)
    assert figures["depth_max_rel"] <= 1e-4 and figures["heatmaps_max_rel"] <= 1e-4, figures
    assert figures["labels_equal"] >= 0.999 and figures["normals_p99_deg"] <= 0.1, figures
    for ref, out in zip(reference, other, strict=True):
        assert ref.heatmaps.shape == out.heatmaps.shape and ref.depth.shape == out.depth.shape
        for view in ("normals_color", "segmentation_color", "heatmaps_color"):
            differs = np.abs(getattr(ref, view).astype(int) - getattr(out, view)).max(-1) > 1
            assert differs.mean() <= 0.001, view


def test_export_writes_a_checked_graph_with_its_metadata(full_onnx: Path):
    model = onnx.load(str(full_onnx))
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["tips_ros.heads"] == "depth,normals,segmentation,heatmaps"
    assert meta["tips_ros.input_size"] == f"{SIZE},{SIZE}"
    assert (meta["tips_ros.batch"], meta["tips_ros.opset"]) == ("dynamic", str(OPSET))
    assert meta["tips_ros.precision"] == "fp32" and int(meta["tips_ros.embedding_dim"]) > 0
    assert next(o.version for o in model.opset_import if o.domain == "") == OPSET

    def dims(value) -> list:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    inputs = {i.name: dims(i) for i in model.graph.input}
    width = int(meta["tips_ros.embedding_dim"])
    assert inputs == {"pixels": ["batch", 3, SIZE, SIZE], "queries": ["queries", width]}
    outputs = {o.name: dims(o) for o in model.graph.output}
    assert list(outputs) == list(HEADS)
    head = SIZE * 4 // 7  # DPT heads output at 1/1.75 of the input
    assert outputs["depth"] == ["batch", head, head]
    assert outputs["normals"] == ["batch", 3, head, head]
    assert outputs["segmentation"] == ["batch", 150, head, head]
    assert outputs["heatmaps"] == ["batch", "queries", SIZE // 14, SIZE // 14]


def test_onnxruntime_engine_matches_torch_fp32(tiny_models, full_onnx: Path):
    torch_engine = engine(tiny_models)
    ort_engine = engine(tiny_models, backend="onnxruntime", onnx_model=str(full_onnx))
    assert ort_engine.backend.providers == ("CPUExecutionProvider",)
    with pytest.raises(RuntimeError, match="needs backend torch"):  # backbone + heads: one graph
        ort_engine.backbone(torch.zeros((1, 3, SIZE, SIZE)))
    assert ort_engine.class_names == torch_engine.class_names
    frames = make_frames(3, 96, 128, seed=5) + make_frames(1, 120, 90, seed=6)
    assert_issue_fp32_tolerances(torch_engine.infer(frames, ALL_OUTPUTS),
                                 ort_engine.infer(frames, ALL_OUTPUTS))
    # raw head outputs: the seam both backends share
    reference, other = raw_outputs(torch_engine, frames[:3]), raw_outputs(ort_engine, frames[:3])
    for name in ("depth", "segmentation", "heatmaps"):
        assert np.abs(reference[name] - other[name]).max() <= 1e-4 * np.abs(reference[name]).max()
    assert agreement(reference, other)["label_agreement"] >= 0.999
    # queries are a graph input: a new set needs no new export
    for e in (torch_engine, ort_engine):
        e.set_queries(["wall", "door"])
        e.config.heatmap_mode = "softmax"
    a, b = (e.infer(frames[:1], ["heatmaps"])[0] for e in (torch_engine, ort_engine))
    assert a.heatmaps.shape[-1] == b.heatmaps.shape[-1] == 2
    assert np.abs(a.heatmaps - b.heatmaps).max() <= 1e-4
    # one pass for the 4 frames (one model input size), raw_outputs, the softmax frame
    assert ort_engine.stats.backbone_calls == 3 and ort_engine.stats.head_calls["depth"] == 2


def test_fixed_batch_subset_file(tiny_models, depth_onnx: Path):
    """Three frames through a batch-2 file (the last chunk padded); only its heads."""
    torch_engine = engine(tiny_models, input_size=SMALL)
    ort_engine = engine(tiny_models, input_size=SMALL, backend="onnxruntime",
                        onnx_model=str(depth_onnx))
    assert ort_engine.heads == ("depth",)
    frames = make_frames(3, 96, 128, seed=7)
    for ref, out in zip(*(e.infer(frames, ["depth"]) for e in (torch_engine, ort_engine))):
        assert np.abs(ref.depth - out.depth).max() <= 1e-4 * np.abs(ref.depth).max()
    with pytest.raises(ValueError, match="not in the ONNX file"):
        ort_engine.infer(frames, ["normals"])


def test_fp16_export_within_the_bf16_tolerances(tiny_models, tmp_path: Path):
    path = export_cli(tiny_models[0], tmp_path / "fp16.onnx", "--fp16", "--input-size",
                      str(SMALL), str(SMALL))
    assert {p.key: p.value for p in onnx.load(str(path)).metadata_props}[
        "tips_ros.precision"] == "fp16"
    frames = make_frames(2, 96, 128, seed=3)
    reference = raw_outputs(engine(tiny_models, input_size=SMALL), frames)
    ort_engine = engine(tiny_models, input_size=SMALL, precision="auto", backend="onnxruntime",
                        onnx_model=str(path))
    assert_within_issue_tolerances(agreement(reference, raw_outputs(ort_engine, frames)))
    with pytest.raises(ModelLoadError, match="fp16 network but precision is fp32"):
        engine(tiny_models, input_size=SMALL, backend="onnxruntime", onnx_model=str(path))


def test_replay_with_onnxruntime_matches_torch(tiny_models, full_onnx: Path, tmp_path: Path):
    bag = write_synth_bag(tmp_path / "in", 2, (128, 96))
    depth = {}
    for name, e in (("torch", engine(tiny_models)),
                    ("onnxruntime", engine(tiny_models, backend="onnxruntime",
                                           onnx_model=str(full_onnx)))):
        run = RunOptions(image_topic=SYNTH_TOPICS["image"], queries=QUERIES)
        report = replay(ReplayOptions(bag=bag, output=tmp_path / name, run=run), e)
        assert report["frames_out"] == 2 and report["frames_failed"] == 0
        with AnyReader([tmp_path / name]) as reader:
            conns = [c for c in reader.connections if c.topic == "/tips/depth"]
            depth[name] = [ground_truth("depth", reader.deserialize(raw, c.msgtype))
                           for c, _, raw in reader.messages(connections=conns)]
            assert {"/tips/normals", "/tips/segmentation", "/tips/heatmaps"} <= set(reader.topics)
    assert len(depth["torch"]) == len(depth["onnxruntime"]) == 2
    for a, b in zip(depth["torch"], depth["onnxruntime"]):
        assert np.abs(a - b).max() <= 1e-4 * np.abs(a).max()


def test_mismatched_files_fail_with_one_sentence(tiny_models, full_onnx: Path,
                                                 depth_onnx: Path, tmp_path: Path):
    def load_error(onnx_model: str, **options) -> str:
        with pytest.raises(ModelLoadError) as err:
            engine(tiny_models, backend="onnxruntime", onnx_model=onnx_model, **options)
        assert "\n" not in str(err.value)
        return str(err.value)

    assert "does not exist" in load_error(str(tmp_path / "missing.onnx"))
    assert "needs onnx_model" in load_error("")
    assert "exported for input 112x112" in load_error(str(depth_onnx))
    assert "input 448x448" in load_error(str(full_onnx), input_size=224)
    assert "torch only" in load_error(str(full_onnx), compile="default")
    newer = onnx.load(str(depth_onnx))
    next(o for o in newer.opset_import if o.domain == "").version = 99
    onnx.save(newer, str(tmp_path / "opset99.onnx"))
    assert "uses opset 99 but onnxruntime" in load_error(str(tmp_path / "opset99.onnx"),
                                                         input_size=SMALL)
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert "cannot load ONNX file" in load_error(str(tmp_path / "junk.onnx"))
    foreign = onnx.load(str(depth_onnx))
    del foreign.metadata_props[:]
    onnx.save(foreign, str(tmp_path / "foreign.onnx"))
    assert "not written by" in load_error(str(tmp_path / "foreign.onnx"), input_size=SMALL)
    # the command line: exit 2 and one sentence; a provider this onnxruntime lacks; other heads
    bag = write_synth_bag(tmp_path / "in", 1, (32, 24))
    common = ["replay", str(bag), "--image-topic", SYNTH_TOPICS["image"], "--model",
              str(tiny_models[0]), "--text-model", str(tiny_models[1]), "--device", "cpu",
              "--backend", "onnxruntime"]
    for extra, env, expected in (
            (["--onnx-model", str(full_onnx)],
             {"TIPS_ROS_ORT_PROVIDERS": "TensorrtExecutionProvider"},
             "TensorrtExecutionProvider (TIPS_ROS_ORT_PROVIDERS) is not available"),
            (["--onnx-model", str(tmp_path / "missing.onnx")], {}, "does not exist")):
        result = subprocess.run([sys.executable, "-m", "tips_ros.cli", *common, "--output",
                                 str(tmp_path / "out"), *extra], capture_output=True, text=True,
                                timeout=600, env={**os.environ, **env})
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_node_runs_onnxruntime_end_to_end(tiny_models, full_onnx: Path, depth_onnx: Path,
                                          listener):
    """Run the node in its own process with backend onnxruntime.

    Every core output arrives, and its depth equals the torch engine's for the same frame; a
    file without the node's heads fails configure with the reason on /diagnostics.
    """
    listener.clear()
    for topic in ("image", "depth", "normals", "segmentation", "heatmaps", "heatmaps/color"):
        listener.subscribe(Image, f"/ox/{topic}")
    params = node_params(tiny_models, backend="onnxruntime", onnx_model=str(full_onnx),
                         text_queries=list(QUERIES))
    with NodeProcess(params, ros_args=["-r", "__ns:=/ox"]) as node, \
            start_publisher("--topic", "/ox/image", "--frames", "0", "--rate", "3", "--width",
                            "160", "--height", "120"):
        outputs = ("depth", "normals", "segmentation", "heatmaps", "heatmaps/color")
        assert listener.wait_for(
            lambda: all(len(listener.get(f"/ox/{t}")) >= 2 for t in outputs)), node.log()
        assert "backend onnxruntime" in node.log() and node.alive()
    images = {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec: m
              for m in listener.get("/ox/image")}
    depth = listener.get("/ox/depth")[-1]
    stamp = depth.header.stamp.sec * 10**9 + depth.header.stamp.nanosec
    rgb = np.frombuffer(images[stamp].data, np.uint8).reshape(images[stamp].height,
                                                              images[stamp].width, 3)
    assert images[stamp].encoding == "rgb8"
    expected = engine(tiny_models).infer([rgb], ["depth"])[0].depth
    published = np.frombuffer(depth.data, "<f4").reshape(depth.height, depth.width)
    assert np.abs(published - expected).max() <= 1e-4 * np.abs(expected).max()
    heatmaps = listener.get("/ox/heatmaps")[-1]
    assert heatmaps.encoding == f"32FC{len(QUERIES)}"

    bad = node_params(tiny_models, backend="onnxruntime", onnx_model=str(depth_onnx),
                      input_size=SMALL)
    with NodeProcess(bad, ros_args=["-r", "__ns:=/oxbad"]) as node:
        assert listener.wait_for(
            lambda: lifecycle_state(listener, "/oxbad/tips_node") == "unconfigured")
        assert listener.wait_for(lambda: "lacks the heads normals, segmentation, heatmaps" in
                                 diagnostic_values(listener, "/oxbad/tips_node: engine").get(
                                     "_message", "")), node.log()
        assert node.alive() and "Traceback" not in node.log()
