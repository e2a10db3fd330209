# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation without a ROS install: bags, replay, metrics, Ray evaluation, the demo.

Lowest first: ``synthetic`` (scenes with exact ground truth), ``bags`` (rosbag2 reading and
writing), ``metrics`` (exactly mergeable scores), ``options`` (``ReplayOptions``),
``inputs``, ``scoring``, ``output_bag``, ``frame_loop`` and ``report`` (the parts of a replay),
``replay`` (``replay(options)``), ``preview``, ``demo``, and for ``tips-ros evaluate``
``aggregate``, ``jobs``, ``evaluate_ray`` and ``evaluate``. The options (``options``,
``bags.SynthBagOptions``, ``demo.DemoOptions``) are typed; the commands' flags are in
``tips_ros.cli``.
"""
