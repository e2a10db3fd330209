# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What one benchmark run measures (:class:`BenchOptions`), and the engine for a configuration.

``tips-ros bench`` builds the options from its flags (``tips_ros.cli.bench``); scripts build
them directly and call :func:`tips_ros.tools.bench.benchmark`.
"""

from __future__ import annotations

from dataclasses import dataclass

from tips_ros.engine import Engine, EngineConfig
from tips_ros.engine.parameters import DEFAULTS
from tips_ros.engine.prediction import BACKENDS, OutputSize
from tips_ros.errors import UsageError
from tips_ros.tools.bench.common import heads_of


@dataclass(frozen=True)
class E2EOptions:
    """The end-to-end run: camera process -> ``tips_node`` process -> subscribers here."""

    #: offered camera rate, frames/s
    rate_hz: float = 30.0
    #: measured frames
    frames: int = 150
    #: frames sent first and excluded from the figures (model warm-up in the node)
    warmup_frames: int = 10
    #: the grid: camera frame sizes (width, height) x node ``output_size`` values, one e2e run
    #: per cell (``report["e2e_grid"]``); empty: the run's own ``frame_size`` / ``output_size``
    grid_sizes: tuple[tuple[int, int], ...] = ()
    grid_output_sizes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Check the counts and the grid's output sizes (``UsageError``, one sentence)."""
        if self.rate_hz <= 0 or self.frames < 1 or self.warmup_frames < 0:
            raise UsageError(f"--e2e-rate must be > 0 and --e2e-frames >= 1, not "
                             f"{self.rate_hz} and {self.frames}")
        try:
            object.__setattr__(self, "grid_output_sizes", tuple(
                OutputSize.parse(size).text for size in self.grid_output_sizes))
        except ValueError as err:
            raise UsageError(f"--e2e-grid-output-sizes: {err}") from None

    @property
    def grid(self) -> bool:
        """Tell whether a grid of e2e runs was asked for."""
        return bool(self.grid_sizes or self.grid_output_sizes)


@dataclass(frozen=True)
class BenchOptions:
    """One benchmark run: every precision x compile mode x batch x heads configuration.

    ``model``/``text_model`` are hub ids or directories; ``frame_size`` is the camera frame
    (width, height) in pixels and ``input_size`` the model input side (a multiple of 14);
    ``output_size`` the outputs' resolution (the node's ``output_size``: ``input``, ``WxH``
    or a scale);
    ``heads`` holds ``--heads`` items (see :func:`~tips_ros.tools.bench.common.heads_of`);
    ``compile_backend`` is torch.compile's (``eager`` checks Dynamo alone, e.g. on a CPU).
    ``iters`` timed and ``warmup`` untimed calls per configuration, ``profile_iters`` calls
    of the stage profile. ``e2e`` adds the run through ROS 2 processes (first precision).
    """

    model: str
    text_model: str
    device: str = DEFAULTS["device"]
    precisions: tuple[str, ...] = ("fp32", "bf16")
    backends: tuple[str, ...] = (DEFAULTS["backend"],)
    batches: tuple[int, ...] = (1, 8)
    compile_modes: tuple[str, ...] = (DEFAULTS["compile"],)
    compile_backend: str = EngineConfig.compile_backend
    channels_last: bool = DEFAULTS["channels_last"]
    heads: tuple[str, ...] = ("all", "depth")
    frame_size: tuple[int, int] = (640, 480)
    input_size: int = DEFAULTS["input_size"]
    output_size: str = DEFAULTS["output_size"]
    iters: int = 50
    warmup: int = 5
    profile_iters: int = 5
    queries: tuple[str, ...] = DEFAULTS["text_queries"]
    e2e: E2EOptions | None = None

    def __post_init__(self) -> None:
        """Reject unknown backends and heads before anything is loaded."""
        unknown = set(self.backends) - set(BACKENDS)
        if unknown or not self.backends:
            raise UsageError(f"--backend takes a comma list of {', '.join(BACKENDS)}, "
                             f"not {','.join(self.backends)}")
        if not (self.precisions and self.batches and self.compile_modes and self.heads):
            raise UsageError("--precision, --batch, --compile and --heads need one item at least")
        if min(self.batches) < 1:
            raise UsageError(f"--batch sizes are positive, not {min(self.batches)}")
        for name in self.heads:
            heads_of(name)
        try:
            object.__setattr__(self, "output_size", OutputSize.parse(self.output_size).text)
        except ValueError as err:
            raise UsageError(f"--output-size: {err}") from None


def make_engine(options: BenchOptions, precision: str, compile_mode: str) -> Engine:
    """Load the torch engine of one configuration, with the benchmark's queries set."""
    engine = Engine(EngineConfig(
        model=options.model, text_model=options.text_model, device=options.device,
        precision=precision, input_size=options.input_size, compile=compile_mode,
        compile_backend=options.compile_backend, channels_last=options.channels_last,
        output_size=options.output_size))
    engine.set_queries(options.queries)
    return engine
