"""tips_ros: TIPSv2 dense perception (depth, normals, segmentation, text heatmaps) for ROS 2.

The engine (``tips_ros.engine``) has no ROS imports, so replay, benchmarks and tests of the
model path run on machines without ROS 2. ROS-facing code lives in ``tips_ros.node`` and
``tips_ros.messages``.
"""

__version__ = "0.1.0"
