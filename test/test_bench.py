# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros bench`` on the tiny model on CPU.

The JSON report is complete, and the naive transformers pipeline and the fast path agree
numerically in the same run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tips_ros import cli
from tips_ros.cli import bench as bench_command
from tips_ros.errors import UsageError
from tips_ros.tools.bench import BenchOptions, benchmark, heads_of, STAGES


@pytest.fixture(scope="module")
def report(tiny_models, tmp_path_factory) -> dict:
    dpt, text = tiny_models
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    code = cli.main(["bench", "--model", str(dpt), "--text-model", str(text), "--device", "cpu",
                     "--precision", "fp32,bf16", "--batch", "1,2", "--heads", "all,depth",
                     "--size", "160x120", "--input-size", "112", "--iters", "3", "--warmup", "1",
                     "--profile-iters", "1", "--json", str(out)])
    assert code == 0
    return json.loads(out.read_text())


@pytest.mark.slow
def test_report_is_marked_complete(report):
    assert report["complete"] is True and len(report["configs"]) == 8


@pytest.mark.slow
def test_report_records_machine_versions_and_command(report):
    assert {"cpu", "cores", "gpu", "driver", "device"} <= set(report["machine"])
    assert report["machine"]["device"] == "cpu" and report["machine"]["cores"] >= 1
    assert {"python", "torch", "transformers", "rclpy", "tips_ros"} <= set(report["versions"])
    assert report["command"].startswith("tips-ros bench ")
    assert "--precision fp32,bf16" in report["command"]
    assert report["date"] and report["stages"] == list(STAGES)


@pytest.mark.slow
def test_every_configuration_is_reported(report):
    keys = {(c["precision"], c["batch"], c["heads"]) for c in report["configs"]}
    assert keys == {(p, b, h) for p in ("fp32", "bf16") for b in (1, 2)
                    for h in ("all", "depth")}
    for config in report["configs"]:
        ms = config["ms_per_frame"]
        assert 0 < ms["p50"] <= ms["p99"] and ms["n"] == 3 and config["fps"] > 0
        assert config["input_size"] == [112, 112] and config["frame_size"] == [160, 120]
        assert config["speedup_vs_naive"] > 0 and config["peak_device_memory_bytes"] is None
        stages = config["stages_ms_per_frame"]
        assert all(v >= 0 for v in stages.values())
        assert stages["total"] == pytest.approx(sum(v for k, v in stages.items() if k != "total"))
        expected = {"decode", "upload", "resize", "backbone", "postprocess", "views", "download",
                    "messages"}
        expected |= ({"depth"} if config["heads"] == "depth"
                     else {"depth", "normals", "segmentation", "heatmaps"})
        assert set(stages) - {"total"} == expected


@pytest.mark.slow
def test_reduced_precision_agrees_with_fp32(report):
    for config in report["configs"]:
        result = config["agreement_vs_fp32"]
        assert result["depth_median_rel_error"] <= 0.01
        assert result["normals_median_angle_deg"] <= 2.0
        assert result["segmentation_logit_corr"] >= 0.99 and result["heatmap_corr"] >= 0.99
        if config["precision"] == "fp32":
            assert result["depth_median_rel_error"] == 0.0
            assert result["heatmap_corr"] == pytest.approx(1.0)


@pytest.mark.slow
def test_arithmetic_cost_is_counted_per_frame(report):
    """GFLOP per frame (torch.utils.flop_counter) depends on the heads only.

    The same for any precision and batch size, lower with only the depth head, higher for the
    naive pipeline (its second vision pass).
    """
    gflop = {(c["precision"], c["batch"], c["heads"]): c["gflop_per_frame"]
             for c in report["configs"]}
    for heads in ("all", "depth"):
        values = [v for (p, b, h), v in gflop.items() if h == heads]
        assert min(values) > 0, (heads, values)
        assert max(values) == pytest.approx(min(values), rel=1e-6), (heads, values)
    assert gflop[("fp32", 1, "depth")] < gflop[("fp32", 1, "all")]
    for batch in ("1", "2"):
        assert report["naive"][batch]["gflop_per_frame"] > gflop[("fp32", 1, "all")]


@pytest.mark.slow
def test_naive_pipeline_agrees_with_the_fast_path(report):
    """Same weights, independent code (PIL preprocessing, transformers, second vision pass)."""
    for batch in ("1", "2"):
        naive = report["naive"][batch]
        assert naive["p50"] > 0 and naive["fps"] > 0
        result = naive["agreement_with_fast_fp32"]
        assert result["depth_median_rel_error"] <= 1e-3, result
        assert result["normals_median_angle_deg"] <= 0.5, result
        assert result["segmentation_logit_corr"] >= 0.999, result
        assert result["heatmap_corr"] >= 0.999, result
        assert result["label_agreement"] >= 0.95, result


def test_argument_errors_are_user_errors():
    parser = cli.build_parser("bench")
    with pytest.raises(UsageError):
        bench_command.options(parser.parse_args(["bench", "--size", "640by480"]), "m", "t")
    with pytest.raises(UsageError):
        heads_of("depth+sky")
    assert heads_of("normals_color") == {"normals_color", "normals"}
    assert cli.main(["bench", "--device", "cpu"]) == 2  # neither --model nor --make-model


@pytest.mark.parametrize("fields, words", [
    ({"backends": ("tensorrt",)}, "--backend takes"), ({"backends": ()}, "--backend takes"),
    ({"heads": ("all", "depth+sky")}, "sky"), ({"batches": (0,)}, "positive"),
    ({"precisions": ()}, "one item"), ({"precisions": ("fp8",)}, "precision must be one of"),
    ({"input_size": 100}, "input_size must be in"),
    ({"parameters": {"heatmap_mode": "max"}}, "heatmap_mode must be one of"),
    ({"parameters": {"input_size": 56}}, "input_size is set by the option input_size"),
    ({"parameters": {"precision": "fp16"}}, "precision is set by the option precisions"),
    ({"parameters": {"cameras": ["front"]}}, "cameras is not a parameter the bench applies"),
    ({"parameters": {"prompt_templates": ["a {}"] * 500}, "queries": ("a",) * 32},
     "would be 16000 prompts"),
], ids=["backend", "no-backend", "head", "batch", "no-precision", "precision", "input-size",
        "parameter-value", "own-field", "swept", "live-only", "prompts"])
def test_bad_options_are_rejected_before_anything_loads(fields: dict, words: str) -> None:
    """Bad options fail when built: nothing is loaded from the (absent) model paths."""
    with pytest.raises(UsageError, match=words) as raised:
        BenchOptions(model="/nonexistent/dpt", text_model="/nonexistent/text", **fields)
    assert "\n" not in str(raised.value)


def test_the_e2e_node_is_started_with_the_measured_configuration() -> None:
    """Every applied parameter off its default reaches the node's ``-p`` overrides, as typed."""
    import yaml

    from tips_ros.engine.parameters import DEFAULTS
    from tips_ros.tools.bench.e2e import _node_command
    from tips_ros.tools.bench.options import APPLIED, E2EOptions

    options = BenchOptions("/m/dpt", "/m/text", device="cpu", output_size="480x270",
                           queries=("a chair", "red, blue door"), input_size=224,
                           parameters={"heatmap_mode": "softmax", "keep_aspect": True,
                                       "prompt_templates": ("a photo of {}.",)},
                           e2e=E2EOptions())
    command = _node_command(options, "bf16")
    overrides = dict(item.split(":=", 1) for item in command[command.index("--ros-args") + 1:]
                     if ":=" in item and not item.startswith("__"))
    given = {name: yaml.safe_load(text) for name, text in overrides.items()}
    expected = options.node_params(precision="bf16")
    for name in APPLIED:
        value = getattr(expected, name)
        if name in given:
            assert given[name] == (list(value) if isinstance(value, tuple) else value), name
        else:
            assert value == DEFAULTS[name] or list(value) == list(DEFAULTS[name]), name
    assert given["text_queries"] == ["a chair", "red, blue door"]
    assert given["precision"] == "bf16" and given["keep_aspect"] is True
    assert given["output_size"] == "480x270" and given["publish_points"] is True


@pytest.mark.slow
def test_typed_api_is_the_whole_run(tiny_models, tmp_path):
    """benchmark(BenchOptions) runs without the command line, which only builds the options."""
    dpt, text = tiny_models
    options = BenchOptions(model=str(dpt), text_model=str(text), device="cpu",
                           precisions=("fp32",), batches=(1,), heads=("depth",),
                           frame_size=(64, 48), input_size=56, iters=1, warmup=0,
                           profile_iters=1)
    report = benchmark(options, tmp_path / "report.json")
    assert json.loads((tmp_path / "report.json").read_text())["complete"] is True
    assert report["complete"] is True and report["model"] == str(dpt) and report["e2e"] is None
    (config,) = report["configs"]
    assert config["heads"] == "depth" and config["batch"] == 1
    assert config["frame_size"] == [64, 48] and config["input_size"] == [56, 56]
    assert set(report["naive"]) == {"1"}


@pytest.mark.slow
def test_onnxruntime_measures_the_given_onnx_model(tiny_models, tmp_path):
    """A given onnx_model parameter (a params file's): that graph is measured, not an export."""
    from tips_ros.engine.onnx_export import export
    from tips_ros.engine.prediction import HEADS

    dpt, text = (str(path) for path in tiny_models)
    export(dpt, tmp_path / "given.onnx", HEADS, (56, 56), None, False)
    options = BenchOptions(model=dpt, text_model=text, device="cpu", precisions=("auto",),
                           backends=("onnxruntime",), batches=(1,), heads=("depth",),
                           frame_size=(64, 48), input_size=56, iters=1, warmup=0,
                           profile_iters=1, parameters={"onnx_model": str(tmp_path / "given.onnx"),
                                                        "heatmap_mode": "softmax"})
    report = benchmark(options)
    (config,) = report["configs"]
    assert config["backend"] == "onnxruntime" and config["export_s"] is None
    assert config["precision"] == "fp32"  # the file's network
    assert config["agreement_vs_fp32"]["depth_median_rel_error"] <= 1e-5
    assert report["configuration"]["onnx_model"] == str(tmp_path / "given.onnx")
    assert report["configuration"]["heatmap_mode"] == "softmax"
    assert report["configuration"]["backend"] == ["onnxruntime"]


@pytest.mark.slow
def test_end_to_end_mode_through_ros_processes(tiny_models, tmp_path):
    """--e2e: camera process -> tips_node process -> subscribers in the bench process.

    With a grid of two output sizes at one camera size: one run per cell, and the ``e2e``
    object is the cell of --size/--output-size (not run twice).
    """
    from ros_harness import configure_this_process

    configure_this_process()
    dpt, text = tiny_models
    out = tmp_path / "e2e.json"
    code = cli.main(["bench", "--model", str(dpt), "--text-model", str(text), "--device", "cpu",
                     "--precision", "fp32", "--batch", "1", "--heads", "depth",
                     "--size", "160x120", "--input-size", "112", "--iters", "2", "--warmup", "1",
                     "--profile-iters", "1", "--e2e", "--e2e-rate", "5", "--e2e-frames", "10",
                     "--e2e-warmup-frames", "2", "--output-size", "80x60", "--json", str(out),
                     "--e2e-grid-sizes", "160x120", "--e2e-grid-output-sizes", "input,80x60"])
    assert code == 0
    report = json.loads(out.read_text())
    e2e, grid = report["e2e"], report["e2e_grid"]
    assert [(cell["frame_size"], cell["output_size"]) for cell in grid] == \
        [([160, 120], "input"), ([160, 120], "80x60")]
    assert e2e == grid[1] and grid[0]["node_log"] != grid[1]["node_log"]
    # the same message around 160x120 instead of 80x60 float32 pixels
    header = e2e["bytes_per_frame"]["depth"] - 80 * 60 * 4
    assert grid[0]["bytes_per_frame"]["depth"] == header + 160 * 120 * 4
    # the node ran at --output-size: its depth messages, and the bench's, are 80x60 32FC1
    from tips_ros.io.cdr import serialize_image
    from tips_ros.io.imaging import encode_image

    depth_bytes = len(serialize_image(0, 0, "camera_optical_frame",
                                      encode_image(np.zeros((60, 80), np.float32), "32FC1")))
    assert e2e["output_size"] == "80x60" and e2e["bytes_per_frame"]["depth"] == depth_bytes
    assert e2e["bytes_per_frame"]["total"] == sum(
        v for k, v in e2e["bytes_per_frame"].items() if k != "total")
    assert e2e["node_diagnostics"]["bytes_per_frame.depth"] == depth_bytes
    assert e2e["frames_offered"] == 10 and e2e["frame_size"] == [160, 120]
    assert e2e["frames_complete"] >= 1 and e2e["frames_complete"] + e2e["drops"] == 10
    assert 0 < e2e["latency_ms"]["p50"] <= e2e["latency_ms"]["p99"]
    assert 0 < e2e["achieved_rate_hz"] <= 5.5
    assert set(e2e["ros_side_ms_per_frame"]) >= {"decode", "messages", "publish"}
    node = e2e["node_diagnostics"]  # the node's own /diagnostics, measured while streaming
    assert node["frames_processed"] >= e2e["frames_complete"]
    assert node["ros_side_p50_ms"] > 0 and node["engine_p50_ms"] > 0
    # the organised cloud and the detection arrays were subscribed to and arrived
    others = e2e["frames_received_other"]
    assert set(others) == {"points", "detections", "detections_3d"}
    assert min(others.values()) >= e2e["frames_complete"] and "points" in e2e["topics"]


@pytest.mark.slow
def test_a_run_stopped_midway_leaves_the_finished_results_as_valid_json(tiny_models, tmp_path):
    """SIGTERM (what `timeout` sends) midway leaves valid JSON.

    Sent after the first configuration: the JSON file holds the naive results and the
    finished configurations, marked incomplete.
    """
    dpt, text = tiny_models
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tips_ros.cli", "bench", "--model", str(dpt),
         "--text-model", str(text), "--device", "cpu", "--precision", "fp32", "--batch", "1",
         "--heads", "depth,all,all,all,all,all",
         "--iters", "3", "--warmup", "1", "--profile-iters", "1", "--json", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300  # only reached when the bench is broken
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and json.loads(out.read_text())["configs"]:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    finally:
        proc.kill()
    report = json.loads(out.read_text())
    assert report["complete"] is False and "1" in report["naive"]
    assert 1 <= len(report["configs"]) < 6 and report["configs"][0]["heads"] == "depth"


@pytest.mark.slow
def test_end_to_end_stops_at_once_when_the_node_process_dies(tiny_models, tmp_path):
    """A node that exits (a ``-p`` override rcl cannot parse) ends the e2e run, camera unstarted.

    Before, the bench waited 120 s for the node's outputs, then started the camera, which
    waited 120 s more for a subscriber.
    """
    from ros_harness import configure_this_process

    from tips_ros.tools.bench.e2e import bench_e2e
    from tips_ros.tools.bench.options import E2EOptions
    from tips_ros.tools.camera_sim import make_frames

    configure_this_process()
    dpt, text = tiny_models
    # "[..." opens a YAML list that never closes: rclpy.init fails and the process exits 1
    # (a value out of range no longer ends the node: it falls back to the default)
    options = BenchOptions(model=f"[{dpt}", text_model=str(text), device="cpu",
                           precisions=("fp32",), e2e=E2EOptions(5.0, 4, 1))
    log = (tmp_path / "node.log").open("w+")
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"tips_node process exited with code 1 before its "
                                           r"outputs appeared; node log: .*node\.log"):
        bench_e2e(options, make_frames(1, 48, 64), node_log=log)
    assert time.monotonic() - start < 100
    log.seek(0)
    assert "Couldn't parse parameter override rule" in log.read()  # the node's own error
