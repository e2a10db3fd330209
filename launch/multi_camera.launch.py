# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Launch one tips_node serving several cameras with one batched forward pass per frame set.

Example:
  ros2 launch tips_ros multi_camera.launch.py cameras:="[front, left, right]" max_batch:=3

Camera ``front`` is read from ``/front/image`` and ``/front/camera_info``; its outputs are
published as ``/front/depth``, ``/front/normals``, ... Remap with ``-r`` or a params file if
your driver uses other names. The node uses the shipped Fast DDS profile (config/fastdds.xml)
unless FASTDDS_DEFAULT_PROFILES_FILE is set.
"""

import os
from typing import List

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

SHARE = get_package_share_directory("tips_ros")


def generate_launch_description() -> LaunchDescription:
    """Declare the launch arguments and the one node serving every camera."""
    return LaunchDescription([
        DeclareLaunchArgument("cameras", default_value="[front, left]",
                              description="camera namespaces (YAML list)"),
        DeclareLaunchArgument("model", default_value="google/tipsv2-b14-dpt",
                              description="DPT model: hub id or directory"),
        DeclareLaunchArgument("text_model", default_value="google/tipsv2-b14",
                              description="text model: hub id or directory"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(SHARE, "config", "tips.yaml"),
                              description="parameters file"),
        DeclareLaunchArgument("max_batch", default_value="8",
                              description="most frames (cameras) per forward pass"),
        Node(
            package="tips_ros",
            executable="tips_node",
            name="tips_node",
            output="screen",
            emulate_tty=True,
            parameters=[
                LaunchConfiguration("params_file"),
                {
                    "model": LaunchConfiguration("model"),
                    "text_model": LaunchConfiguration("text_model"),
                    "cameras": ParameterValue(LaunchConfiguration("cameras"),
                                              value_type=List[str]),
                    "max_batch": ParameterValue(LaunchConfiguration("max_batch"), value_type=int),
                },
            ],
        ),
    ])
