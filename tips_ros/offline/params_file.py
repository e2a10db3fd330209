# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The node's parameters file read for an offline run (``--params-file``).

The file is the node's own YAML (``config/tips.yaml`` is one): the ``ros__parameters`` of its
``/**`` section and of every section named for the node (``tips_node``, ``/tips_node``,
``/front/tips_node``, ...), merged in file order as rclpy does. Each value is checked with the
node's own parameter specs (:func:`tips_ros.engine.parameters.validate`), so a value means the
same offline as live. Parameters with a :class:`~tips_ros.offline.options.RunOptions` field
(:data:`RUN_FIELDS`: every engine parameter, the text queries and prompt templates, the
detection threshold) set it; every other known parameter is live-only (cameras, input
compression, QoS, batching and waiting, limits, points, diagnostics, ...) and is accepted and
reported as not applied, so the robot's file works unchanged.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from tips_ros.engine.parameters import (
    NodeParams, normalise, prompt_count_error, SPEC_BY_NAME, validate,
)
from tips_ros.errors import UsageError
from tips_ros.offline.options import RunOptions

#: The node's name: sections for it (any namespace) apply, as ``/**`` does.
NODE_NAME = "tips_node"
#: Parameter -> the RunOptions field it sets: the field of the same name, and ``text_queries``
#: sets ``queries``.
RUN_FIELDS: dict[str, str] = {
    item.name: item.name for item in fields(RunOptions) if item.name in SPEC_BY_NAME
} | {"text_queries": "queries"}


def read_params_file(path: Path) -> dict[str, Any]:
    """Return the node's parameters in ``path`` (only those the file sets), checked.

    Raises ``UsageError`` (one sentence) for a missing or unreadable file, a file without a
    ``ros__parameters`` section for the node, an unknown parameter, a rejected value or more
    prompts (text queries x templates) than the node encodes.
    """
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise UsageError(f"params file '{path}' cannot be read: "
                         f"{str(err).splitlines()[0]}") from None
    sections = [section for name, section in (data or {}).items()
                if name == "/**" or str(name).strip("/").split("/")[-1] == NODE_NAME] \
        if isinstance(data, dict) else []
    values: dict[str, Any] = {}
    for section in sections:
        values |= (section or {}).get("ros__parameters") or {}
    if not values:
        raise UsageError(f"params file '{path}' has no ros__parameters for /** or {NODE_NAME}")
    unknown = sorted(set(values) - set(SPEC_BY_NAME))
    if unknown:
        raise UsageError(f"params file '{path}': unknown parameter {', '.join(unknown)}")
    current = NodeParams(**{name: normalise(name, values.get(name, spec.default))
                            for name, spec in SPEC_BY_NAME.items()})
    for name, value in values.items():
        reason = validate(name, value, current)
        if reason:
            raise UsageError(f"params file '{path}': {reason}")
    reason = prompt_count_error(current.text_queries, current)
    if reason:  # as the node refuses it at start-up
        raise UsageError(f"params file '{path}': {reason}")
    return {name: normalise(name, value) for name, value in values.items()}


def run_settings(params: dict[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Split file parameters into RunOptions values and the names not applicable offline."""
    settings = {RUN_FIELDS[name]: tuple(value) if isinstance(value, list) else value
                for name, value in params.items() if name in RUN_FIELDS}
    return settings, tuple(sorted(set(params) - set(RUN_FIELDS)))
