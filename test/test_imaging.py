# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Tests for tips_ros.io.imaging decoding: round trips, padding, byte order, rejections, fuzzing.

Reference encoders here are written independently of the module (numpy byte packing, the
BT.601 formula, a hand-made Bayer mosaic) so a wrong table entry in the decoder fails.
"""

from __future__ import annotations

import array
import io
import struct
import tracemalloc
import zlib
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import CompressedImage as RclpyCompressedImage
from sensor_msgs.msg import Image as RclpyImage

from tips_ros.io.imaging import (
    SUPPORTED_ENCODINGS,
    ImageDecodeError,
    decode_compressed,
    decode_image,
)

TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
RosbagsImage = TYPESTORE.types["sensor_msgs/msg/Image"]
RosbagsCompressedImage = TYPESTORE.types["sensor_msgs/msg/CompressedImage"]
Header = TYPESTORE.types["std_msgs/msg/Header"]
Time = TYPESTORE.types["builtin_interfaces/msg/Time"]

H, W = 24, 32


def rclpy_image(height, width, encoding, step, data, is_bigendian=0):
    msg = RclpyImage()
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.step, msg.is_bigendian, msg.data = step, is_bigendian, bytes(data)
    return msg


def rosbags_image(height, width, encoding, step, data, is_bigendian=0):
    return RosbagsImage(
        header=Header(stamp=Time(sec=1, nanosec=2), frame_id="camera"),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=is_bigendian,
        step=step,
        data=np.frombuffer(bytes(data), dtype=np.uint8),
    )


MESSAGE_BUILDERS = {"rclpy": rclpy_image, "rosbags": rosbags_image}


def random_rgb(seed: int = 0) -> np.ndarray:
    rgb = np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)
    rgb[0, 0], rgb[0, 1] = 255, 0  # full range, so 16-bit max scaling and 32F min..max are exact
    return rgb


def random_grey(seed: int = 0) -> np.ndarray:
    grey = random_rgb(seed)[:, :, 0]
    return np.repeat(grey[:, :, None], 3, axis=2)


def smooth_rgb() -> np.ndarray:
    """Distinct, slowly varying channels, constant over horizontal pixel pairs (no chroma loss)."""
    y, x = np.mgrid[0:H, 0:W]
    x = x // 2 * 2
    red = 180 + x * 2
    green = 90 + y
    blue = 20 + x + y // 2
    return np.stack([red, green, blue], axis=2).astype(np.uint8)


def add_alpha(pixels: np.ndarray, alpha: int) -> np.ndarray:
    return np.concatenate([pixels, np.full(pixels.shape[:2] + (1,), alpha, pixels.dtype)], 2)


def as_u16(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype("<u2") * 257


# encoding -> (reference packing of an RGB image into HxWxC pixel values, test image)
EXACT = {
    "rgb8": (lambda rgb: rgb, random_rgb),
    "bgr8": (lambda rgb: rgb[:, :, ::-1], random_rgb),
    "8UC3": (lambda rgb: rgb[:, :, ::-1], random_rgb),
    "rgba8": (lambda rgb: add_alpha(rgb, 7), random_rgb),
    "bgra8": (lambda rgb: add_alpha(rgb[:, :, ::-1], 7), random_rgb),
    "8UC4": (lambda rgb: add_alpha(rgb[:, :, ::-1], 7), random_rgb),
    "rgb16": (lambda rgb: as_u16(rgb), random_rgb),
    "bgr16": (lambda rgb: as_u16(rgb[:, :, ::-1]), random_rgb),
    "rgba16": (lambda rgb: add_alpha(as_u16(rgb), 65535), random_rgb),
    "bgra16": (lambda rgb: add_alpha(as_u16(rgb[:, :, ::-1]), 65535), random_rgb),
    "mono8": (lambda rgb: rgb[:, :, :1], random_grey),
    "8UC1": (lambda rgb: rgb[:, :, :1], random_grey),
    "mono16": (lambda rgb: as_u16(rgb[:, :, :1]), random_grey),
    "16UC1": (lambda rgb: as_u16(rgb[:, :, :1]), random_grey),
    # 32FC1: metres 0.5 .. 3.05 mapped back to 0..255 by the min..max rule.
    "32FC1": (lambda rgb: (0.5 + rgb[:, :, :1] / 100.0).astype("<f4"), random_grey),
}


def bt601_uyvy(rgb: np.ndarray, order: str) -> np.ndarray:
    """Video-range BT.601 YUV 4:2:2, bytes per pixel pair in ``order`` (``uyvy``/``yuyv``)."""
    r, g, b = (rgb[:, :, c].astype(np.float64) for c in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    u = (u[:, 0::2] + u[:, 1::2]) / 2
    v = (v[:, 0::2] + v[:, 1::2]) / 2
    planes = {"y0": y[:, 0::2], "y1": y[:, 1::2], "u": u, "v": v}
    names = ("u", "y0", "v", "y1") if order == "uyvy" else ("y0", "u", "y1", "v")
    pairs = np.stack([planes[n] for n in names], axis=2)
    return np.round(pairs).astype(np.uint8).reshape(rgb.shape[0], rgb.shape[1], 2)


def bayer_mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """Keep one channel per pixel; ``pattern`` names the 2x2 block at (0,0) row by row."""
    mosaic = np.zeros(rgb.shape[:2], rgb.dtype)
    for index, colour in enumerate(pattern):
        dy, dx = divmod(index, 2)
        mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, "rgb".index(colour)]
    return mosaic[:, :, None]


APPROX = {
    "yuv422": lambda rgb: bt601_uyvy(rgb, "uyvy"),
    "uyvy": lambda rgb: bt601_uyvy(rgb, "uyvy"),
    "yuv422_yuy2": lambda rgb: bt601_uyvy(rgb, "yuyv"),
    "yuyv": lambda rgb: bt601_uyvy(rgb, "yuyv"),
    **{
        f"bayer_{p}8": (lambda rgb, p=p: bayer_mosaic(rgb, p))
        for p in ("rggb", "bggr", "gbrg", "grbg")
    },
    **{
        f"bayer_{p}16": (lambda rgb, p=p: as_u16(bayer_mosaic(rgb, p)))
        for p in ("rggb", "bggr", "gbrg", "grbg")
    },
}


def pack(pixels: np.ndarray, pad: int = 0, big_endian: bool = False) -> tuple[int, bytes]:
    """Row-major bytes of ``pixels`` with ``pad`` junk bytes after each row: ``(step, data)``."""
    if pixels.dtype.itemsize > 1:
        pixels = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = np.ascontiguousarray(pixels).reshape(pixels.shape[0], -1).view(np.uint8)
    junk = np.full((rows.shape[0], pad), 0xA5, np.uint8)
    padded = np.concatenate([rows, junk], axis=1)
    return padded.shape[1], padded.tobytes()


def test_supported_encodings_are_all_covered_by_round_trips():
    assert SUPPORTED_ENCODINGS == set(EXACT) | set(APPROX)


@pytest.mark.parametrize("builder", sorted(MESSAGE_BUILDERS))
@pytest.mark.parametrize("encoding", sorted(EXACT))
def test_exact_round_trip(encoding, builder):
    to_pixels, make_rgb = EXACT[encoding]
    rgb = make_rgb()
    step, data = pack(to_pixels(rgb))
    out = decode_image(MESSAGE_BUILDERS[builder](H, W, encoding, step, data))
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    assert out.flags.c_contiguous and out.flags.writeable
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("builder", sorted(MESSAGE_BUILDERS))
@pytest.mark.parametrize("encoding", sorted(APPROX))
def test_approximate_round_trip(encoding, builder):
    rgb = smooth_rgb()
    pixels = APPROX[encoding](rgb)
    step, data = pack(pixels)
    out = decode_image(MESSAGE_BUILDERS[builder](H, W, encoding, step, data))
    assert out.shape == (H, W, 3) and out.dtype == np.uint8
    expected = rgb * (255.0 * 257 / pixels.max()) if encoding.endswith("16") else rgb
    # Demosaicing is inexact at the border; a swapped Bayer/YUV layout is off by > 50.
    error = np.abs(out.astype(np.float64) - expected)[2:-2, 2:-2]
    assert error.max() <= 6, error.max()


@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "mono16", "32FC1", "yuyv", "bayer_grbg8"])
@pytest.mark.parametrize("pad", [1, 7, 64])
def test_row_padding_is_skipped(encoding, pad):
    to_pixels = EXACT[encoding][0] if encoding in EXACT else APPROX[encoding]
    rgb = random_rgb() if encoding in EXACT else smooth_rgb()
    if encoding in ("mono16", "32FC1"):
        rgb = random_grey()
    pixels = to_pixels(rgb)
    packed_step, packed = pack(pixels)
    padded_step, padded = pack(pixels, pad=pad)
    assert padded_step == packed_step + pad
    expected = decode_image(rosbags_image(H, W, encoding, packed_step, packed))
    out = decode_image(rclpy_image(H, W, encoding, padded_step, padded))
    np.testing.assert_array_equal(out, expected)


def test_longer_data_is_accepted_and_tail_ignored():
    rgb = random_rgb()
    step, data = pack(rgb)
    out = decode_image(rclpy_image(H, W, "rgb8", step, data + b"\xff" * 100_000))
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("builder", sorted(MESSAGE_BUILDERS))
def test_big_endian_mono16(builder):
    grey = random_grey()
    pixels = grey[:, :, :1].astype("<u2") * 256 + 1  # low byte differs from high byte
    step, data = pack(pixels, big_endian=True)
    assert data[:2] == struct.pack(">H", int(pixels[0, 0, 0]))
    big = decode_image(MESSAGE_BUILDERS[builder](H, W, "mono16", step, data, is_bigendian=1))
    np.testing.assert_array_equal(big, grey)
    little = decode_image(MESSAGE_BUILDERS[builder](H, W, "mono16", step, data, is_bigendian=0))
    assert not np.array_equal(little, grey)


def test_mono16_scaled_by_frame_maximum():
    pixels = np.array([[[0], [1024], [4095]]], dtype="<u2")  # a 12-bit camera
    step, data = pack(pixels)
    out = decode_image(rclpy_image(1, 3, "mono16", step, data))
    np.testing.assert_array_equal(out[0, :, 0], [0, 64, 255])
    zeros = decode_image(rclpy_image(1, 3, "16UC1", step, bytes(len(data))))
    assert not zeros.any()


def test_32fc1_nan_and_inf_become_black():
    values = np.array([[[np.nan], [2.0], [np.inf], [4.0], [-np.inf], [3.0]]], dtype="<f4")
    step, data = pack(values)
    out = decode_image(rosbags_image(1, 6, "32FC1", step, data))
    np.testing.assert_array_equal(out[0, :, 0], [0, 0, 0, 255, 0, 128])
    assert (out == out[:, :, :1]).all()


def test_32fc1_big_endian_and_extreme_range():
    values = np.array([[[-3e38], [0.0], [3e38]]], dtype="<f4")
    step, data = pack(values, big_endian=True)
    out = decode_image(rclpy_image(1, 3, "32FC1", step, data, is_bigendian=1))
    np.testing.assert_array_equal(out[0, :, 0], [0, 128, 255])


def test_all_nan_32fc1_is_black():
    step, data = pack(np.full((2, 2, 1), np.nan, "<f4"))
    assert not decode_image(rclpy_image(2, 2, "32FC1", step, data)).any()


def test_result_does_not_alias_message_memory():
    rgb = random_rgb()
    step, data = pack(rgb)
    msg = rosbags_image(H, W, "rgb8", step, data)
    msg.data = msg.data.copy()
    out = decode_image(msg)
    msg.data[:] = 0
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_decode_640x480_allocates_only_the_result(encoding):
    """One copy per frame: the peak allocation is the 921,600-byte result plus bookkeeping."""
    rgb = np.random.default_rng(1).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    msg = rclpy_image(480, 640, encoding, 640 * 3, rgb.tobytes())
    decode_image(msg)  # first call: lazy imports and caches out of the measurement
    tracemalloc.start()
    out = decode_image(msg)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert out.nbytes <= peak < out.nbytes + 64_000


def ns_image(**fields):
    base = {"height": 2, "width": 2, "encoding": "rgb8", "is_bigendian": 0, "step": 6,
            "data": bytes(12)}
    base.update(fields)
    return SimpleNamespace(**base)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"encoding": "jpeg"}, "unknown_encoding"),
        ({"encoding": "RGB8"}, "unknown_encoding"),
        ({"encoding": None}, "unknown_encoding"),
        ({"encoding": ["rgb8"]}, "unknown_encoding"),
        ({"width": 0}, "bad_dimensions"),
        ({"height": -1}, "bad_dimensions"),
        ({"height": "2"}, "bad_dimensions"),
        ({"step": 6.0}, "bad_dimensions"),
        ({"encoding": "yuv422", "width": 3, "step": 6}, "bad_dimensions"),
        ({"height": 8000, "width": 8000, "step": 24000}, "too_large"),
        ({"step": 5}, "step_too_small"),
        ({"step": -6}, "step_too_small"),
        ({"data": bytes(11)}, "data_too_short"),
        ({"data": bytes(13)[:0]}, "data_too_short"),
        ({"data": "x" * 12}, "bad_data"),
        ({"data": list(range(12))}, "bad_data"),
        ({"data": np.zeros(12, np.uint16)}, "bad_data"),
        ({"data": None}, "bad_data"),
        ({"is_bigendian": None}, "bad_field"),
    ],
)
def test_rejection_reasons(fields, reason):
    with pytest.raises(ImageDecodeError) as info:
        decode_image(ns_image(**fields))
    assert info.value.reason == reason


def test_data_may_be_array_of_bytes_or_numpy():
    rgb = random_rgb()
    step, data = pack(rgb)
    for payload in (data, bytearray(data), array.array("B", data), np.frombuffer(data, np.uint8)):
        msg = ns_image(height=H, width=W, step=step, data=payload)
        np.testing.assert_array_equal(decode_image(msg), rgb)


def test_huge_header_rejected_instantly_without_allocating():
    msg = ns_image(height=100_000, width=100_000, step=300_000, data=b"0123456789")
    tracemalloc.start()
    with pytest.raises(ImageDecodeError) as info:
        decode_image(msg)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.value.reason == "too_large"
    assert peak < 100_000
    with pytest.raises(ImageDecodeError) as info:
        decode_image(msg, max_pixels=10**11)
    assert info.value.reason == "data_too_short"


# ---- compressed -----------------------------------------------------------------------------


def compressed(data: bytes, fmt: str = "jpeg", builder: str = "rclpy"):
    if builder == "rosbags":
        return RosbagsCompressedImage(
            header=Header(stamp=Time(sec=1, nanosec=2), frame_id="camera"),
            format=fmt,
            data=np.frombuffer(data, dtype=np.uint8),
        )
    msg = RclpyCompressedImage()
    msg.format, msg.data = fmt, data
    return msg


def cv_encode(ext: str, pixels: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(ext, pixels)
    assert ok
    return encoded.tobytes()


def pil_encode(image: PILImage.Image, fmt: str = "PNG") -> bytes:
    stream = io.BytesIO()
    image.save(stream, format=fmt)
    return stream.getvalue()


@pytest.mark.parametrize("builder", ["rclpy", "rosbags"])
def test_jpeg(builder):
    rgb = smooth_rgb()
    out = decode_compressed(compressed(cv_encode(".jpg", rgb[:, :, ::-1]), "jpeg", builder))
    assert out.shape == (H, W, 3) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.abs(out.astype(int) - rgb).mean() < 3


@pytest.mark.parametrize("builder", ["rclpy", "rosbags"])
def test_png_rgb_exact(builder):
    rgb = random_rgb()
    out = decode_compressed(compressed(pil_encode(PILImage.fromarray(rgb)), "png", builder))
    np.testing.assert_array_equal(out, rgb)


def test_png_16bit_grey_and_colour():
    grey = random_grey()
    out = decode_compressed(compressed(cv_encode(".png", as_u16(grey[:, :, 0])), "png"))
    np.testing.assert_array_equal(out, grey)
    rgb = random_rgb()
    out = decode_compressed(compressed(cv_encode(".png", as_u16(rgb[:, :, ::-1])), "png"))
    np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P"])
def test_png_grey_alpha_palette_to_rgb(mode):
    rgb = random_grey() if mode in ("L", "LA") else random_rgb()
    image = PILImage.fromarray(rgb).convert(mode)
    expected = np.asarray(image.convert("RGB"))
    out = decode_compressed(compressed(pil_encode(image), "png"))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "data",
    [b"", b"junk", b"\xff\xd8\xff\xe0" + b"\x00" * 50, b"\x89PNG\r\n\x1a\n" + b"\x00" * 40],
    ids=["empty", "junk", "jpeg-magic", "png-magic"],
)
def test_junk_compressed_rejected(data):
    with pytest.raises(ImageDecodeError) as info:
        decode_compressed(compressed(data))
    assert info.value.reason == "decode_failed"


@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.99])
def test_truncated_jpeg_and_png_rejected(fraction):
    for ext in (".jpg", ".png"):
        encoded = cv_encode(ext, random_rgb())
        with pytest.raises(ImageDecodeError) as info:
            decode_compressed(compressed(encoded[: int(len(encoded) * fraction)]))
        assert info.value.reason == "decode_failed"


def png_claiming(width: int, height: int) -> bytes:
    """Return a valid 1x1 PNG whose header (with a correct CRC) claims ``width x height``."""
    png = bytearray(pil_encode(PILImage.new("RGB", (1, 1))))
    ihdr = png[12:29]  # chunk type + 13 data bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    png[12:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(png)


@pytest.mark.parametrize("size", [(8000, 8000), (100_000, 100_000)])
def test_compressed_too_large_rejected_before_decoding(size):
    msg = compressed(png_claiming(*size), "png")
    tracemalloc.start()
    with pytest.raises(ImageDecodeError) as info:
        decode_compressed(msg)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.value.reason == "too_large"
    assert peak < 100_000  # decoding 8000x8000 RGB would allocate 192 MB


def test_compressed_respects_max_pixels():
    encoded = cv_encode(".png", random_rgb())
    assert decode_compressed(compressed(encoded), max_pixels=H * W).shape == (H, W, 3)
    with pytest.raises(ImageDecodeError) as info:
        decode_compressed(compressed(encoded), max_pixels=H * W - 1)
    assert info.value.reason == "too_large"


# ---- fuzzing --------------------------------------------------------------------------------

ODD_ENCODINGS = ["", "32FC3", "RGB8", "jpeg", "bayer_rggb", "8UC2"]
HUGE = st.integers(-(2**70), 2**70)


def bytes_per_pixel(encoding: str) -> int:
    """From the reference packers: the step of a 2-pixel-wide row, halved (1 if unknown)."""
    to_pixels = EXACT[encoding][0] if encoding in EXACT else APPROX.get(encoding)
    return pack(to_pixels(np.zeros((2, 2, 3), np.uint8)))[0] // 2 if to_pixels else 1


def mostly(draw, usual, unusual):
    """Draw from ``usual`` 80 % of the time, else from ``unusual``."""
    return draw(usual if draw(st.integers(0, 9)) < 8 else unusual)


@st.composite
def image_messages(draw):
    """Mostly plausible messages (so many decode), each field sometimes wild."""
    encoding = mostly(
        draw,
        st.sampled_from(sorted(SUPPORTED_ENCODINGS)),
        st.one_of(st.sampled_from(ODD_ENCODINGS), st.text(max_size=12)),
    )
    height = mostly(draw, st.integers(1, 12), st.one_of(st.integers(-2, 0), HUGE))
    width = mostly(draw, st.integers(1, 12), st.one_of(st.integers(-2, 0), HUGE))
    row = max(width, 0) * bytes_per_pixel(encoding)
    step = mostly(draw, st.integers(row, row + 9), HUGE)
    needed = step * height if 0 < step * height <= 4000 else 0
    size = mostly(draw, st.just(needed), st.integers(0, needed + 16))
    raw = draw(st.binary(min_size=size, max_size=size + 16))
    data = mostly(
        draw,
        st.sampled_from([raw, array.array("B", raw), np.frombuffer(raw, np.uint8)]),
        st.sampled_from(
            [np.frombuffer(raw[: len(raw) // 2 * 2], np.uint16), raw.decode("latin-1"),
             list(raw), None]
        ),
    )
    is_bigendian = mostly(
        draw, st.integers(0, 1), st.one_of(st.integers(-(2**40), 2**40), st.none())
    )
    msg = SimpleNamespace(
        height=height, width=width, encoding=encoding, is_bigendian=is_bigendian, step=step,
        data=data,
    )
    if draw(st.integers(0, 9)) == 0:  # occasionally a field of the wrong type
        wrong = draw(st.one_of(st.none(), st.floats(), st.text(max_size=3)))
        setattr(msg, draw(st.sampled_from(["height", "width", "step", "encoding"])), wrong)
    return msg


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image_messages())
def test_decode_image_returns_rgb_or_decode_error(msg):
    try:
        out = decode_image(msg, max_pixels=100_000)
    except ImageDecodeError as error:
        assert isinstance(error.reason, str) and error.reason
        return
    assert out.shape == (msg.height, msg.width, 3)
    assert out.dtype == np.uint8 and out.flags.c_contiguous


VALID_FILES = [
    cv_encode(".jpg", random_rgb()),
    cv_encode(".png", random_rgb()),
    cv_encode(".png", as_u16(random_grey()[:, :, 0])),
    pil_encode(PILImage.fromarray(random_rgb()), "WEBP"),
    pil_encode(PILImage.fromarray(random_rgb()), "BMP"),
]


@st.composite
def compressed_payloads(draw):
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    data = bytearray(draw(st.sampled_from(VALID_FILES)))
    for _ in range(draw(st.integers(0, 3))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    end = draw(st.one_of(st.just(len(data)), st.integers(0, len(data))))
    return bytes(data[:end])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(compressed_payloads())
def test_decode_compressed_returns_rgb_or_decode_error(data):
    try:
        out = decode_compressed(compressed(data))
    except ImageDecodeError as error:
        assert error.reason in ("decode_failed", "too_large")
        return
    assert out.ndim == 3 and out.shape[2] == 3 and out.dtype == np.uint8
    assert out.flags.c_contiguous
