# SPDX-FileCopyrightText: 2026 tips_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Conversions between ROS image messages and numpy arrays (no ROS imports).

Input: :func:`decode_image` and :func:`decode_compressed` turn ``sensor_msgs/Image`` and
``sensor_msgs/CompressedImage`` messages of any encoding in :data:`SUPPORTED_ENCODINGS`
into ``HxWx3`` uint8 RGB arrays, the model's input, rejecting malformed messages with an
:class:`ImageDecodeError` whose ``reason`` key diagnostics can count.
Output: :func:`encode_image` packs arrays as image message fields.

Messages are duck-typed: anything with the ``sensor_msgs/Image`` fields (``height``,
``width``, ``encoding``, ``is_bigendian``, ``step``, ``data``) works, so rclpy messages and
``rosbags`` dataclasses go through the same code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image as PILImage

from tips_ros.errors import ImageDecodeError  # re-exported: raised here

#: numpy dtype and channel count of each encoding this module can write.
OUTPUT_ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "mono8": (np.dtype(np.uint8), 1),
    "mono16": (np.dtype(np.uint16), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
    "32FC3": (np.dtype(np.float32), 3),
}


@dataclass(frozen=True, eq=False)
class EncodedImage:
    """The data fields of a ``sensor_msgs/Image``.

    ``data`` is a flat, contiguous ``uint8`` view of the packed pixels (no copy of the array
    it was made from): :func:`tips_ros.io.cdr.serialize_image` copies it once into a serialised
    message, ``rosbags`` messages take it as is, and rclpy message fields want
    ``data.tobytes()`` (assigning an array there is ~20x slower).
    """

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: np.ndarray


def encode_image(array: np.ndarray, encoding: str) -> EncodedImage:
    """Pack an ``HxW`` or ``HxWxC`` array as image fields with the given encoding.

    ``32FC<N>`` encodings take any channel count ``N`` (e.g. one heatmap channel per text
    query). Data is little-endian and rows are packed (``step = width * bytes per pixel``).
    """
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise ValueError(f"expected an HxW or HxWxC array, got shape {array.shape}")
    height, width, channels = array.shape
    if encoding.startswith("32FC") and encoding[4:].isdigit():
        dtype, expected = np.dtype(np.float32), int(encoding[4:])
    elif encoding in OUTPUT_ENCODINGS:
        dtype, expected = OUTPUT_ENCODINGS[encoding]
    else:
        raise ValueError(f"cannot write encoding {encoding!r}")
    if channels != expected:
        raise ValueError(f"encoding {encoding} needs {expected} channels, array has {channels}")
    data = np.ascontiguousarray(array, dtype=dtype.newbyteorder("<"))
    return EncodedImage(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=width * channels * dtype.itemsize,
        data=data.reshape(-1).view(np.uint8),
    )


# --------------------------------------------------------------------------------------------
# Decoding
#
# ``rosbags.image.message_to_cvimage`` (package ``rosbags-image``) was considered and is not
# used: it is not installed with ``rosbags`` itself, it ignores ``step`` (padded rows are
# misread or raise), validates nothing before wrapping the buffer (a 100000x100000 header
# with 10 bytes of data raises numpy's TypeError), asserts on undecodable compressed data,
# and returns 1, 3 or 4 channels in OpenCV's BGR order. The table below covers the same
# encodings with the same OpenCV conversions, plus the checks a network-facing node needs.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """How the pixels of one encoding sit in ``data`` and how they become RGB.

    ``dtype`` is the numpy type of one value (byte order added from ``is_bigendian``),
    ``channels`` the values stored per pixel, ``keep`` how many of them carry colour (alpha
    is dropped), and ``to_rgb`` the OpenCV conversion applied after reduction to 8 bit
    (``None``: the kept channels already are RGB, or are grey when ``keep == 1``).
    ``even_width`` marks 4:2:2 encodings, whose pixel pairs share chroma.
    """

    dtype: str
    channels: int
    keep: int
    to_rgb: int | None
    even_width: bool = False


_MONO8 = _Layout("u1", 1, 1, None)
_MONO16 = _Layout("u2", 1, 1, None)

_LAYOUTS: dict[str, _Layout] = {
    "rgb8": _Layout("u1", 3, 3, None),
    "bgr8": _Layout("u1", 3, 3, cv2.COLOR_BGR2RGB),
    "rgba8": _Layout("u1", 4, 3, None),
    "bgra8": _Layout("u1", 4, 3, cv2.COLOR_BGR2RGB),
    "rgb16": _Layout("u2", 3, 3, None),
    "bgr16": _Layout("u2", 3, 3, cv2.COLOR_BGR2RGB),
    "rgba16": _Layout("u2", 4, 3, None),
    "bgra16": _Layout("u2", 4, 3, cv2.COLOR_BGR2RGB),
    "mono8": _MONO8,
    "mono16": _MONO16,
    "8UC1": _MONO8,
    "8UC3": _Layout("u1", 3, 3, cv2.COLOR_BGR2RGB),
    "8UC4": _Layout("u1", 4, 3, cv2.COLOR_BGR2RGB),
    "16UC1": _MONO16,
    "32FC1": _Layout("f4", 1, 1, None),
    "yuv422": _Layout("u1", 2, 2, cv2.COLOR_YUV2RGB_UYVY, even_width=True),
    "uyvy": _Layout("u1", 2, 2, cv2.COLOR_YUV2RGB_UYVY, even_width=True),
    "yuv422_yuy2": _Layout("u1", 2, 2, cv2.COLOR_YUV2RGB_YUY2, even_width=True),
    "yuyv": _Layout("u1", 2, 2, cv2.COLOR_YUV2RGB_YUY2, even_width=True),
    # OpenCV names a Bayer pattern by the 2x2 block starting at pixel (1, 1), ROS by the one
    # at (0, 0): ROS ``rggb`` is OpenCV ``BG`` (the same mapping as cv_bridge).
    "bayer_rggb8": _Layout("u1", 1, 1, cv2.COLOR_BayerBG2RGB),
    "bayer_bggr8": _Layout("u1", 1, 1, cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg8": _Layout("u1", 1, 1, cv2.COLOR_BayerGR2RGB),
    "bayer_grbg8": _Layout("u1", 1, 1, cv2.COLOR_BayerGB2RGB),
    "bayer_rggb16": _Layout("u2", 1, 1, cv2.COLOR_BayerBG2RGB),
    "bayer_bggr16": _Layout("u2", 1, 1, cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg16": _Layout("u2", 1, 1, cv2.COLOR_BayerGR2RGB),
    "bayer_grbg16": _Layout("u2", 1, 1, cv2.COLOR_BayerGB2RGB),
}

#: Encodings :func:`decode_image` accepts:
#:
#: - colour: ``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``, ``rgb16``, ``bgr16``, ``rgba16``,
#:   ``bgra16`` (alpha is dropped, not composited);
#: - grey: ``mono8``, ``mono16``, ``8UC1``, ``16UC1``, ``32FC1`` (replicated to 3 channels);
#: - generic OpenCV types ``8UC3`` / ``8UC4``, read as BGR / BGRA (OpenCV's own order);
#: - YUV 4:2:2 (BT.601, video range, even width): ``yuv422`` and ``uyvy`` (byte order
#:   U Y0 V Y1), ``yuv422_yuy2`` and ``yuyv`` (Y0 U Y1 V);
#: - Bayer mosaics, 8 and 16 bit: ``bayer_rggb8``, ``bayer_bggr8``, ``bayer_gbrg8``,
#:   ``bayer_grbg8``, ``bayer_rggb16``, ``bayer_bggr16``, ``bayer_gbrg16``, ``bayer_grbg16``.
SUPPORTED_ENCODINGS: frozenset[str] = frozenset(_LAYOUTS)


def pixel_size(encoding: str) -> int:
    """Bytes per pixel of a supported raw encoding (``step`` is at least width x this)."""
    layout = _LAYOUTS[encoding]
    return np.dtype(layout.dtype).itemsize * layout.channels


#: Default pixel limit (width * height) for decoded images: 50 megapixels.
DEFAULT_MAX_PIXELS = 50_000_000


def decode_image(msg: object, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` into a new ``HxWx3`` uint8 RGB array (C-contiguous).

    The header fields are checked before anything is allocated or decoded; each failure
    raises :class:`ImageDecodeError` with one of these reasons:

    - ``unknown_encoding``: ``encoding`` is not in :data:`SUPPORTED_ENCODINGS`;
    - ``bad_dimensions``: ``height``/``width``/``step`` not integers, height or width not
      positive, or an odd width for a YUV 4:2:2 encoding;
    - ``too_large``: ``width * height > max_pixels``;
    - ``step_too_small``: ``step < width * bytes per pixel``;
    - ``bad_data``: ``data`` is not a buffer of bytes (``bytes``, ``array('B')``, uint8 array);
    - ``bad_field``: ``is_bigendian`` is not an integer;
    - ``data_too_short``: ``len(data) < step * height``;
    - ``decode_failed``: OpenCV rejected the pixels (not expected after the checks above).

    Policies:

    - Rows are read ``step`` bytes apart; padding at the end of each row is skipped. Data
      longer than ``step * height`` is accepted and the extra bytes are ignored.
    - 16-bit values (``mono16``, ``16UC1``, ``*16``) are scaled linearly so the frame's
      maximum becomes 255 and 0 stays 0 (per-frame auto gain: 10- and 12-bit cameras in a
      16-bit container are visible too). An all-zero frame stays black.
    - ``32FC1`` (e.g. depth or thermal): finite values are mapped linearly from the frame's
      minimum..maximum to 0..255; NaN and +-Inf become 0, as does a constant frame.
    - ``is_bigendian`` non-zero means multi-byte values are big-endian.

    The result never shares memory with ``msg.data`` and is writable (so ``torch.from_numpy``
    can take it as is). Nothing but :class:`ImageDecodeError` is raised for any field values.
    """
    encoding = getattr(msg, "encoding", None)
    if not isinstance(encoding, str) or encoding not in _LAYOUTS:
        raise ImageDecodeError("unknown_encoding", f"unsupported image encoding {encoding!r}")
    layout = _LAYOUTS[encoding]
    height, width, step = _checked_geometry(msg, encoding, max_pixels)
    buffer = _byte_buffer(getattr(msg, "data", None))
    if buffer.size < step * height:
        raise ImageDecodeError(
            "data_too_short", f"{buffer.size} bytes of data < step {step} * height {height}"
        )
    byte_order = ">" if _int_field(msg, "is_bigendian", "bad_field") else "<"
    itemsize = np.dtype(layout.dtype).itemsize
    pixels = np.ndarray(
        shape=(height, width, layout.channels),
        dtype=np.dtype(layout.dtype).newbyteorder(byte_order),
        buffer=buffer,
        strides=(step, layout.channels * itemsize, itemsize),
    )
    return _to_rgb(_to_uint8(pixels[:, :, : layout.keep]), layout.to_rgb)


def _checked_geometry(msg: object, encoding: str, max_pixels: int) -> tuple[int, int, int]:
    """Return ``(height, width, step)`` of a raw image (pixels, pixels, bytes) once checked.

    Raises :class:`ImageDecodeError` with reason ``bad_dimensions``, ``too_large`` or
    ``step_too_small`` as listed in :func:`decode_image`; ``encoding`` is a supported one.
    """
    height, width, step = (_int_field(msg, name) for name in ("height", "width", "step"))
    if height <= 0 or width <= 0:
        raise ImageDecodeError("bad_dimensions", f"image is {width}x{height} pixels")
    if _LAYOUTS[encoding].even_width and width % 2:
        raise ImageDecodeError("bad_dimensions", f"{encoding} needs an even width, got {width}")
    if width * height > max_pixels:
        raise ImageDecodeError(
            "too_large", f"image is {width}x{height} pixels, more than {max_pixels}"
        )
    row_bytes = width * pixel_size(encoding)
    if step < row_bytes:
        raise ImageDecodeError(
            "step_too_small", f"step {step} < {row_bytes} bytes per {encoding} row of {width}"
        )
    return height, width, step


def decode_compressed(msg: object, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` into a new ``HxWx3`` uint8 RGB array.

    The content is sniffed (``format`` is not trusted): anything Pillow can identify and
    OpenCV can decode works, in practice JPEG, PNG, WebP, TIFF and BMP. The size is read from
    the file header first, so an image of more than ``max_pixels`` pixels is rejected
    (``too_large``) before it is decompressed. Empty, junk, truncated or otherwise
    undecodable data raises :class:`ImageDecodeError` with reason ``decode_failed`` (or
    ``bad_data`` when ``data`` is not a byte buffer).

    Grey images are replicated to 3 channels, alpha is dropped, 16-bit images are scaled so
    the frame's maximum becomes 255 and float images map min..max to 0..255, exactly as in
    :func:`decode_image`.
    """
    buffer = _byte_buffer(getattr(msg, "data", None))
    if buffer.size == 0:
        raise ImageDecodeError("decode_failed", "compressed image has no data")
    width, height = _compressed_size(buffer)
    if width <= 0 or height <= 0:
        raise ImageDecodeError("decode_failed", f"compressed image header says {width}x{height}")
    if width * height > max_pixels:
        raise ImageDecodeError(
            "too_large", f"compressed image is {width}x{height} pixels, more than {max_pixels}"
        )
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageDecodeError("decode_failed", f"OpenCV cannot decode the image: {error}")
    if image is None or image.shape[:2] != (height, width):
        raise ImageDecodeError("decode_failed", "compressed image is truncated or corrupt")
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels == 2:  # grey + alpha
        return _to_rgb(_to_uint8(image[:, :, :1]), None)
    return _to_rgb(_to_uint8(image[:, :, :3]), cv2.COLOR_BGR2RGB if channels >= 3 else None)


def _int_field(msg: object, name: str, reason: str = "bad_dimensions") -> int:
    """Return the integer message field ``name`` (``bool`` counts), else raise ``reason``."""
    value = getattr(msg, name, None)
    if not isinstance(value, (int, np.integer)):
        raise ImageDecodeError(reason, f"field {name} is {value!r}, not an integer")
    return int(value)


def _byte_buffer(data: object) -> np.ndarray:
    """View ``data`` as a flat uint8 array sharing its memory (bytes, ``array('B')``, ndarray)."""
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise ImageDecodeError("bad_data", f"image data is a {type(data).__name__}, not bytes")
    if view.itemsize != 1 or not view.c_contiguous:
        raise ImageDecodeError("bad_data", "image data is not a contiguous buffer of bytes")
    return np.frombuffer(view.cast("B"), dtype=np.uint8)


def _compressed_size(buffer: np.ndarray) -> tuple[int, int]:
    """``(width, height)`` from a compressed image's header, without decoding the pixels."""
    try:
        with PILImage.open(io.BytesIO(buffer)) as image:
            return image.size
    except PILImage.DecompressionBombError as error:
        raise ImageDecodeError("too_large", str(error))
    except Exception as error:  # Pillow's format plugins raise many exception types on junk
        raise ImageDecodeError("decode_failed", f"not a readable image file: {error}")


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Reduce ``HxWxC`` values to uint8 by the module's rules (see :func:`decode_image`)."""
    if values.dtype == np.uint8:
        return values
    if values.dtype.kind != "u":
        return _float_to_uint8(values)
    peak = int(values.max())
    if peak == 0:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = np.multiply(values, np.float32(255.0 / peak), dtype=np.float32)
    return np.add(scaled, np.float32(0.5), out=scaled).astype(np.uint8)


def _float_to_uint8(values: np.ndarray) -> np.ndarray:
    """Finite values min..max -> 0..255 (rounded); NaN, +-Inf and constant frames -> 0.

    Used for float and signed integer images (e.g. 32-bit TIFF from ``decode_compressed``).
    """
    finite = np.isfinite(values)
    out = np.zeros(values.shape, dtype=np.uint8)
    if not finite.any():
        return out
    valid = values[finite].astype(np.float64)
    low, high = valid.min(), valid.max()
    if high > low:
        out[finite] = ((valid - low) * (255.0 / (high - low)) + 0.5).astype(np.uint8)
    return out


def _to_rgb(values: np.ndarray, code: int | None) -> np.ndarray:
    """``HxWxC`` uint8 -> new C-contiguous ``HxWx3`` RGB array (grey is replicated)."""
    if code is None and values.shape[2] == 3:
        return np.array(values, dtype=np.uint8, order="C", copy=True)
    if code is None:
        code = cv2.COLOR_GRAY2RGB
    # OpenCV wants single-channel (grey, Bayer) images as 2-D arrays.
    planes = values[:, :, 0] if values.shape[2] == 1 else values
    try:
        return cv2.cvtColor(planes, code)
    except cv2.error as error:
        raise ImageDecodeError("decode_failed", f"OpenCV colour conversion failed: {error}")
