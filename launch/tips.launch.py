# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Launch one tips_node for one camera.

Example:
  ros2 launch tips_ros tips.launch.py namespace:=front image:=/front/color/image_raw \
      camera_info:=/front/color/camera_info model:=google/tipsv2-b14-dpt

Outputs appear under the namespace (``/front/depth``, ``/front/normals``, ...). The node uses
the shipped Fast DDS profile (config/fastdds.xml) unless FASTDDS_DEFAULT_PROFILES_FILE is set.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

SHARE = get_package_share_directory("tips_ros")


def generate_launch_description() -> LaunchDescription:
    """Declare the launch arguments and the one node; topic arguments are ROS names."""
    image = LaunchConfiguration("image")
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node and its outputs"),
        DeclareLaunchArgument("image", default_value="image",
                              description="input image topic (raw)"),
        DeclareLaunchArgument("camera_info", default_value="camera_info",
                              description="input camera_info topic"),
        DeclareLaunchArgument("model", default_value="google/tipsv2-b14-dpt",
                              description="DPT model: hub id or directory"),
        DeclareLaunchArgument("text_model", default_value="google/tipsv2-b14",
                              description="text model: hub id or directory"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(SHARE, "config", "tips.yaml"),
                              description="parameters file"),
        DeclareLaunchArgument("compressed", default_value="false",
                              description="subscribe to <image>/compressed (CompressedImage)"),
        Node(
            package="tips_ros",
            executable="tips_node",
            name="tips_node",
            namespace=LaunchConfiguration("namespace"),
            output="screen",
            emulate_tty=True,
            parameters=[
                LaunchConfiguration("params_file"),
                {
                    "model": LaunchConfiguration("model"),
                    "text_model": LaunchConfiguration("text_model"),
                    "input_compressed": ParameterValue(LaunchConfiguration("compressed"),
                                                       value_type=bool),
                },
            ],
            remappings=[
                ("image", image),
                ("image/compressed", [image, "/compressed"]),
                ("camera_info", LaunchConfiguration("camera_info")),
            ],
        ),
    ])
