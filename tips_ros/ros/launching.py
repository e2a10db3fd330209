# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""The parameter sources the launch files give tips_node, in the usual ROS order.

Lowest first: the launch file's own defaults, then the user's ``params_file`` (if given),
then each parameter launch argument that was given. A parameter argument's default is empty,
meaning "not given": it never overrides the file, so ``params_file:=my.yaml`` alone configures
the node as the file says. ``launch`` and ``launch_ros`` are imported only when a launch file
calls this (they come with a ROS 2 install, not with the package).
"""

from __future__ import annotations

import tempfile
from typing import Any

import yaml

#: The start of a parameter argument's description: what its empty default means.
NOT_GIVEN = "empty: from params_file, else "
#: The parameter arguments of :func:`shared_arguments`: argument -> (parameter, value type).
SHARED_OVERRIDES = {"model": ("model", str), "text_model": ("text_model", str)}


def node_parameters(context: Any, overrides: dict[str, tuple[str, Any]],
                    defaults: dict[str, Any] | None = None) -> list[Any]:
    """Return tips_node's ``parameters=`` list for a launch file's ``OpaqueFunction``.

    ``context``: the ``launch.LaunchContext``; ``overrides``: launch argument -> (parameter
    name, value type as ``ParameterValue`` takes it); ``defaults``: the launch file's own
    parameter values, below the params file.

    rclpy merges all parameter files by section in the order the sections first appear and
    lets a later section win: the given values therefore go last under both the node's own
    name (a dict, which launch_ros writes under it) and ``/**`` (a file written here), so they
    win whichever sections the user's file has.
    """
    from launch.substitutions import LaunchConfiguration
    from launch_ros.parameter_descriptions import ParameterValue

    given = {name: ParameterValue(LaunchConfiguration(argument), value_type=kind)
             .evaluate(context) for argument, (name, kind) in overrides.items()
             if LaunchConfiguration(argument).perform(context)}
    given = {name: list(value) if isinstance(value, tuple) else value
             for name, value in given.items()}
    params_file = LaunchConfiguration("params_file").perform(context)
    sources = [*([defaults] if defaults else []), *([params_file] if params_file else [])]
    if not given:
        return sources
    with tempfile.NamedTemporaryFile("w", prefix="tips_launch_", suffix=".yaml",
                                     delete=False) as wildcard:
        yaml.safe_dump({"/**": {"ros__parameters": given}}, wildcard)
    return [*sources, given, wildcard.name]


def shared_arguments() -> list[Any]:
    """Return the launch arguments both launch files declare: params_file, model, text_model.

    Each defaults to empty (not given); see :func:`node_parameters`.
    """
    from launch.actions import DeclareLaunchArgument

    return [
        DeclareLaunchArgument("params_file", default_value="", description="parameters file "
                              "(YAML, ros__parameters); empty: the node's defaults"),
        DeclareLaunchArgument("model", default_value="", description="DPT model: hub id or "
                              f"directory ({NOT_GIVEN}the node's default)"),
        DeclareLaunchArgument("text_model", default_value="", description="text model: hub id "
                              f"or directory ({NOT_GIVEN}the node's default)"),
    ]
