# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""vision_msgs in replay's output bag: types read at run time from the installed package.

rosbags ships no vision_msgs definitions, and the project holds none of vision_msgs' files:
:func:`register_vision_msgs` reads the installed ``share/vision_msgs/msg/*.msg`` (a pip venv
built with ``scripts/build_vision_msgs.sh``, or a sourced ROS 2) into the writer's typestore.
The builders fill the messages exactly as the node does (:mod:`tips_ros.ros.vision`):
``LabelInfo`` class map = the mask's ids and names, one detection array per frame with the
input header, ``class_id`` = query text, ``score`` = the region's peak.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.typesys import get_types_from_msg
from rosbags.typesys.store import Typestore

from tips_ros.io.detections import Detection

LABEL_INFO = "vision_msgs/msg/LabelInfo"
DETECTION_2D_ARRAY = "vision_msgs/msg/Detection2DArray"
DETECTION_3D_ARRAY = "vision_msgs/msg/Detection3DArray"


def vision_msgs_folder() -> Path | None:
    """Return the installed ``share/vision_msgs/msg`` folder, or None.

    Looked for under this interpreter's prefix (a pip venv) and each ``AMENT_PREFIX_PATH``
    entry (a sourced ROS 2 or colcon workspace).
    """
    prefixes = [sys.prefix, *os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)]
    for prefix in filter(None, prefixes):
        folder = Path(prefix) / "share" / "vision_msgs" / "msg"
        if (folder / "LabelInfo.msg").is_file():
            return folder
    return None


def register_vision_msgs(typestore: Typestore) -> str:
    """Add the installed vision_msgs types to ``typestore``; return why not ("" when done)."""
    if LABEL_INFO in typestore.types:
        return ""
    folder = vision_msgs_folder()
    if folder is None:
        return ("vision_msgs is not installed (no share/vision_msgs/msg under this Python's "
                "prefix or AMENT_PREFIX_PATH; scripts/build_vision_msgs.sh builds it)")
    types: dict[str, Any] = {}
    for path in sorted(folder.glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"vision_msgs/msg/{path.stem}"))
    typestore.register(types)
    return ""


def label_info(typestore: Typestore, header: Any, class_names: Sequence[str]) -> Any:
    """Return the ``segmentation/label_info`` message: class id i is ``class_names[i]``."""
    types = typestore.types
    return types[LABEL_INFO](header=header, class_map=[
        types["vision_msgs/msg/VisionClass"](class_id=i, class_name=name)
        for i, name in enumerate(class_names)], threshold=0.0)


def _results(typestore: Typestore, detection: Detection, position: Any) -> list[Any]:
    """Return the one hypothesis of ``detection`` (pose: ``position``, identity rotation)."""
    types = typestore.types
    pose = types["geometry_msgs/msg/PoseWithCovariance"](
        pose=_pose(typestore, position), covariance=np.zeros(36))
    hypothesis = types["vision_msgs/msg/ObjectHypothesis"](
        class_id=detection.query, score=detection.score)
    return [types["vision_msgs/msg/ObjectHypothesisWithPose"](
        hypothesis=hypothesis, pose=pose)]


def _pose(typestore: Typestore, xyz: Sequence[float]) -> Any:
    types = typestore.types
    return types["geometry_msgs/msg/Pose"](
        position=types["geometry_msgs/msg/Point"](*map(float, xyz)),
        orientation=types["geometry_msgs/msg/Quaternion"](0.0, 0.0, 0.0, 1.0))


def detections_2d(typestore: Typestore, header: Any, detections: Sequence[Detection]) -> Any:
    """Return one frame's ``Detection2DArray`` (boxes in pixels)."""
    types = typestore.types
    items = []
    for detection in detections:
        center = types["vision_msgs/msg/Pose2D"](
            position=types["vision_msgs/msg/Point2D"](*detection.center), theta=0.0)
        bbox = types["vision_msgs/msg/BoundingBox2D"](center, *detection.size)
        items.append(types["vision_msgs/msg/Detection2D"](
            header=header, results=_results(typestore, detection, (0.0, 0.0, 0.0)),
            bbox=bbox, id=""))
    return types[DETECTION_2D_ARRAY](header=header, detections=items)


def detections_3d(typestore: Typestore, header: Any, detections: Sequence[Detection]) -> Any:
    """Return one frame's ``Detection3DArray``: the detections with a 3D box (metres)."""
    types = typestore.types
    items = []
    for detection in detections:
        if detection.box_3d is None:
            continue
        center = _pose(typestore, detection.box_3d.center)
        bbox = types["vision_msgs/msg/BoundingBox3D"](
            center, types["geometry_msgs/msg/Vector3"](*detection.box_3d.size))
        items.append(types["vision_msgs/msg/Detection3D"](
            header=header, results=_results(typestore, detection, detection.box_3d.center),
            bbox=bbox, id=""))
    return types[DETECTION_3D_ARRAY](header=header, detections=items)
