# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""``bench/gpu_check.sh`` rehearsed on the CPU under the device machine's rules.

The rehearsal runs the GPU script itself (``DEVICE=cpu SIZE=tiny``) and checks its output
folder as the device tool would bring it back (file count, names, depth, sizes), its wall time
against its budget, and that every JSON section is complete. The fast tests check the checker
on crafted folders (a ninth file, a bad name, an incomplete section each make it fail), the
per-step time limit, and what the EXIT trap's ``finalize`` writes when steps never ended.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tips_ros.tools.bench import gpu_check
from tips_ros.tools.bench.gpu_check import (
    folder_problems, main, out_problems, REPLAY_FRAMES, section_problems, STEP_GROUPS,
    StepTimeout, time_limit,
)

REPO = Path(__file__).resolve().parents[1]
#: the rehearsal's budget (seconds) and the test's limit for the whole script: 4 minutes
BUDGET_S, LIMIT_S = 200, 240


def _good_folder(out: Path) -> Path:
    """Write a folder as the script leaves it after a good run."""
    out.mkdir(parents=True, exist_ok=True)
    sections = {"reference": {"complete": True}, "onnx_trt": {"complete": True,
                                                              "skipped": "no TensorRT"}}
    (out / "results.json").write_text(json.dumps(sections))
    (out / "run.log").write_text("log\n")
    (out / "env.txt").write_text("env\n")
    return out


def test_a_good_folder_has_no_problems(tmp_path):
    out = _good_folder(tmp_path / "out")
    (out / "a" / "b").mkdir(parents=True)
    (out / "a" / "b" / "deep_ok-1.txt").write_text("two folders down is allowed")
    assert out_problems(out) == []
    assert main(["check", "--out", str(out)]) == 0


def test_a_ninth_file_is_a_problem(tmp_path):
    out = _good_folder(tmp_path / "out")
    for i in range(5):
        (out / f"extra{i}.txt").write_text("x")
    assert folder_problems(out) == []
    (out / "ninth.txt").write_text("x")
    (problem,) = folder_problems(out)
    assert problem.startswith("9 files, more than 8")
    assert main(["check", "--out", str(out)]) == 1


@pytest.mark.parametrize("name", ["bad name.txt", "résumé.json", "a:b.log", "x+y"])
def test_a_bad_name_is_a_problem(tmp_path, name):
    out = _good_folder(tmp_path / "out")
    (out / name).write_text("{}" if name.endswith(".json") else "x")
    assert any(f"'{name}'" in p and "names may hold" in p for p in folder_problems(out))


def test_depth_size_and_links_are_problems(tmp_path):
    out = _good_folder(tmp_path / "out")
    (out / "a" / "b" / "c").mkdir(parents=True)
    (out / "a" / "b" / "c" / "deep.txt").write_text("three folders down")
    with open(out / "big.bin", "wb") as big:  # sparse: 16 MiB + 1 byte without writing them
        big.truncate(gpu_check.MAX_FILE_BYTES + 1)
    (out / "link").symlink_to(out / "run.log")
    problems = "\n".join(folder_problems(out))
    assert "more than 2 folders down" in problems
    assert f"'big.bin' has {gpu_check.MAX_FILE_BYTES + 1} bytes" in problems
    assert "'link' is a link" in problems


def test_total_size_is_limited(tmp_path):
    out = _good_folder(tmp_path / "out")
    for i in range(5):
        with open(out / f"part{i}.bin", "wb") as part:
            part.truncate(gpu_check.MAX_FILE_BYTES)
    assert any("bytes in all, more than" in p for p in folder_problems(out))


@pytest.mark.parametrize("section, says", [
    ({"complete": False, "reason": "the step ran past its limit of 40 s"},
     "section 'grid' is incomplete: the step ran past its limit of 40 s"),
    ({"complete": False}, "section 'grid' is incomplete: no reason given"),
    ({"configs": []}, "section 'grid' has no \"complete\": true/false"),
    ({"complete": "yes"}, "section 'grid' has no \"complete\": true/false"),
    ([1, 2], "section 'grid' has no \"complete\": true/false"),
])
def test_an_incomplete_section_is_a_problem(tmp_path, section, says):
    out = _good_folder(tmp_path / "out")
    results = json.loads((out / "results.json").read_text())
    (out / "results.json").write_text(json.dumps({**results, "grid": section}))
    assert section_problems(out) == [f"results.json: {says}"]
    assert main(["check", "--out", str(out)]) == 1


def test_every_json_is_checked_and_must_parse(tmp_path):
    out = _good_folder(tmp_path / "out")
    (out / "other.json").write_text('{"x": {"complete": true}, "y": {"complete": false}}')
    assert section_problems(out) == ["other.json: section 'y' is incomplete: no reason given"]
    (out / "other.json").write_text('{"x": {"complete": true}, "y": {"complete": false')
    (problem,) = section_problems(out)
    assert problem.startswith("other.json: not valid JSON (")


def test_a_step_limit_stops_the_step_and_is_never_unlimited():
    start = time.monotonic()
    with pytest.raises(StepTimeout, match="limit of 0 s"):
        with time_limit(0.2):
            while True:  # a step that would never end
                time.sleep(0.01)
    assert time.monotonic() - start < 5
    for bad in (0, -3):
        with pytest.raises(ValueError, match="must be positive"):
            with time_limit(bad):
                pass


def test_finalize_marks_what_never_ended(tmp_path, capsys):
    """The EXIT trap after the hard limit killed the driver during ``grid``."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({
        "reference": {"complete": True, "naive": {}},
        "grid": {"complete": False, "reason": gpu_check.RUNNING}}))
    code = main(["finalize", "--out", str(out), "--budget", "100", "--driver-exit", "124",
                 "--started", str(time.time() - 5), "--device", "cpu", "--size", "tiny",
                 "--setup", '{"complete": true, "wheels": "none carried"}'])
    assert code == 1
    results = json.loads((out / "results.json").read_text())
    assert list(results)[:2] == ["reference", "grid"]
    assert set(results) == {*STEP_GROUPS["torch"], "run", "setup"}
    assert "driver exited with code 124 (124: the run's hard limit)" in results["grid"]["reason"]
    assert "code 124" in results["e2e"]["reason"]
    assert results["run"]["complete"] is False and results["run"]["within_budget"] is True
    printed = capsys.readouterr().out
    assert "grid       INCOMPLETE" in printed and "PROBLEM: results.json: section 'e2e'" in printed


def _rehearse(out: Path, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    """Run the GPU script on the CPU as the device tool would, in ``out``."""
    run_env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable,
               "DEVICE": "cpu", "SIZE": "tiny", "ITERS": "3", "E2E_FRAMES": "10",
               "E2E_RATE": "5", "BUDGET_S": str(BUDGET_S),
               # one thread per process: the 2-core CI machine runs the node and the bench
               "OMP_NUM_THREADS": "1", **env}
    run_env.pop("PYTHONPATH", None)  # the script puts the repository first itself
    start = time.monotonic()
    done = subprocess.run(["bash", "bench/gpu_check.sh"], cwd=REPO, env=run_env,
                          capture_output=True, text=True, timeout=LIMIT_S + 60)
    return done, time.monotonic() - start


@pytest.mark.slow
def test_the_gpu_script_rehearsed_on_the_cpu_fits_the_device_rules(tmp_path):
    out = tmp_path / "out"
    done, wall = _rehearse(out)
    log = (out / "run.log").read_text() if (out / "run.log").exists() else ""
    assert done.returncode == 0, done.stdout + done.stderr + log[-6000:]
    assert out_problems(out) == []
    assert sorted(p.name for p in out.iterdir()) == ["env.txt", "results.json", "run.log"]
    assert wall <= LIMIT_S, f"the rehearsal took {wall:.0f} s, more than {LIMIT_S} s"
    results = json.loads((out / "results.json").read_text())
    assert results["run"]["within_budget"] and results["run"]["wall_s"] <= BUDGET_S
    assert set(results) == {*STEP_GROUPS["torch"], "run", "setup"}
    # the node's own log is in run.log (the e2e step's node process)
    assert "tips_node" in log and "== e2e" in log
    assert results["e2e"]["frames_complete"] >= 1 and results["e2e"]["node_log"] == "<stderr>"
    # the replay: every frame scored on the device, its sums equal to numpy's on one frame
    replayed = results["replay"]
    assert replayed["frames_out"] == REPLAY_FRAMES and replayed["device_metrics_parity"]["ok"]
    assert replayed["frames_scored_on_device"] == {
        task: REPLAY_FRAMES for task in ("depth", "normals", "segmentation")}
    assert replayed["stages_ms"]["outside_engine"]["host_cpu"] > 0
    # the reference and naive pipeline measured once, every configuration against them
    assert set(results["reference"]["naive"]) == {"1", "8"}
    for step in ("grid", "features", "compiled"):
        assert results[step]["configs"] and results[step]["naive"]
    # host waits counted on eager engines only; compiled engines: no recompile while timed,
    # no graph break (eager pieces), a recompile limit that raises instead of falling back
    assert all(c["host_syncs_per_batch"]["method"] == "torch_function_mode"
               for c in results["grid"]["configs"])
    compiled = results["compiled"]["configs"]
    assert sorted(c["batch"] for c in compiled) == [1, 8]
    for config in compiled:
        check = config["compile_check"]
        assert check["ok"] and check["compiled_while_timed"] == 0 and check["graph_breaks"] == 0
        assert check["fail_on_recompile_limit_hit"] and check["recompile_limit"] >= 24
        assert config["host_syncs_per_batch"] is None


@pytest.mark.slow
def test_the_gpu_script_with_no_time_left_still_writes_every_section(tmp_path):
    """A budget spent in setup: no step starts (no `timeout 0`), every section says why."""
    out = tmp_path / "out"
    done, _ = _rehearse(out, BUDGET_S="5")
    assert done.returncode == 1
    results = json.loads((out / "results.json").read_text())
    assert "setup used the budget" in (out / "run.log").read_text()
    for step in STEP_GROUPS["torch"]:
        assert results[step]["complete"] is False
        assert "driver exited with code 125" in results[step]["reason"]
    assert folder_problems(out) == []
