# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Synthetic indoor scenes with exact ground truth, rendered by numpy ray casting.

A pinhole camera moves around a closed room (floor, ceiling, four walls) holding a few
axis-aligned boxes (a table, a cabinet, a box) and spheres (balls). Each frame carries the
colour image and its exact depth, surface normals and ADE20K class ids.

Frames and conventions:

- World frame (REP 103): x east, y north, z up, metres; the floor is ``z = 0``.
- Camera optical frame: x right, y down, z forward. The camera stays level (no roll or
  pitch), so the floor normal in the optical frame is ``(0, -1, 0)``.
- Intrinsics follow ROS ``CameraInfo``/OpenCV: pixel ``(u, v)`` (column, row index) has its
  centre at image coordinate ``(u, v)``, i.e. **integer coordinates are pixel centres, not
  +0.5**; the principal point of a centred camera is ``((W - 1) / 2, (H - 1) / 2)``. The ray
  through pixel ``(u, v)`` is ``((u - cx) / fx, (v - cy) / fy, 1)`` in the optical frame.
- ``depth`` is the z coordinate of the hit point in the optical frame (REP 118), not the ray
  length, so ``X = (u - cx) / fx * depth``, ``Y = (v - cy) / fy * depth``, ``Z = depth``.
- ``normals`` are outward unit normals in the optical frame: out of the surface, towards the
  camera (``n . ray < 0``), the convention the node publishes (docs/models.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from tips_ros.engine.ade20k import CLASS_ID

#: Room extent in the world frame, metres: x in [-ROOM_X, ROOM_X], y in [-ROOM_Y, ROOM_Y].
ROOM_X, ROOM_Y, ROOM_HEIGHT = 3.0, 4.0, 2.7

#: Camera height above the floor (m), radius of its circular path (m), horizontal field of view.
CAMERA_HEIGHT, PATH_RADIUS, HFOV_DEG = 1.3, 1.0, 70.0

#: Start time of the sequence, nanoseconds since the epoch.
START_STAMP_NS = 1_700_000_000_000_000_000


@dataclass
class SynthFrame:
    """One rendered frame with exact ground truth.

    ``rgb``: HxWx3 uint8. ``depth``: HxW float32 z-depth in metres (NaN where nothing is
    hit). ``normals``: HxWx3 float32 unit vectors in the optical frame. ``labels``: HxW uint8
    ADE20K class ids. ``K``: 3x3 float64 intrinsics. ``stamp_ns``: capture time.
    ``camera_to_world``: 4x4 pose of the optical frame in the world frame.
    """

    rgb: np.ndarray
    depth: np.ndarray
    normals: np.ndarray
    labels: np.ndarray
    K: np.ndarray
    stamp_ns: int
    camera_to_world: np.ndarray


@dataclass(frozen=True)
class _Box:
    lo: np.ndarray
    hi: np.ndarray
    label: int
    albedo: np.ndarray


@dataclass(frozen=True)
class _Sphere:
    centre: np.ndarray
    radius: float
    label: int
    albedo: np.ndarray


@dataclass(frozen=True)
class _Scene:
    boxes: tuple[_Box, ...]
    spheres: tuple[_Sphere, ...]
    wall_albedo: np.ndarray  # 4x3: walls at x-, x+, y-, y+
    floor_albedo: np.ndarray  # 2x3: checker colours
    ceiling_albedo: np.ndarray
    tile: float  # floor checker size, m
    stripe: float  # wall stripe period, m
    light: np.ndarray  # point light position, world frame


def intrinsics(width: int, height: int, hfov_deg: float = HFOV_DEG) -> np.ndarray:
    """3x3 pinhole matrix with square pixels and a centred principal point (see module doc)."""
    fx = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
    return np.array([[fx, 0.0, (width - 1) / 2.0], [0.0, fx, (height - 1) / 2.0], [0, 0, 1.0]])


def _make_scene(rng: np.random.Generator) -> _Scene:
    def colour(lo: float = 0.2, hi: float = 0.9) -> np.ndarray:
        return rng.uniform(lo, hi, size=3)

    j = rng.uniform(-0.2, 0.2, size=6)  # layout jitter, m
    table_top = 0.75
    boxes = (
        _Box(np.array([1.7 + j[0], 1.6, 0.0]), np.array([2.8, 2.9 + j[1], table_top]),
             CLASS_ID["table"], colour(0.4, 0.8)),
        _Box(np.array([-2.9, -1.2 + j[2], 0.0]), np.array([-2.3, 0.4 + j[2], 1.8]),
             CLASS_ID["cabinet"], colour()),
        _Box(np.array([-1.0 + j[3], -3.7, 0.0]), np.array([-0.3 + j[3], -3.0, 0.5]),
             CLASS_ID["box"], colour()),
    )
    spheres = (
        _Sphere(np.array([0.9 + j[4], -2.6, 0.3]), 0.3, CLASS_ID["ball"], colour(0.5, 1.0)),
        _Sphere(np.array([2.25, 2.2 + j[5], table_top + 0.15]), 0.15, CLASS_ID["ball"],
                colour(0.5, 1.0)),
    )
    return _Scene(
        boxes=boxes,
        spheres=spheres,
        wall_albedo=rng.uniform(0.45, 0.9, size=(4, 3)),
        floor_albedo=np.stack([colour(0.15, 0.4), colour(0.5, 0.8)]),
        ceiling_albedo=colour(0.8, 0.95),
        tile=float(rng.uniform(0.4, 0.7)),
        stripe=float(rng.uniform(0.2, 0.5)),
        light=np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), ROOM_HEIGHT - 0.2]),
    )


def _camera_pose(frame: int, frames: int, phase: float) -> np.ndarray:
    """4x4 optical-to-world pose: level camera, one loop of a circle over the sequence."""
    angle = phase + 2.0 * np.pi * frame / max(frames, 1)
    position = np.array([PATH_RADIUS * np.cos(angle), PATH_RADIUS * np.sin(angle), CAMERA_HEIGHT])
    yaw = angle + np.pi / 3.0
    forward = np.array([np.cos(yaw), np.sin(yaw), 0.0])
    right = np.array([np.sin(yaw), -np.cos(yaw), 0.0])
    down = np.array([0.0, 0.0, -1.0])
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = position
    return pose


def _render(scene: _Scene, pose: np.ndarray, K: np.ndarray, width: int, height: int,
            rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Ray-cast one frame: RGB ``HxWx3`` uint8, z-depth (m), optical-frame normals, labels."""
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    rays_cam = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], np.ones_like(u)], -1)
    rays = rays_cam.reshape(-1, 3) @ pose[:3, :3].T  # world frame; optical z component is 1
    hits = _Hits(pose[:3, 3], rays)
    hits.cast(scene)
    t, normal = hits.t, hits.normal
    points = hits.origin + np.where(np.isfinite(t), t, 0.0)[:, None] * rays
    albedo = _albedo(scene, hits.surface, points, rng)
    to_light = scene.light - points
    to_light /= np.linalg.norm(to_light, axis=1, keepdims=True)
    lambert = np.clip(np.einsum("ij,ij->i", normal, to_light), 0.0, 1.0)
    shade = 0.3 + 0.7 * lambert
    rgb = np.clip(albedo * shade[:, None] * 255.0, 0, 255).astype(np.uint8)

    depth = np.where(np.isfinite(t), t, np.nan).astype(np.float32)
    normals_cam = normal @ pose[:3, :3]  # world -> optical: R^T n
    normals_cam[~np.isfinite(t)] = np.nan
    shape = (height, width)
    return (rgb.reshape(*shape, 3), depth.reshape(shape),
            normals_cam.astype(np.float32).reshape(*shape, 3), hits.label.reshape(shape))


class _Hits:
    """Nearest hit per ray (world frame): ray parameter, normal, ADE20K label, surface index.

    The ray parameter ``t`` equals the z-depth in metres, because every ray's optical z
    component is 1. Surfaces: 0..3 walls, 4 floor, 5 ceiling, 6+ boxes then spheres.
    """

    def __init__(self, origin: np.ndarray, rays: np.ndarray) -> None:
        self.origin, self.rays = origin, rays
        n_rays = rays.shape[0]
        self.t = np.full(n_rays, np.inf)
        self.normal = np.zeros((n_rays, 3))
        self.label = np.zeros(n_rays, dtype=np.uint8)
        self.surface = np.full(n_rays, -1, dtype=np.int64)

    def cast(self, scene: _Scene) -> None:
        """Intersect every ray with the room's planes, the boxes and the spheres."""
        with np.errstate(divide="ignore", invalid="ignore"):
            self._planes()
            for index, box in enumerate(scene.boxes):
                self._box(box, 6 + index)
            for index, sphere in enumerate(scene.spheres):
                self._sphere(sphere, 6 + len(scene.boxes) + index)

    def keep(self, hit_t: np.ndarray, hit_normal: np.ndarray, hit_label: int,
             hit_surface: int) -> None:
        """Keep the hits ``hit_t`` that are in front of the camera and closer than before."""
        closer = (hit_t > 1e-9) & (hit_t < self.t)
        self.t[closer] = hit_t[closer]
        self.normal[closer] = hit_normal if hit_normal.ndim == 1 else hit_normal[closer]
        self.label[closer] = hit_label
        self.surface[closer] = hit_surface

    def _planes(self) -> None:
        planes = (  # axis, plane coordinate, inward normal, label
            (0, -ROOM_X, (1, 0, 0), CLASS_ID["wall"]),
            (0, ROOM_X, (-1, 0, 0), CLASS_ID["wall"]),
            (1, -ROOM_Y, (0, 1, 0), CLASS_ID["wall"]),
            (1, ROOM_Y, (0, -1, 0), CLASS_ID["wall"]),
            (2, 0.0, (0, 0, 1), CLASS_ID["floor"]),
            (2, ROOM_HEIGHT, (0, 0, -1), CLASS_ID["ceiling"]),
        )
        for index, (axis, coordinate, plane_normal, plane_label) in enumerate(planes):
            hit_t = (coordinate - self.origin[axis]) / self.rays[:, axis]
            self.keep(np.where(np.isfinite(hit_t), hit_t, np.inf),
                      np.array(plane_normal, float), plane_label, index)

    def _box(self, box: _Box, surface: int) -> None:
        rays, n_rays = self.rays, self.rays.shape[0]
        t0 = (box.lo - self.origin) / rays
        t1 = (box.hi - self.origin) / rays
        near, far = np.minimum(t0, t1), np.maximum(t0, t1)
        near = np.where(np.isnan(near), -np.inf, near)
        t_near, t_far = near.max(axis=1), np.nan_to_num(far, nan=np.inf).min(axis=1)
        hit_t = np.where((t_near <= t_far) & (t_near > 0), t_near, np.inf)
        axis = near.argmax(axis=1)
        box_normal = np.zeros((n_rays, 3))
        box_normal[np.arange(n_rays), axis] = -np.sign(rays[np.arange(n_rays), axis])
        self.keep(hit_t, box_normal, box.label, surface)

    def _sphere(self, sphere: _Sphere, surface: int) -> None:
        rays = self.rays
        oc = self.origin - sphere.centre
        a = np.einsum("ij,ij->i", rays, rays)
        b = rays @ oc
        disc = b * b - a * (oc @ oc - sphere.radius**2)
        hit_t = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / a, np.inf)
        points = self.origin + hit_t[:, None] * rays
        sphere_normal = (points - sphere.centre) / sphere.radius
        self.keep(hit_t, np.nan_to_num(sphere_normal), sphere.label, surface)


def _albedo(scene: _Scene, surface: np.ndarray, p: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """Procedural per-pixel reflectance in 0..1 (checker floor, striped walls, grainy objects)."""
    albedo = np.zeros_like(p)
    for wall in range(4):
        m = surface == wall
        along = p[m, 1] if wall < 2 else p[m, 0]
        stripes = 0.8 + 0.2 * (np.floor(along / scene.stripe) % 2)
        band = np.where(p[m, 2] < 0.1, 0.5, 1.0)  # skirting board
        albedo[m] = scene.wall_albedo[wall] * (stripes * band)[:, None]
    m = surface == 4
    checker = (np.floor(p[m, 0] / scene.tile) + np.floor(p[m, 1] / scene.tile)) % 2
    albedo[m] = scene.floor_albedo[checker.astype(int)]
    m = surface == 5
    albedo[m] = scene.ceiling_albedo
    for index, box in enumerate(scene.boxes):
        m = surface == 6 + index
        grain = 0.85 + 0.15 * np.sin(p[m, 0] * 40.0 + p[m, 1] * 25.0 + np.sin(p[m, 2] * 9.0))
        albedo[m] = box.albedo * grain[:, None]
    for index, sphere in enumerate(scene.spheres):
        m = surface == 6 + len(scene.boxes) + index
        d = p[m] - sphere.centre
        segments = (np.floor(np.arctan2(d[:, 1], d[:, 0]) * 3 / np.pi) % 2)
        albedo[m] = sphere.albedo * (0.6 + 0.4 * segments)[:, None]
    albedo *= rng.uniform(0.93, 1.07, size=(p.shape[0], 1))  # sensor-like grain
    return np.clip(albedo, 0.0, 1.0)


def render_sequence(
    frames: int, width: int, height: int, seed: int = 0, fps: float = 10.0
) -> Iterator[SynthFrame]:
    """Render ``frames`` frames of a level camera circling in a room; deterministic per seed.

    ``seed`` chooses the room's colours, textures, light and object layout and the camera's
    starting angle; frame ``i`` is stamped ``START_STAMP_NS + round(i * 1e9 / fps)``.
    Depths stay within about 0.5..7 m.
    """
    if frames < 0 or width < 1 or height < 1 or fps <= 0:
        raise ValueError("frames must be >= 0, width and height >= 1, fps > 0")
    rng = np.random.default_rng(seed)
    scene = _make_scene(rng)
    phase = float(rng.uniform(0, 2 * np.pi))
    K = intrinsics(width, height)
    for i in range(frames):
        pose = _camera_pose(i, frames, phase)
        frame_rng = np.random.default_rng([seed, i])
        rgb, depth, normals, labels = _render(scene, pose, K, width, height, frame_rng)
        yield SynthFrame(rgb=rgb, depth=depth, normals=normals, labels=labels, K=K.copy(),
                         stamp_ns=START_STAMP_NS + round(i * 1e9 / fps), camera_to_world=pose)
