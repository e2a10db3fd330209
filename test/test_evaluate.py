# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``tips-ros evaluate``: many bags on Ray workers (2 local workers, tiny model, CPU).

The dataset: six good synthetic bags (mcap and sqlite3, nested folders), one bag corrupt in
its fourth image message (sqlite3, fails mid-run), one truncated mcap (fails on open), one
bag without an image topic, and one good bag whose worker process kills itself (SIGKILL,
``TIPS_ROS_FAULTS=kill@...``) the first time it starts it. The aggregated metrics must equal,
exactly, one accumulator fed by replaying every good bag in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tips_ros.cli import evaluate
from tips_ros.engine.faults import ENV as FAULTS_ENV
from tips_ros.engine.loading import ModelLoadError
from tips_ros.errors import UsageError
from tips_ros.offline.evaluate import is_complete
from tips_ros.offline.bags import BagWriter, iter_messages, open_bag, SYNTH_TOPICS, write_synth_bag
from tips_ros.offline.metrics import MetricsAccumulator
from tips_ros.offline.options import ReplayOptions, RunOptions
from tips_ros.offline.replay import replay
from tips_ros.offline.report import json_safe

GT = ["--gt-depth-topic", SYNTH_TOPICS["depth"], "--gt-normals-topic", SYNTH_TOPICS["normals"],
      "--gt-labels-topic", SYNTH_TOPICS["labels"]]
GOOD = ["data/a/s0", "data/a/s1", "data/a/s2", "data/b/s3", "data/b/s4", "data/s5",
        "data/victim"]
VICTIM = "data/victim"
SIZE = (32, 24)


def _ray():
    """Return the ``ray`` module; CI installs it (test extra), elsewhere its absence skips."""
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        import ray
        return ray
    return pytest.importorskip("ray", reason="ray is not installed (extra 'cluster')")


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray (2 CPUs) shared by this module's in-process evaluations."""
    ray = _ray()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    for index, name in enumerate(GOOD):
        write_synth_bag(root / name, 3, SIZE, storage="sqlite3" if index in (3, 4) else "mcap",
                        seed=index)
    corrupt = write_synth_bag(root / "data/bad/corrupt", 5, SIZE, storage="sqlite3", seed=9)
    db = sqlite3.connect(next(corrupt.glob("*.db3")))
    (topic,) = db.execute("select id from topics where name = ?",
                          (SYNTH_TOPICS["image"],)).fetchone()
    rows = [r for (r,) in db.execute("select id from messages where topic_id = ? "
                                     "order by timestamp", (topic,))]
    db.execute("update messages set data = ? where id = ?", (b"\x00\x01\x00\x00\x05", rows[3]))
    db.commit()
    db.close()
    truncated = write_synth_bag(root / "data/bad/truncated", 3, SIZE, seed=10)
    mcap = next(truncated.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    with BagWriter(root / "data/bad/no_image") as bag:
        bag.write_string("/chatter", 1, "no camera here")
    return root


def model_options(tiny_models: tuple[Path, Path]) -> list[str]:
    dpt, text = tiny_models
    return ["--model", str(dpt), "--text-model", str(text), "--device", "cpu",
            "--precision", "fp32"]


def evaluate_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    evaluate.add_arguments(parser)
    return parser.parse_args(argv)


def reference_metrics(dataset: Path, names: list[str], engine, tmp: Path) -> dict:
    """Every bag of ``names`` replayed in this process into one accumulator, as JSON."""
    run = RunOptions(gt_depth_topic=SYNTH_TOPICS["depth"],
                     gt_normals_topic=SYNTH_TOPICS["normals"],
                     gt_labels_topic=SYNTH_TOPICS["labels"])
    metrics = MetricsAccumulator(num_classes=len(engine.class_names))
    for index, name in enumerate(names):
        replay(ReplayOptions(dataset / name, tmp / f"ref{index}", run), engine, metrics=metrics)
    return json.loads(json.dumps(json_safe(metrics.report())))


def depth_messages(bag: Path) -> int:
    with open_bag(bag) as reader:
        return sum(1 for _ in iter_messages(reader, ["/tips/depth"]))


@pytest.fixture(scope="module")
def reference(dataset: Path, tiny_engine, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return reference_metrics(dataset, GOOD, tiny_engine, tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def first_run(ray_session, dataset: Path, tiny_models, tmp_path_factory) -> dict:
    """Evaluate the whole dataset on 2 Ray workers, the victim's worker killed once."""
    out = tmp_path_factory.mktemp("evaluation") / "out"
    os.environ[FAULTS_ENV] = f"kill@{VICTIM}"
    try:
        code = evaluate.run(evaluate_args(str(dataset / "data"), "--output", str(out),
                                          "--workers", "2", *GT, *model_options(tiny_models)))
    finally:
        del os.environ[FAULTS_ENV]
    return {"code": code, "out": out, "report": json.loads((out / "report.json").read_text())}


def rows(report: dict) -> dict[str, dict]:
    return {row["output"]: row for row in report["bags"]}


@pytest.mark.slow
def test_metrics_equal_a_single_process_replay_exactly(first_run: dict, reference: dict):
    report = first_run["report"]
    assert report["backend"] == "ray" and report["workers"] == 2
    assert report["metrics"] == reference  # exact: merged sums, not means of means
    assert set(reference) == {"depth", "normals", "segmentation"}
    assert report["metrics"]["depth"]["pixels"] == len(GOOD) * 3 * SIZE[0] * SIZE[1]
    assert report["latency_ms"]["frames"] == len(GOOD) * 3
    assert report["frames_scored"] == {task: len(GOOD) * 3 for task in reference}


@pytest.mark.slow
def test_failed_bags_are_listed_with_their_reason(first_run: dict):
    table = rows(first_run["report"])
    assert first_run["code"] == 1
    assert {key for key, row in table.items() if row["status"] == "ok"} == set(GOOD)
    assert "corrupt" in table["data/bad/corrupt"]["reason"]
    assert table["data/bad/corrupt"]["frames_out"] == 3  # the frames before the damage
    assert "corrupt" in table["data/bad/truncated"]["reason"]
    assert "no Image or CompressedImage topic" in table["data/bad/no_image"]["reason"]
    failed = {item["bag"] for item in first_run["report"]["failed_bags"]}
    assert len(failed) == 3 and all("/data/bad/" in bag for bag in failed)
    totals = first_run["report"]["totals"]
    assert (totals["bags"], totals["ok"], totals["failed"]) == (10, 7, 3)


@pytest.mark.slow
def test_killed_worker_bag_is_retried_and_finishes(first_run: dict):
    out = first_run["out"]
    victim = rows(first_run["report"])[VICTIM]
    assert (out / f".{FAULTS_ENV}-killed-data_victim").exists()  # the worker did die once
    assert victim["status"] == "ok" and victim["attempts"] == 2
    assert all(row["attempts"] == 1 for key, row in rows(first_run["report"]).items()
               if key != VICTIM)
    assert depth_messages(out / VICTIM / "output") == 3


@pytest.mark.slow
def test_outputs_per_bag_and_summary_picture(first_run: dict):
    out = first_run["out"]
    for name in GOOD:
        report = json.loads((out / name / "report.json").read_text())
        assert report["frames_out"] == 3 and report["error"] is None
        assert depth_messages(out / name / "output") == 3
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_rerun_skips_finished_bags(first_run: dict, dataset: Path, tiny_models, reference,
                                   capsys: pytest.CaptureFixture):
    out = first_run["out"]
    stamp = (out / "data/s5/report.json").stat().st_mtime_ns
    code = evaluate.run(evaluate_args(str(dataset / "data"), "--output", str(out),
                                      "--workers", "2", *GT, *model_options(tiny_models)))
    report = json.loads((out / "report.json").read_text())
    assert code == 1
    assert {row["status"] for key, row in rows(report).items() if key in GOOD} == {"skipped"}
    assert (out / "data/s5/report.json").stat().st_mtime_ns == stamp
    assert report["metrics"] == reference
    printed = capsys.readouterr().out
    assert all(name in printed for name in GOOD) and "skipped" in printed


@pytest.mark.slow
def test_without_ray_bags_run_in_process(dataset: Path, tiny_models, tiny_engine, tmp_path,
                                         monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    monkeypatch.delitem(sys.modules, "tips_ros.offline.evaluate_ray", raising=False)
    names = ["data/a/s1", "data/b/s3"]
    inputs = [str(dataset / name) for name in names] + [str(dataset / "data/bad/no_image")]
    args = [*inputs, "--output", str(tmp_path / "out"), *GT, *model_options(tiny_models)]
    assert evaluate.run(evaluate_args(*args)) == 1
    assert "ray is not installed" in capsys.readouterr().err
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert report["backend"] == "in-process"
    assert [row["status"] for row in report["bags"]] == ["ok", "ok", "failed"]
    assert report["metrics"] == reference_metrics(dataset, names, tiny_engine, tmp_path)

    evaluate.run(evaluate_args(*args, "--overwrite"))
    again = json.loads((tmp_path / "out/report.json").read_text())
    assert [row["status"] for row in again["bags"]] == ["ok", "ok", "failed"]
    assert again["metrics"] == report["metrics"]


@pytest.mark.slow
def test_ctrl_c_keeps_finished_bags_and_rerun_completes(ray_session, tiny_models, tmp_path):
    """Interrupt an evaluation on one worker: a 2-frame bag, then long ones.

    SIGINT once the second bag's folder exists (however slow the machine): the one worker
    starts it only after the driver collected the first bag's result. Exit 130, the finished
    bag and its report valid, the aggregate written; a rerun skips the finished bag and
    replays the others.
    """
    write_synth_bag(tmp_path / "in/a_short", 2, SIZE, seed=1)
    for name in ("b_long", "c_long"):
        write_synth_bag(tmp_path / "in" / name, 20, SIZE, seed=2)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "tips_ros.cli", "evaluate", str(tmp_path / "in"),
               "--output", str(out), "--workers", "1", *GT, *model_options(tiny_models)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not (out / "in/b_long").exists() and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "tips-ros evaluate: interrupted" in stderr
    report = json.loads((out / "report.json").read_text())
    statuses = {row["output"]: row["status"] for row in report["bags"]}
    assert report["interrupted"] is True
    assert statuses["in/a_short"] == "ok" and statuses["in/b_long"] == "interrupted"
    assert statuses["in/c_long"] == "not_run"
    assert is_complete(out / "in/a_short")
    assert depth_messages(out / "in/a_short/output") == 2
    assert report["metrics"]["depth"]["pixels"] == 2 * SIZE[0] * SIZE[1]

    code = evaluate.run(evaluate_args(str(tmp_path / "in"), "--output", str(out),
                                      "--workers", "1", *GT, *model_options(tiny_models)))
    final = json.loads((out / "report.json").read_text())
    assert code == 0 and not final["interrupted"]
    assert [row["status"] for row in final["bags"]] == ["skipped", "ok", "ok"]
    assert depth_messages(out / "in/c_long/output") == 20


def test_bad_inputs_fail_with_one_sentence_before_anything_runs(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    for inputs, message in (([str(tmp_path / "nope")], "does not exist"),
                            ([str(tmp_path / "empty")], "holds none")):
        with pytest.raises(UsageError, match=message):
            evaluate.run(evaluate_args(*inputs, "--output", str(tmp_path / "out")))
    with pytest.raises(UsageError, match="no --queries"):
        evaluate.run(evaluate_args(str(tmp_path / "empty"), "--output", str(tmp_path / "out"),
                                   "--heads", "heatmaps"))


@pytest.mark.slow
def test_a_model_the_workers_cannot_load_is_one_sentence(ray_session, dataset: Path,
                                                         tiny_models, tmp_path: Path):
    _, text = tiny_models
    args = evaluate_args(str(dataset / "data/s5"), "--output", str(tmp_path / "out"),
                         "--model", str(tmp_path / "missing"), "--text-model", str(text),
                         "--device", "cpu")
    with pytest.raises(ModelLoadError, match="could not load the model: model directory"):
        evaluate.run(args)


@pytest.mark.slow
def test_rerun_with_other_scoring_options_is_refused(first_run: dict, dataset: Path,
                                                     tiny_models):
    args = evaluate_args(str(dataset / "data"), "--output", str(first_run["out"]), *GT,
                         "--median-scaling", *model_options(tiny_models))
    with pytest.raises(UsageError, match="another median_scaling; use --overwrite"):
        evaluate.run(args)
