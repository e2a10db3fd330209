# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""What one benchmark run measures (:class:`BenchOptions`), and the engine for a configuration.

``tips-ros bench`` builds the options from its flags and ``--params-file``
(``tips_ros.cli.bench``); scripts build them directly and call
:func:`tips_ros.tools.bench.benchmark`. A configuration's engine is the node's
(:meth:`~tips_ros.engine.config.EngineConfig.from_params` of the parameters it runs with,
:meth:`BenchOptions.node_params`), loaded by the one loader
(:func:`tips_ros.engine.engine.load_engine`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from tips_ros.engine import Engine, EngineConfig
from tips_ros.engine.parameters import (
    DEFAULTS, engine_value, NodeParams, normalise, prompt_count_error, SPEC_BY_NAME, validate,
)
from tips_ros.engine.prediction import BACKENDS, OutputSize
from tips_ros.errors import UsageError
from tips_ros.offline.params_file import RUN_FIELDS
from tips_ros.tools.bench.common import heads_of

#: Node parameter -> the BenchOptions field listing its values (one configuration per value).
SWEPT = {"precision": "precisions", "compile": "compile_modes", "backend": "backends"}
#: Node parameters the bench applies: every engine parameter (EngineConfig field), the text
#: queries and the prompt templates (both set with :meth:`~tips_ros.engine.Engine.set_queries`).
#: The others are live-only (cameras, QoS, batching, detections, ...).
APPLIED = tuple(name for name, spec in SPEC_BY_NAME.items()
                if spec.engine or name in ("text_queries", "prompt_templates"))


#: ``E2EOptions.outputs`` choices.
E2E_OUTPUTS = ("images", "all")


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
    #: what the listener subscribes to (the node computes only what is subscribed):
    #: ``images``, the seven image outputs; ``all``, also segmentation/confidence, points,
    #: detections, detections_3d
    outputs: str = "all"

    def __post_init__(self) -> None:
        """Check the counts and the grid's output sizes (``UsageError``, one sentence)."""
        if self.outputs not in E2E_OUTPUTS:
            raise UsageError(f"--e2e-outputs must be one of {', '.join(E2E_OUTPUTS)}, "
                             f"not {self.outputs!r}")
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

    ``parameters``: the node's other parameters of :data:`APPLIED` by name (those without a
    field here: ``keep_aspect``, ``prompt_templates``, ``heatmap_mode``, ``onnx_model``, ...),
    applied to every configuration; a parameter with a field here is set there (``queries``
    is ``text_queries``, ``precisions``, ``compile_modes`` and ``backends`` are swept, see
    :data:`SWEPT`). A given ``onnx_model`` is what backend onnxruntime measures (else a graph
    is exported in the run). Every value named for a node parameter is checked with its spec,
    and the queries x templates with the node's prompt limit. ``sources``: where each setting
    came from (``flag`` or ``params file PATH``; absent: the default), ``not_applied``: the
    ``--params-file`` parameters the bench does not use (live-only), as a replay's.
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
    parameters: Mapping[str, Any] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)
    not_applied: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Reject unknown backends and heads and bad parameters before anything is loaded."""
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
        for name in self.parameters:
            if name not in APPLIED:
                raise UsageError(f"parameters: {name} is not a parameter the bench applies "
                                 f"(one of {', '.join(APPLIED)})")
            if own_field(name):
                raise UsageError(f"parameters: {name} is set by the option {own_field(name)}")
        self._check_values()
        object.__setattr__(self, "not_applied", tuple(self.not_applied))
        object.__setattr__(self, "parameters", {name: engine_value(name, normalise(name, value))
                                                for name, value in self.parameters.items()})

    def _check_values(self) -> None:
        """Check every value named for a node parameter with its spec (``UsageError``)."""
        current = self.node_params()
        given = {name: [getattr(self, own_field(name))] for name in APPLIED
                 if own_field(name) and name not in SWEPT}
        given |= {name: list(getattr(self, swept)) for name, swept in SWEPT.items()}
        given |= {name: [value] for name, value in self.parameters.items()}
        for name, values in given.items():
            for value in values:
                reason = validate(name, value, current)
                if reason:
                    raise UsageError(f"{reason}.")
        reason = prompt_count_error(current.text_queries, current)
        if reason:
            raise UsageError(f"{reason}.")

    def node_params(self, **swept: Any) -> Any:
        """Return the node parameters (a NodeParams) of a configuration of this run.

        The defaults, then ``parameters``, then the fields here named for a parameter, then
        ``swept`` (by parameter name: ``precision``, ``compile``, ``backend``, ...; a swept
        parameter not given keeps its default).
        """
        values = dict(DEFAULTS) | dict(self.parameters) | {
            name: getattr(self, own_field(name)) for name in APPLIED
            if own_field(name) and name not in SWEPT} | swept
        return NodeParams(**{name: normalise(name, value) for name, value in values.items()})

    def engine_config(self, **swept: Any) -> EngineConfig:
        """Return the EngineConfig of a configuration: the node's, from :meth:`node_params`."""
        return replace(EngineConfig.from_params(self.node_params(**swept)),
                       compile_backend=self.compile_backend)

    def configuration(self) -> dict[str, Any]:
        """Return every parameter of :data:`APPLIED` by name as this run applies it.

        A swept parameter has the list of its values (one configuration each).
        """
        params = self.node_params()
        return {name: getattr(params, name) for name in APPLIED} | {
            name: list(getattr(self, swept)) for name, swept in SWEPT.items()}


def own_field(name: str) -> str | None:
    """Return the :class:`BenchOptions` field that sets node parameter ``name``, or None.

    The field of the parameter's name (``text_queries``: ``queries``, as replay's options), or
    the swept one (:data:`SWEPT`); only for parameters the bench applies (:data:`APPLIED`).
    """
    if name not in APPLIED:
        return None
    name = SWEPT.get(name) or RUN_FIELDS.get(name, name)
    return name if name in {item.name for item in fields(BenchOptions)} else None


def make_engine(options: BenchOptions, precision: str, compile_mode: str,
                **swept: Any) -> Engine:
    """Load the engine of one configuration with the run's queries and prompt templates.

    Backend torch unless ``swept`` says otherwise (``swept``: further parameters of the
    configuration, by name); through :func:`tips_ros.engine.engine.load_engine`.
    """
    from tips_ros.engine.engine import load_engine

    config = options.engine_config(**{"precision": precision, "compile": compile_mode,
                                      "backend": "torch", **swept})
    return load_engine(config, user="the bench", queries=options.queries,
                       templates=options.node_params().prompt_templates)
