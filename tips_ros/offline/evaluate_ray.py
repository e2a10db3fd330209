# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Ray back end of ``tips-ros evaluate``: actors that load the engine once and replay bags.

Importing this module needs ``ray`` (the ``cluster`` extra). Each ``BagWorker`` actor gets
``cpus_per_worker`` CPUs and ``gpus_per_worker`` GPUs (``EvaluateOptions``; Ray sets
``CUDA_VISIBLE_DEVICES``, so device ``auto`` picks the actor's GPU). The driver hands out one
bag at a time to each free actor. When an actor's process dies, Ray restarts it (a new
process, which loads the model again) and retries the bag it was running once
(``max_task_retries``); a second death fails the bag. Attempts and frames done are counted
by a small ``ProgressSink`` actor, which the driver polls for the progress bar.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import time
from collections import Counter, deque
from typing import Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from tips_ros.engine.faults import ENV as FAULTS_ENV
from tips_ros.engine.loading import ModelLoadError
from tips_ros.errors import UsageError
from tips_ros.offline.aggregate import BagResult
from tips_ros.offline.jobs import BagBar, Job, MAX_ATTEMPTS, run_job, unfinished
from tips_ros.offline.options import EvaluateOptions, RunOptions
from tips_ros.offline.replay import engine_for

#: Seconds between progress polls while bags run.
POLL_S = 0.5


@ray.remote(num_cpus=0)
class ProgressSink:
    """Attempts and frames done per bag, reported by the workers and read by the driver."""

    def __init__(self) -> None:
        self._frames: dict[str, int] = {}
        self._attempts: Counter[str] = Counter()

    def start(self, key: str) -> int:
        """Bag ``key`` starts (again) from its first frame; returns the attempt number."""
        self._frames.pop(key, None)
        self._attempts[key] += 1
        return self._attempts[key]

    def attempts(self, key: str) -> int:
        """How many times bag ``key`` was started."""
        return self._attempts[key]

    def add(self, key: str, frames: int) -> None:
        """``frames`` more frames of bag ``key``."""
        self._frames[key] = self._frames.get(key, 0) + frames

    def total(self) -> int:
        """Frames done over all bags."""
        return sum(self._frames.values())


class _SinkProgress:
    """A replay's ``FrameProgress`` inside a worker: forwards frame counts to the sink."""

    def __init__(self, sink: Any, key: str) -> None:
        self._sink, self._key = sink, key

    def update(self, frames: int, failed: int) -> None:
        self._sink.add.remote(self._key, frames)

    def close(self) -> None:
        """Nothing to end: the driver owns the bar."""


class BagWorker:
    """A Ray actor: loads the engine once, then replays the bags it is given."""

    def __init__(self, run: RunOptions) -> None:
        started = time.perf_counter()
        self.run_options = run
        self.engine = engine_for(run)
        self.load_s = time.perf_counter() - started

    def describe(self) -> str:
        """Host, process id and device of this worker."""
        return f"{socket.gethostname()} pid {os.getpid()} {self.engine.device}"

    def run(self, job: Job, sink: Any) -> BagResult:
        """Replay one bag (see ``tips_ros.offline.jobs.run_job``)."""
        attempt = ray.get(sink.start.remote(job.key))
        result = run_job(self.run_options, self.engine, job, self.load_s,
                         _SinkProgress(sink, job.key))
        result.attempts = attempt
        return result


class RayRunner:
    """Runs the jobs on ``workers`` actors of a local Ray or of the cluster at ``address``.

    If this process is already connected to Ray (``ray.init`` by the caller), that
    connection is used and left open.
    """

    backend = "ray"

    def __init__(self, options: EvaluateOptions, jobs: list[Job], bar: BagBar) -> None:
        self.options, self.run_options, self.jobs, self.bar = options, options.run, jobs, bar
        self.results: list[BagResult] = []
        self.processing_wall_s: float | None = None
        self._started_ray = _connect(options)
        self.workers, self._gpus = _worker_count(options, len(jobs), local=self._started_ray
                                                 and options.address is None)
        self._actors: list[Any] = []
        self._sink: Any = None
        self._running: dict[Any, tuple[Any, Job]] = {}

    def run(self) -> None:
        """Start the workers, wait until each loaded the model, hand out the bags."""
        if not self.jobs:
            return
        options: dict[str, Any] = {"num_cpus": self.options.cpus_per_worker,
                                   "num_gpus": self._gpus, "max_restarts": -1,
                                   "max_task_retries": MAX_ATTEMPTS - 1}
        if os.environ.get(FAULTS_ENV):  # fault injection reaches the workers of a cluster too
            options["runtime_env"] = {"env_vars": {FAULTS_ENV: os.environ[FAULTS_ENV]}}
        actor_class = ray.remote(BagWorker)
        self._actors = [actor_class.options(**options).remote(self.run_options)
                        for _ in range(self.workers)]
        self._sink = ProgressSink.remote()
        try:
            where = ray.get([actor.describe.options(max_task_retries=0).remote()
                             for actor in self._actors])
        except RayActorError as err:
            raise ModelLoadError(f"The workers could not load the model: "
                                 f"{_cause(err)}") from None
        print(f"tips-ros evaluate: {self.workers} Ray worker(s): {'; '.join(where)}",
              file=sys.stderr)
        started = time.perf_counter()
        try:
            self._dispatch()
        finally:
            self.processing_wall_s = time.perf_counter() - started

    def _dispatch(self) -> None:
        pending, idle = deque(self.jobs), deque(self._actors)
        while pending or self._running:
            while idle and pending:
                actor, job = idle.popleft(), pending.popleft()
                self._running[actor.run.remote(job, self._sink)] = (actor, job)
            done, _ = ray.wait(list(self._running), num_returns=1, timeout=POLL_S)
            self.bar.set_frames(ray.get(self._sink.total.remote()))
            for ref in done:
                actor, job = self._running.pop(ref)
                idle.append(actor)
                result = self._collect(ref, job)
                self.results.append(result)
                self.bar.bag_done(result)

    def _collect(self, ref: Any, job: Job) -> BagResult:
        try:
            result: BagResult = ray.get(ref)
        except RayActorError as err:  # died on every attempt
            attempts = ray.get(self._sink.attempts.remote(job.key))
            return BagResult(str(job.bag), job.key, "failed", f"Its worker process died "
                             f"{attempts} time(s) while replaying it ({_cause(err)}).", attempts)
        except RayTaskError as err:  # run_job reports every error; this is Ray's own
            return BagResult(str(job.bag), job.key, "failed", f"Ray task error: {_cause(err)}",
                             1)
        if result.attempts > 1:
            print(f"tips-ros evaluate: {job.key} was retried after its worker process died.",
                  file=sys.stderr)
        return result

    def unfinished(self) -> list[BagResult]:
        """Results of the jobs not finished (after Ctrl-C)."""
        running = {job.key for _, job in self._running.values()}
        return unfinished(self.jobs, self.results, running)

    def close(self) -> None:
        """End the bar; stop the workers (and the local Ray this run started)."""
        self.bar.finish()
        for actor in [*self._actors, *([self._sink] if self._sink else [])]:
            ray.kill(actor, no_restart=True)
        self._actors, self._sink = [], None
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False


def _connect(options: EvaluateOptions) -> bool:
    """Connect to Ray unless this process already is; True when this call connected."""
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if options.address is None:
        workers = options.workers or 1
        kwargs.update(address="local", include_dashboard=False,
                      num_cpus=max(os.cpu_count() or 1, workers * options.cpus_per_worker))
    else:
        kwargs["address"] = options.address
    try:
        ray.init(**kwargs)
    except ConnectionError as err:
        raise UsageError(f"Cannot join the Ray cluster at {options.address}: {err}") from None
    return True


def _worker_count(options: EvaluateOptions, jobs: int, local: bool) -> tuple[int, float]:
    """``(workers, gpus per worker)`` from the options and the cluster's GPUs."""
    gpus = float(ray.cluster_resources().get("GPU", 0.0))
    per_worker = options.gpus_per_worker if options.gpus_per_worker is not None else \
        (1.0 if gpus else 0.0)
    workers = options.workers or (max(1, int(gpus // per_worker)) if per_worker else 1)
    if per_worker * workers > gpus:
        message = (f"{workers} worker(s) x {per_worker:g} GPU(s) need "
                   f"{per_worker * workers:g} GPUs and Ray has {gpus:g}")
        if local:
            raise UsageError(message + " on this machine.")
        print(f"tips-ros evaluate: {message} now; waiting for the cluster to provide them.",
              file=sys.stderr)
    return max(1, min(workers, jobs)), per_worker


def _cause(err: BaseException) -> str:
    """Return the message of the innermost exception Ray wrapped.

    A one-line error as it is; of a traceback Ray formatted into the text (e.g. the
    ``ModelLoadError`` raised by an actor's constructor), the last line without the
    exception's name.
    """
    while isinstance(getattr(err, "cause", None), BaseException):
        err = err.cause  # type: ignore[attr-defined]
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return lines[0] if len(lines) == 1 else re.sub(r"^[\w.]+: ", "", lines[-1])
