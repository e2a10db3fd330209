# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Launch one tips_node serving several cameras with one batched forward pass per frame set.

Example:
  ros2 launch tips_ros multi_camera.launch.py cameras:="[front, left, right]" max_batch:=3

Parameters come from, lowest first: the node's defaults (``config/tips.yaml`` lists them) with
``cameras: [front, left]``, the ``params_file`` if given, then each parameter argument
(``cameras``, ``model``, ``text_model``, ``max_batch``) that was given: an argument left
empty does not touch the file's value.
Camera ``front`` is read from ``/front/image`` and ``/front/camera_info``; its outputs are
published as ``/front/depth``, ``/front/normals``, ... Remap with ``-r`` or a params file if
your driver uses other names. The node uses the shipped Fast DDS profile (config/fastdds.xml)
unless FASTDDS_DEFAULT_PROFILES_FILE is set.
"""

from typing import List

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from tips_ros.ros.launching import (NOT_GIVEN, SHARED_OVERRIDES, node_parameters,
                                    shared_arguments)

#: Launch arguments that set a parameter when given: argument -> (parameter, value type).
OVERRIDES = {**SHARED_OVERRIDES, "cameras": ("cameras", List[str]),
             "max_batch": ("max_batch", int)}
#: This launch file's own defaults, below the params file.
DEFAULTS = {"cameras": ["front", "left"]}


def node(context: LaunchContext) -> List[Node]:
    """Return the node with its parameters (see tips_ros.ros.launching for their order)."""
    return [Node(
        package="tips_ros",
        executable="tips_node",
        name="tips_node",
        output="screen",
        emulate_tty=True,
        parameters=node_parameters(context, OVERRIDES, DEFAULTS),
    )]


def generate_launch_description() -> LaunchDescription:
    """Declare the launch arguments and the one node serving every camera."""
    return LaunchDescription([
        DeclareLaunchArgument("cameras", default_value="", description="camera namespaces "
                              f"(YAML list; {NOT_GIVEN}[front, left])"),
        *shared_arguments(),
        DeclareLaunchArgument("max_batch", default_value="",
                              description=f"most frames (cameras) per forward pass ({NOT_GIVEN}"
                              "the node's default)"),
        OpaqueFunction(function=node),
    ])
