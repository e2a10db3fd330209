# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""vision_msgs outputs: the label map (``LabelInfo``) and the text-query detections.

vision_msgs has no PyPI wheel (a pip venv builds it with ``scripts/build_vision_msgs.sh``; a
system ROS 2 gets it through rosdep). Without it the node runs everything else:
:data:`MISSING` then says why, and the node warns once at configure which topics are off.
Conventions (vision_msgs 4.x): ``LabelInfo.class_map`` lists exactly the mask's ids and names
(the top id of the mask's type, 255 for mono8, is UNLABELED and no class uses it); a
detection's ``class_id`` is the query text and its ``score`` the region's peak heatmap value;
2D boxes in pixels of the published images, 3D boxes in metres in the header's optical frame.
"""

from __future__ import annotations

from collections.abc import Sequence

from std_msgs.msg import Header

from tips_ros.io.detections import Detection

try:
    from vision_msgs.msg import (
        Detection2D, Detection2DArray, Detection3D, Detection3DArray, LabelInfo,
        ObjectHypothesisWithPose, VisionClass,
    )
except ImportError as err:  # no vision_msgs in this environment
    MISSING = f"vision_msgs cannot be imported ({err})"
else:
    MISSING = ""


def label_info_msg(class_names: Sequence[str]) -> LabelInfo:
    """Return the ``segmentation/label_info`` message: class id i is ``class_names[i]``.

    Latched (reliable, transient local); its header is left empty, as it describes the mask
    topic rather than one frame.
    """
    return LabelInfo(class_map=[VisionClass(class_id=i, class_name=name)
                                for i, name in enumerate(class_names)])


def _hypothesis(detection: Detection) -> ObjectHypothesisWithPose:
    result = ObjectHypothesisWithPose()
    result.hypothesis.class_id = detection.query
    result.hypothesis.score = detection.score
    return result


def detections_2d_msg(header: Header, detections: Sequence[Detection]) -> Detection2DArray:
    """Return one frame's ``Detection2DArray`` (input ``header``; boxes in pixels)."""
    out = Detection2DArray(header=header)
    for detection in detections:
        item = Detection2D(header=header, results=[_hypothesis(detection)])
        item.bbox.center.position.x, item.bbox.center.position.y = detection.center
        item.bbox.size_x, item.bbox.size_y = detection.size
        out.detections.append(item)
    return out


def detections_3d_msg(header: Header, detections: Sequence[Detection]) -> Detection3DArray:
    """Return one frame's ``Detection3DArray``: the detections that have a 3D box.

    Boxes axis-aligned in the optical frame ``header.frame_id``, metres; the hypothesis pose
    is the box centre.
    """
    out = Detection3DArray(header=header)
    for detection in detections:
        if detection.box_3d is None:
            continue
        item = Detection3D(header=header, results=[_hypothesis(detection)])
        centre, size = detection.box_3d.center, detection.box_3d.size
        position = item.bbox.center.position
        position.x, position.y, position.z = centre
        item.bbox.center.orientation.w = 1.0
        item.bbox.size.x, item.bbox.size.y, item.bbox.size.z = size
        item.results[0].pose.pose = item.bbox.center
        out.detections.append(item)
    return out
