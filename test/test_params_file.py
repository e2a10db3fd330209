# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``--params-file``: the node's own YAML runs the same engine configuration offline.

``tips-ros replay BAG --params-file FILE`` (in process, through the command line's ``main``)
against the configuration the node makes from the same file (its code path without ROS:
``read_params`` of the file over the defaults, then ``EngineConfig.from_params``): the
effective configurations and one frame's depth agree; flags given override the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from tips_ros.cli import main
from tips_ros.engine import Engine, EngineConfig
from tips_ros.engine.parameters import DEFAULTS, read_params
from tips_ros.errors import UsageError
from tips_ros.offline.bags import SYNTH_TOPICS, write_synth_bag
from tips_ros.offline.inputs import ground_truth
from tips_ros.offline.params_file import read_params_file
from tips_ros.offline.synthetic import render_sequence

REPO = Path(__file__).resolve().parents[1]
SIZE = (64, 48)  # synthetic frame, pixels


def node_config(params_file: Path, **overrides: object) -> EngineConfig:
    """Return the EngineConfig the node makes from ``params_file`` (plus ``-p`` overrides)."""
    values = {**DEFAULTS, **read_params_file(params_file), **overrides}
    return EngineConfig.from_params(read_params(values.__getitem__))


def replay_report(tmp_path: Path, bag: Path, *flags: str) -> dict:
    report = tmp_path / "report.json"
    code = main(["replay", str(bag), "--output", str(tmp_path / "out"), "--image-topic",
                 SYNTH_TOPICS["image"], "--report", str(report), "--heads", "depth",
                 "--max-frames", "1", *flags])
    assert code == 0
    return json.loads(report.read_text())


def first_depth(out: Path) -> np.ndarray:
    with AnyReader([out]) as reader:
        conn = next(c for c in reader.connections if c.topic == "/tips/depth")
        _, _, raw = next(reader.messages(connections=[conn]))
        return ground_truth("depth", reader.deserialize(raw, conn.msgtype))


@pytest.mark.parametrize("robot_file", [False, True], ids=["config_tips_yaml", "robot_yaml"])
def test_replay_runs_the_node_configuration_of_a_params_file(tiny_models, tmp_path: Path,
                                                             robot_file: bool):
    dpt, text = (str(path) for path in tiny_models)
    params_file = REPO / "config" / "tips.yaml"  # names hub ids: the model is overridden
    if robot_file:  # a robot's own file: node-name section, live-only parameters, other values
        params_file = tmp_path / "robot.yaml"
        params_file.write_text(yaml.safe_dump({"/front/tips_node": {"ros__parameters": {
            "model": dpt, "text_model": text, "device": "cpu", "input_size": 112,
            "keep_aspect": True, "precision": "fp32", "text_queries": ["door"],
            "cameras": ["front"], "max_batch": 2, "input_reliability": "best_effort"}}}))
    bag = write_synth_bag(tmp_path / "in", 1, SIZE)
    report = replay_report(tmp_path, bag, "--params-file", str(params_file), "--model", dpt,
                           "--text-model", text, "--device", "cpu")
    node = node_config(params_file, model=dpt, text_model=text, device="cpu")
    for name in ("input_size", "keep_aspect", "compile", "backend"):
        assert report[name] == getattr(node, name), name
    assert report["precision"] == "fp32" and report["model"] == node.model
    assert report["queries"] == list(read_params_file(params_file)["text_queries"])
    sources = report["configuration_sources"]
    assert sources["model"] == sources["device"] == "flag"
    assert sources["input_size"] == f"params file {params_file}"
    assert {"cameras", "max_batch"} <= set(report["params_not_applied"]) or not robot_file
    engine = Engine(node)
    try:  # one frame: the replay's depth is what the node's engine computes
        expected = engine.infer([next(render_sequence(1, *SIZE)).rgb], heads=["depth"])[0]
    finally:
        engine.close()
    np.testing.assert_array_equal(first_depth(tmp_path / "out"), expected.depth)


def test_flags_given_override_the_params_file(tiny_models, tmp_path: Path):
    dpt, text = (str(path) for path in tiny_models)
    params_file = tmp_path / "p.yaml"
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "model": dpt, "text_model": text, "device": "cpu", "input_size": 112}}}))
    bag = write_synth_bag(tmp_path / "in", 1, SIZE)
    report = replay_report(tmp_path, bag, "--params-file", str(params_file),
                           "--input-size", "56")
    assert report["input_size"] == 56 and report["configuration_sources"]["input_size"] == "flag"
    assert report["model"] == dpt


@pytest.mark.parametrize("content, words", [
    ({"/**": {"ros__parameters": {"input_size": 100}}}, "input_size must be in"),
    ({"/**": {"ros__parameters": {"no_such": 1}}}, "unknown parameter no_such"),
    ({"other_node": {"ros__parameters": {"model": "x"}}}, "no ros__parameters"),
])
def test_bad_params_file_is_one_sentence(tmp_path: Path, content: dict, words: str):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(UsageError, match=words):
        read_params_file(path)


@pytest.mark.slow  # the bench report reads the machine (uname)
def test_bench_measures_the_params_file_configuration(tiny_models, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture):
    dpt, text = (str(path) for path in tiny_models)
    params_file = tmp_path / "robot.yaml"
    params_file.write_text(yaml.safe_dump({"tips_node": {"ros__parameters": {
        "model": dpt, "text_model": text, "device": "cpu", "precision": "fp32",
        "input_size": 56, "text_queries": ["door"], "cameras": ["front"]}}}))
    report_path = tmp_path / "bench.json"
    assert main(["bench", "--params-file", str(params_file), "--input-size", "112",
                 "--batch", "1", "--heads", "depth", "--size", "64x48", "--iters", "1",
                 "--warmup", "0", "--profile-iters", "1", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    command = report["command"]
    assert f"--model {dpt}" in command and "--precision fp32" in command
    assert "--queries door" in command and "--device cpu" in command
    assert "--input-size 112" in command  # the flag given wins over the file's 56
    assert "not applied from" in capsys.readouterr().out
