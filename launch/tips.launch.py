# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Launch one tips_node for one camera.

Example:
  ros2 launch tips_ros tips.launch.py namespace:=front image:=/front/color/image_raw \
      camera_info:=/front/color/camera_info params_file:=my.yaml model:=google/tipsv2-b14-dpt

Parameters come from, lowest first: the node's defaults (``config/tips.yaml`` lists them), the
``params_file`` if given, then each parameter argument (``model``, ``text_model``,
``compressed``) that was given: an argument left empty does not touch the file's value.
Outputs appear under the namespace (``/front/depth``, ``/front/normals``, ...). The node uses
the shipped Fast DDS profile (config/fastdds.xml) unless FASTDDS_DEFAULT_PROFILES_FILE is set.
"""

from typing import List

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from tips_ros.ros.launching import (NOT_GIVEN, SHARED_OVERRIDES, node_parameters,
                                    shared_arguments)

#: Launch arguments that set a parameter when given: argument -> (parameter, value type).
OVERRIDES = {**SHARED_OVERRIDES, "compressed": ("input_compressed", bool)}


def node(context: LaunchContext) -> List[Node]:
    """Return the node with its parameters (see tips_ros.ros.launching for their order)."""
    image = LaunchConfiguration("image")
    return [Node(
        package="tips_ros",
        executable="tips_node",
        name="tips_node",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=node_parameters(context, OVERRIDES),
        remappings=[
            ("image", image),
            ("image/compressed", [image, "/compressed"]),
            ("camera_info", LaunchConfiguration("camera_info")),
        ],
    )]


def generate_launch_description() -> LaunchDescription:
    """Declare the launch arguments and the one node; topic arguments are ROS names."""
    return LaunchDescription([
        DeclareLaunchArgument("namespace", default_value="",
                              description="namespace of the node and its outputs"),
        DeclareLaunchArgument("image", default_value="image",
                              description="input image topic (raw)"),
        DeclareLaunchArgument("camera_info", default_value="camera_info",
                              description="input camera_info topic"),
        *shared_arguments(),
        DeclareLaunchArgument("compressed", default_value="",
                              description="true: subscribe to <image>/compressed "
                              f"(input_compressed; {NOT_GIVEN}false)"),
        OpaqueFunction(function=node),
    ])
