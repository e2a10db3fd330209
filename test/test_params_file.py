# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``--params-file``: the node's own YAML runs the same engine configuration offline.

``tips-ros replay BAG --params-file FILE`` (in process, through the command line's ``main``)
against the configuration the node makes from the same file (its code path without ROS:
``read_params`` of the file over the defaults, then ``EngineConfig.from_params``): the
effective configurations and one frame's depth agree; flags given override the file. Every
engine parameter, the prompt templates and the detection threshold apply offline as live (one
frame's softmax heatmaps at the file's output size equal the node engine's); only the live-only
parameters are reported as not applied. ``tips-ros bench --params-file`` builds the node's
engine for every configuration (the swept precision and compile mode aside), and a file whose
queries x templates exceed the node's prompt limit is refused offline as live.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from tips_ros.cli import bench as bench_command, build_parser, main
from tips_ros.cli.replay import options as replay_options
from tips_ros.engine import Engine, EngineConfig
from tips_ros.engine.parameters import DEFAULTS, MAX_PROMPTS, read_params, SPEC_BY_NAME
from tips_ros.errors import UsageError
from tips_ros.offline.bags import SYNTH_TOPICS, write_synth_bag
from tips_ros.offline.inputs import ground_truth, raw_image
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.params_file import read_params_file, RUN_FIELDS, run_settings
from tips_ros.offline.replay import engine_settings, per_run_settings, replay
from tips_ros.offline.report import REPORTED_ENGINE_FIELDS
from tips_ros.offline.synthetic import render_sequence
from tips_ros.tools.bench.options import APPLIED, make_engine

REPO = Path(__file__).resolve().parents[1]
SIZE = (64, 48)  # synthetic frame, pixels
#: The node's parameters that mean nothing offline (cameras, QoS, batching, limits, ...).
LIVE_ONLY = {"warmup", "cameras", "input_compressed", "input_reliability", "output_reliability",
             "publish_points", "points_organized", "compute_all", "max_batch", "max_wait_ms",
             "max_image_pixels", "max_queries", "max_query_length", "stale_after",
             "diagnostics_period", "autostart"}


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


def first_message(out: Path, topic: str) -> object:
    with AnyReader([out]) as reader:
        conn = next(c for c in reader.connections if c.topic == topic)
        _, _, raw = next(reader.messages(connections=[conn]))
        return reader.deserialize(raw, conn.msgtype)


def first_depth(out: Path) -> np.ndarray:
    return ground_truth("depth", first_message(out, "/tips/depth"))


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


def test_only_live_only_parameters_are_not_applied():
    _, not_applied = run_settings(read_params_file(REPO / "config" / "tips.yaml"))
    assert set(not_applied) == LIVE_ONLY == set(SPEC_BY_NAME) - set(RUN_FIELDS)
    engine_specs = {name for name, spec in SPEC_BY_NAME.items() if spec.engine}
    assert engine_specs <= set(RUN_FIELDS)  # every engine parameter has its RunOptions field


def test_every_engine_parameter_of_the_file_runs_as_in_the_node(tiny_models, tmp_path: Path):
    dpt, text = (str(path) for path in tiny_models)
    applied = {"model": dpt, "text_model": text, "device": "cpu", "precision": "fp32",
               "input_size": 56, "keep_aspect": True, "output_size": "32x24",
               "compile": "none", "channels_last": True, "allow_pickle": True,
               "text_queries": ["door", "chair", "floor"],
               "prompt_templates": ["a photo of a {}.", "a {} in a room"],
               "heatmap_mode": "softmax", "heatmap_temperature": 0.5,
               "zeroshot_threshold": 0.25, "zeroshot_templates": ["a {}"],
               "pca_momentum": 0.2, "detection_threshold": 0.3}
    live = {"cameras": ["front"], "max_batch": 2, "input_reliability": "best_effort",
            "diagnostics_period": 2.0, "warmup": False}
    params_file = tmp_path / "robot.yaml"
    params_file.write_text(yaml.safe_dump({"/front/tips_node": {
        "ros__parameters": applied | live}}))
    bag = write_synth_bag(tmp_path / "in", 1, SIZE)
    argv = ["replay", str(bag), "--output", str(tmp_path / "out"), "--image-topic",
            SYNTH_TOPICS["image"], "--report", str(tmp_path / "report.json"), "--heads",
            "depth,heatmaps", "--max-frames", "1", "--params-file", str(params_file)]
    run = replay_options(build_parser("replay").parse_args(argv)).run
    node = node_config(params_file)
    assert EngineConfig(**engine_settings(run)) == node  # every field, compared as dataclasses
    assert node.heatmap_mode == "softmax" and node.output_size == "32x24"  # the file was read
    assert run.prompt_templates == tuple(applied["prompt_templates"])
    assert run.detection_threshold == 0.3 and run.queries == tuple(applied["text_queries"])
    assert set(run.not_applied) == set(live)

    assert main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    for name in REPORTED_ENGINE_FIELDS:
        expected = getattr(node, name)
        assert report[name] == (list(expected) if isinstance(expected, tuple) else expected), name
    assert report["output_size"] == "32x24"
    assert report["prompt_templates"] == applied["prompt_templates"]
    assert report["params_not_applied"] == sorted(live)
    assert report["configuration_sources"] == dict.fromkeys(
        (RUN_FIELDS[name] for name in applied), f"params file {params_file}") | dict.fromkeys(
        ("image_topic", "heads", "max_frames"), "flag")

    heatmaps = raw_image(first_message(tmp_path / "out", "/tips/heatmaps"))
    assert heatmaps.shape == (24, 32, 3)  # output_size, one channel per query
    assert first_depth(tmp_path / "out").shape == (24, 32)
    np.testing.assert_allclose(heatmaps.sum(axis=-1), 1.0, atol=1e-5)  # softmax over queries
    rgb = next(render_sequence(1, *SIZE)).rgb
    engine = Engine(node)  # the node's engine: templates with the queries, as the node sets them
    try:
        engine.set_queries(applied["text_queries"], applied["prompt_templates"])
        expected = engine.infer([rgb], heads=["heatmaps"])[0].heatmaps
    finally:
        engine.close()
    np.testing.assert_allclose(heatmaps, expected, rtol=0, atol=1e-6)

    # an engine loaded with the defaults of the per-run settings and reused (as evaluate's
    # workers do) takes the run's: heatmap mode, templates, output size
    per_run = {"output_size"} | {name for name, spec in SPEC_BY_NAME.items()
                                 if spec.engine and spec.runtime}
    assert set(per_run_settings(run)) == per_run
    plain = Engine(replace(node, **{name: DEFAULTS[name] for name in per_run}))
    try:
        plain.set_queries(applied["text_queries"])
        cosine = plain.infer([rgb], heads=["heatmaps"])[0].heatmaps
        replay(ReplayOptions(bag, tmp_path / "reused", run), plain)
    finally:
        plain.close()
    assert cosine.shape[:2] == SIZE[::-1] and not np.allclose(cosine.sum(axis=-1), 1.0)
    np.testing.assert_allclose(raw_image(first_message(tmp_path / "reused", "/tips/heatmaps")),
                               expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("fields, words", [
    ({"heatmap_mode": "max"}, "heatmap_mode must be one of cosine, softmax"),
    ({"prompt_templates": "a {}"}, "prompt_templates must be a list of strings"),
    ({"zeroshot_templates": ["no field"]}, "must hold exactly one"),
    ({"pca_momentum": 1.5}, "pca_momentum must be in"),
    ({"channels_last": 1}, "channels_last must be a boolean"),
])
def test_bad_engine_option_is_one_sentence(fields: dict, words: str):
    with pytest.raises(UsageError, match=words) as raised:
        RunOptions(**fields)
    assert "\n" not in str(raised.value)


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


def bench_options(params_file: Path, *flags: str, models: tuple[str, str] = ("m", "t")):
    """Return the BenchOptions of ``tips-ros bench --params-file params_file *flags``."""
    args = build_parser("bench").parse_args(["bench", "--params-file", str(params_file),
                                             *flags])
    return bench_command.options(bench_command.with_params_file(args), *models)


def test_bench_runs_the_node_engine_of_a_params_file(tiny_models, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture):
    dpt, text = (str(path) for path in tiny_models)
    applied = {"model": dpt, "text_model": text, "device": "cpu", "precision": "bf16",
               "input_size": 56, "keep_aspect": True, "output_size": "32x24",
               "allow_pickle": True, "text_queries": ["door", "chair"],
               "prompt_templates": ["a photo of a {}.", "a {} in a room"],
               "heatmap_mode": "softmax", "heatmap_temperature": 0.5,
               "zeroshot_threshold": 0.25, "zeroshot_templates": ["a {}"],
               "pca_momentum": 0.2}
    live = {"cameras": ["front"], "max_batch": 2, "detection_threshold": 0.3}
    params_file = tmp_path / "commas.yaml"  # a query with a comma reaches --queries whole
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "text_queries": ["red, blue chair", "door"]}}}))
    assert bench_options(params_file).queries == ("red, blue chair", "door")
    params_file = tmp_path / "robot.yaml"
    params_file.write_text(yaml.safe_dump({"/front/tips_node": {
        "ros__parameters": applied | live}}))
    chosen = bench_options(params_file, "--input-size", "112", "--compile", "none,default",
                           models=(dpt, text))
    assert "not applied from" in capsys.readouterr().out
    node = node_config(params_file, input_size=112)  # the flag given wins over the file's 56
    assert node.heatmap_mode == "softmax" and node.keep_aspect and node.output_size == "32x24"
    assert chosen.precisions == ("bf16",)
    for compile_mode in ("none", "default"):  # swept: the configuration's own
        assert chosen.engine_config(precision="bf16", compile=compile_mode) == \
            replace(node, compile=compile_mode)
    assert set(chosen.not_applied) == set(live)
    from_file = f"params file {params_file}"
    assert chosen.sources == dict.fromkeys(
        (RUN_FIELDS.get(name, name) for name in applied), from_file) | dict.fromkeys(
        ("input_size", "compile"), "flag")
    configuration = chosen.configuration()
    assert set(configuration) == set(APPLIED) and configuration["compile"] == ["none", "default"]
    assert configuration["prompt_templates"] == applied["prompt_templates"]

    rgb = next(render_sequence(1, *SIZE)).rgb
    engine = make_engine(chosen, "fp32", "none")  # the bench's reference engine
    try:
        assert engine.config == replace(node, precision="fp32")
        heatmaps = engine.infer([rgb], heads=["heatmaps"])[0].heatmaps
    finally:
        engine.close()
    expected = Engine(replace(node, precision="fp32"))  # the node's, its queries as it sets them
    try:
        expected.set_queries(applied["text_queries"], applied["prompt_templates"])
        np.testing.assert_array_equal(heatmaps,
                                      expected.infer([rgb], heads=["heatmaps"])[0].heatmaps)
    finally:
        expected.close()
    assert heatmaps.shape == (24, 32, 2)  # output_size, one channel per query


def test_too_many_prompts_are_refused_offline(tmp_path: Path):
    """Queries x templates above MAX_PROMPTS: refused as the node refuses it, each part valid."""
    queries = [f"thing {i}" for i in range(200)]  # within max_queries 255
    templates = ["a {}"] * (MAX_PROMPTS // len(queries) + 1)
    params_file = tmp_path / "many.yaml"
    content = {"max_queries": 255, "text_queries": queries, "prompt_templates": templates[:1]}
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": content}}))
    assert len(read_params_file(params_file)["text_queries"]) == 200  # each part is accepted
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": content | {
        "prompt_templates": templates}}}))
    with pytest.raises(UsageError, match="text_queries x prompt_templates would be") as raised:
        read_params_file(params_file)
    assert "\n" not in str(raised.value)

    flag = ",".join(f"thing {i}" for i in range(32))  # --queries: at most 32 (max_queries)
    templates = ["a {}"] * (MAX_PROMPTS // 32 + 1)
    params_file.write_text(yaml.safe_dump({"/**": {"ros__parameters": {
        "prompt_templates": templates}}}))
    read_params_file(params_file)  # with the file's own (default) queries it is fine
    argv = ["replay", "b", "--output", "o", "--params-file", str(params_file)]
    assert replay_options(build_parser("replay").parse_args(argv)).run.prompt_templates
    for build in (lambda: replay_options(build_parser("replay").parse_args(
                      [*argv, "--queries", flag])),
                  lambda: bench_options(params_file, "--queries", flag)):
        with pytest.raises(UsageError, match="x prompt_templates would be") as raised:
            build()
        assert "\n" not in str(raised.value)


@pytest.mark.slow  # the bench report reads the machine (uname)
def test_bench_measures_the_params_file_configuration(tiny_models, tmp_path: Path):
    dpt, text = (str(path) for path in tiny_models)
    params_file = tmp_path / "robot.yaml"
    params_file.write_text(yaml.safe_dump({"tips_node": {"ros__parameters": {
        "model": dpt, "text_model": text, "device": "cpu", "precision": "fp32",
        "input_size": 56, "keep_aspect": True, "heatmap_mode": "softmax",
        "prompt_templates": ["a photo of a {}."], "text_queries": ["door", "floor"],
        "cameras": ["front"]}}}))
    report_path = tmp_path / "bench.json"
    assert main(["bench", "--params-file", str(params_file), "--input-size", "112",
                 "--batch", "1", "--heads", "all", "--size", "64x48", "--iters", "1",
                 "--warmup", "0", "--profile-iters", "1", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    command = report["command"]
    assert f"--model {dpt}" in command and "--precision fp32" in command
    assert "--queries door,floor" in command and "--device cpu" in command
    assert f"--params-file {params_file}" in command  # its other parameters: from the file
    assert "--input-size 112" in command  # the flag given wins over the file's 56
    configuration, sources = report["configuration"], report["configuration_sources"]
    assert configuration["input_size"] == 112 and sources["input_size"] == "flag"
    assert configuration["keep_aspect"] is True and configuration["heatmap_mode"] == "softmax"
    assert sources["keep_aspect"] == sources["precision"] == f"params file {params_file}"
    assert configuration["precision"] == ["fp32"]
    assert report["params_not_applied"] == ["cameras"]
    (row,) = report["configs"]
    assert row["input_size"] == [112, 154]  # 48x64 frame, short side 112 (keep_aspect)
    naive = report["naive"]["1"]["agreement_with_fast_fp32"]  # the same input and heatmaps
    assert naive["heatmap_corr"] >= 0.999 and naive["depth_median_rel_error"] <= 1e-3
