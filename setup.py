# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""ament_python package ``tips_ros``: TIPSv2 dense perception for ROS 2."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "tips_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "setuptools",
        "numpy>=1.24",
        "opencv-python-headless>=4.8",
        # minimum versions: tips_ros/engine/requirements.py MINIMUM_VERSIONS (checked at load)
        "torch>=2.6",
        "transformers>=5.17",
        "safetensors",
        "tokenizers",
        "rosbags>=0.10",
        "pillow",
        "matplotlib",
        "tqdm",  # replay's and evaluate's progress bars
        "pyyaml",  # YAML parameter files (tips_ros.ros.launching)
    ],
    extras_require={
        # ROS 2 from PyPI wheels; skip this extra when a system ROS 2 (colcon workspace)
        # provides rclpy.
        "ros": [
            "ros-rclpy[fastrtps]",
            "ros-sensor-msgs",
            "ros-std-msgs",
            "ros-diagnostic-msgs",
            "ros-lifecycle-msgs",
            "ros-rcl-interfaces",  # parameter descriptors (tips_ros/ros/node.py)
            "ros-ament-index-python",  # the shipped Fast DDS profile (tips_ros/ros/qos.py)
        ],
        # tips-ros evaluate on Ray workers (one machine or a cluster); without it, in-process
        "cluster": ["ray>=2.40"],
        # tips-ros convert --tokenizer: transformers' SentencePiece conversion reads the model
        "convert": ["sentencepiece", "protobuf"],
        # tips-ros export (onnx, onnxscript) and backend onnxruntime (CPU provider); ~120 MB
        # installed. GPU/Jetson: the onnxruntime-gpu build for the machine instead of onnxruntime.
        "onnx": ["onnx>=1.17", "onnxruntime>=1.20", "onnxscript>=0.3"],
        "test": [
            "pytest",
            "hypothesis",
            "mcap",
            "mcap-ros2-support",
            "sentencepiece",  # test_convert.py, test_authors.py: the convert extra
            "protobuf",
            "onnx>=1.17", "onnxruntime>=1.20", "onnxscript>=0.3",  # test_onnx.py: the onnx extra
            "ray>=2.40",  # test_evaluate.py: tips-ros evaluate's Ray workers (wheel ~80 MB)
            "rosdep",  # test/test_rosdep.py: real rosdep against ../shared/rosdistro
            # test_colcon.py, test_launch.py: colcon run by this interpreter, so the installed
            # tips_node script starts with it (Debian's colcon would write /usr/bin/python3)
            "colcon-common-extensions",
            # launch/launch_ros from ../shared/vendor (test_launch.py) need these; their `lark`
            # module comes with the ros extra (lark-parser, a dependency of ros-rosidl-parser)
            "osrf-pycommon",
            "ros-ament-index-python",
            # test_layout.py: the import contracts in .importlinter
            "import-linter>=2.1",
            # test_flake8.py, test_pep257.py: the linters package.xml declares, with the flake8
            # plugins a ROS 2 install of ament_flake8 brings
            "ros-ament-lint", "ros-ament-flake8", "ros-ament-pep257",
            "flake8", "flake8-blind-except", "flake8-builtins", "flake8-class-newline",
            "flake8-comprehensions", "flake8-deprecated", "flake8-docstrings",
            "flake8-import-order", "flake8-quotes", "pydocstyle",
        ],
    },
    zip_safe=True,
    maintainer="tips_ros developers",
    maintainer_email="tips-ros@example.com",
    description=("TIPSv2 perception node: metric depth, normals, segmentation and "
                 "text-queried heatmaps"),
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "tips_node = tips_ros.ros.startup:main",
            "tips-ros = tips_ros.cli:main",
        ],
    },
)
