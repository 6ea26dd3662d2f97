"""sensor_msgs/Image <-> numpy without cv_bridge (ROS-free: numpy + OpenCV only).

Decoding (:func:`image_to_numpy`) is zero-copy where possible: the message buffer is wrapped with
``np.ndarray(buffer=..., strides=...)`` so padded rows (``step`` > ``width * bytes_per_pixel``) are
skipped by the strides, not copied. Only big-endian multi-byte data (converted to native order) is
copied. The returned array therefore shares memory with ``data``: it is read-only for ``bytes``
input and aliases the message for mutable buffers (``bytearray``, ``array.array``, numpy arrays);
copy it if the message buffer will be reused.

Array layouts (``H`` = height, ``W`` = width):

==========================================  =============  ==========
encoding                                    shape          dtype
==========================================  =============  ==========
rgb8, bgr8, 8UC3                            (H, W, 3)      uint8
rgba8, bgra8, 8UC4                          (H, W, 4)      uint8
mono8, 8UC1, bayer_{rggb,bggr,gbrg,grbg}8   (H, W)         uint8
mono16, 16UC1                               (H, W)         uint16
32FC1                                       (H, W)         float32
yuv422 / uyvy (U Y0 V Y1), yuv422_yuy2 /    (H, W, 2)      uint8
yuyv (Y0 U Y1 V)
==========================================  =============  ==========
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np


# Reason kinds of :class:`ImageEncodingError` (a fixed set, so per-kind log rate limits stay bounded).
ERROR_KINDS = ("encoding", "size", "step", "data", "decode", "other")


class ImageEncodingError(ValueError):
    """An image message or array cannot be decoded/encoded (bad encoding, size, step or data).

    ``kind`` is one of :data:`ERROR_KINDS`: the reason's category without its numbers (byte counts,
    sizes), for rate-limited logging per kind.
    """

    def __init__(self, message: str, kind: str = "other") -> None:
        super().__init__(message)
        self.kind = kind if kind in ERROR_KINDS else "other"


@dataclass(frozen=True)
class EncodingSpec:
    """Memory layout of one encoding: per-pixel ``channels`` elements of ``dtype``."""

    dtype: np.dtype
    channels: int

    @property
    def bytes_per_pixel(self) -> int:
        return self.dtype.itemsize * self.channels

    @property
    def shape_suffix(self) -> tuple[int, ...]:
        """Trailing array dims after (H, W): () for one channel, (C,) otherwise."""
        return () if self.channels == 1 else (self.channels,)


_U8 = np.dtype(np.uint8)
_U16 = np.dtype(np.uint16)
_F32 = np.dtype(np.float32)

ENCODINGS: dict[str, EncodingSpec] = {
    "rgb8": EncodingSpec(_U8, 3),
    "bgr8": EncodingSpec(_U8, 3),
    "rgba8": EncodingSpec(_U8, 4),
    "bgra8": EncodingSpec(_U8, 4),
    "mono8": EncodingSpec(_U8, 1),
    "mono16": EncodingSpec(_U16, 1),
    "8UC1": EncodingSpec(_U8, 1),
    "8UC3": EncodingSpec(_U8, 3),
    "8UC4": EncodingSpec(_U8, 4),
    "16UC1": EncodingSpec(_U16, 1),
    "32FC1": EncodingSpec(_F32, 1),
    "yuv422": EncodingSpec(_U8, 2),       # UYVY
    "uyvy": EncodingSpec(_U8, 2),         # newer ROS name of yuv422
    "yuv422_yuy2": EncodingSpec(_U8, 2),  # YUYV
    "yuyv": EncodingSpec(_U8, 2),         # newer ROS name of yuv422_yuy2
    "bayer_rggb8": EncodingSpec(_U8, 1),
    "bayer_bggr8": EncodingSpec(_U8, 1),
    "bayer_gbrg8": EncodingSpec(_U8, 1),
    "bayer_grbg8": EncodingSpec(_U8, 1),
}

_YUV_TO_RGB = {
    "yuv422": cv2.COLOR_YUV2RGB_UYVY,
    "uyvy": cv2.COLOR_YUV2RGB_UYVY,
    "yuv422_yuy2": cv2.COLOR_YUV2RGB_YUYV,
    "yuyv": cv2.COLOR_YUV2RGB_YUYV,
}
# OpenCV's four-letter Bayer names follow the ROS convention (pattern of the top-left 2x2 block).
_BAYER_TO_RGB = {
    "bayer_rggb8": cv2.COLOR_BayerRGGB2RGB,
    "bayer_bggr8": cv2.COLOR_BayerBGGR2RGB,
    "bayer_gbrg8": cv2.COLOR_BayerGBRG2RGB,
    "bayer_grbg8": cv2.COLOR_BayerGRBG2RGB,
}


def encoding_spec(encoding: str) -> EncodingSpec:
    """Layout of ``encoding``; raises :class:`ImageEncodingError` naming the supported ones."""
    spec = ENCODINGS.get(encoding)
    if spec is None:
        raise ImageEncodingError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(sorted(ENCODINGS))}", "encoding")
    return spec


def _as_byte_buffer(data: Any) -> np.ndarray:
    """View any bytes-like ``data`` (bytes, bytearray, memoryview, array.array, ndarray) as 1-D uint8."""
    if isinstance(data, np.ndarray):
        if not data.flags.c_contiguous:
            raise ImageEncodingError("image data array must be C-contiguous", "data")
        return data.reshape(-1).view(np.uint8)
    try:
        view = memoryview(data)
    except TypeError as exc:
        raise ImageEncodingError(
            f"image data of type {type(data).__name__} is not a bytes-like buffer", "data") from exc
    if not view.c_contiguous:
        raise ImageEncodingError("image data buffer must be C-contiguous", "data")
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    return np.frombuffer(view, dtype=np.uint8)


def image_to_numpy(height: int, width: int, encoding: str, step: int, is_bigendian: int | bool,
                   data: Any) -> np.ndarray:
    """Decode raw sensor_msgs/Image fields to a numpy array (see the module table for shapes).

    Args:
        height, width: image size in pixels (both > 0).
        encoding: a supported ROS encoding string.
        step: bytes per row, >= ``width * bytes_per_pixel``; extra bytes are row padding.
        is_bigendian: byte order of multi-byte elements (mono16, 16UC1, 32FC1).
        data: at least ``height * step`` bytes; bytes, bytearray, memoryview, array.array('B')
            or a numpy array. Trailing extra bytes are ignored.

    Returns:
        (H, W) or (H, W, C) array in native byte order, a view of ``data`` unless a byte swap
        was needed.

    Raises:
        ImageEncodingError: unknown encoding, empty frame, step smaller than a row, data too short,
            odd width for yuv422.
    """
    spec = encoding_spec(encoding)
    height, width, step = int(height), int(width), int(step)
    if height <= 0 or width <= 0:
        raise ImageEncodingError(f"empty frame: {encoding} image is {width}x{height} pixels", "size")
    if encoding in _YUV_TO_RGB and width % 2:
        raise ImageEncodingError(
            f"{encoding} packs two pixels per 4 bytes and needs an even width, got width {width}", "size")
    row_bytes = width * spec.bytes_per_pixel
    if step < row_bytes:
        raise ImageEncodingError(
            f"step {step} is smaller than one {encoding} row of {width} px "
            f"({row_bytes} bytes = {width} x {spec.bytes_per_pixel})", "step")
    buf = _as_byte_buffer(data)
    needed = height * step
    if buf.size < needed:
        raise ImageEncodingError(
            f"image data has {buf.size} bytes, expected at least height*step = "
            f"{height}*{step} = {needed} for a {width}x{height} {encoding} image", "data")
    dtype = spec.dtype.newbyteorder(">" if is_bigendian else "<") if spec.dtype.itemsize > 1 \
        else spec.dtype
    shape = (height, width) + spec.shape_suffix
    strides = (step, spec.bytes_per_pixel) + ((spec.dtype.itemsize,) if spec.channels > 1 else ())
    arr = np.ndarray(shape=shape, dtype=dtype, buffer=buf, offset=0, strides=strides)
    if not dtype.isnative:
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def msg_to_numpy(msg: Any) -> np.ndarray:
    """Decode a sensor_msgs/Image (or any object with the same fields) with :func:`image_to_numpy`."""
    try:
        fields = (msg.height, msg.width, msg.encoding, msg.step, msg.is_bigendian, msg.data)
    except AttributeError as exc:
        raise ImageEncodingError(f"not an image message ({type(msg).__name__}): {exc}", "data") from exc
    return image_to_numpy(*fields)


def _check_array(array: np.ndarray, encoding: str) -> EncodingSpec:
    """Validate that ``array`` has the shape/dtype :func:`image_to_numpy` gives for ``encoding``."""
    spec = encoding_spec(encoding)
    if not isinstance(array, np.ndarray):
        raise ImageEncodingError(f"expected a numpy array, got {type(array).__name__}")
    if array.dtype != spec.dtype:
        raise ImageEncodingError(
            f"{encoding} needs dtype {spec.dtype}, got {array.dtype}")
    ok_shape = (array.ndim == 2 and spec.channels == 1) or (
        array.ndim == 3 and array.shape[2] == spec.channels)
    if not ok_shape:
        want = "(H, W)" if spec.channels == 1 else f"(H, W, {spec.channels})"
        raise ImageEncodingError(f"{encoding} needs an array of shape {want}, got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageEncodingError(f"empty frame: array shape {array.shape}")
    if encoding in _YUV_TO_RGB and array.shape[1] % 2:
        raise ImageEncodingError(f"{encoding} needs an even width, got width {array.shape[1]}")
    return spec


def to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert a decoded image of any supported encoding to RGB.

    Rules:
        * rgb8 and the generic 8UC3 / 8UC4 (which carry no colour meaning in ROS) are taken as
          RGB / RGBA channel order; alpha is dropped.
        * mono8 / 8UC1 are replicated to three channels.
        * mono16 / 16UC1: linear full-range mapping, ``v8 = v16 >> 8`` (i.e. floor(v16 / 256)).
        * 32FC1: finite values are min-max normalised per frame to 0..255 (a constant frame
          gives 0); NaN and +-inf give 0.
        * yuv422 (UYVY) / yuv422_yuy2 (YUYV) and bayer_*8 (demosaiced) via ``cv2.cvtColor``.

    Args:
        array: (H, W[, C]) as returned by :func:`image_to_numpy` for ``encoding``.

    Returns:
        (H, W, 3) uint8 RGB, C-contiguous (may be ``array`` itself for contiguous rgb8).
    """
    _check_array(array, encoding)
    if encoding in ("rgb8", "8UC3"):
        return np.ascontiguousarray(array)
    if encoding in ("rgba8", "8UC4"):
        return np.ascontiguousarray(array[:, :, :3])
    if encoding == "bgr8":
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_BGR2RGB)
    if encoding == "bgra8":
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_BGRA2RGB)
    if encoding in ("mono8", "8UC1"):
        gray = array
    elif encoding in ("mono16", "16UC1"):
        gray = (array >> 8).astype(np.uint8)
    elif encoding == "32FC1":
        gray = _float_to_u8(array)
    elif encoding in _YUV_TO_RGB:
        return cv2.cvtColor(np.ascontiguousarray(array), _YUV_TO_RGB[encoding])
    elif encoding in _BAYER_TO_RGB:
        return cv2.cvtColor(np.ascontiguousarray(array), _BAYER_TO_RGB[encoding])
    else:  # pragma: no cover - every key of ENCODINGS is handled above
        raise ImageEncodingError(f"no RGB conversion for {encoding!r}")
    return cv2.cvtColor(np.ascontiguousarray(gray), cv2.COLOR_GRAY2RGB)


def _float_to_u8(array: np.ndarray) -> np.ndarray:
    """(H, W) float -> (H, W) uint8 by per-frame min-max over finite values (non-finite -> 0)."""
    finite = np.isfinite(array)
    if not finite.any():
        return np.zeros(array.shape, np.uint8)
    lo = float(array[finite].min())
    hi = float(array[finite].max())
    if hi <= lo:
        return np.zeros(array.shape, np.uint8)
    scaled = (np.where(finite, array, lo) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def numpy_to_image_fields(array: np.ndarray, encoding: str) -> dict[str, Any]:
    """Encode an array as sensor_msgs/Image fields (``sensor_msgs.msg.Image(**fields)`` works).

    Args:
        array: (H, W) or (H, W, C) with the dtype/channels of ``encoding`` (module table);
            single-channel encodings also accept (H, W, 1).
        encoding: any supported encoding.

    Returns:
        dict with height, width, encoding, step (= W * bytes_per_pixel, no padding),
        is_bigendian (0: data is written little-endian) and data (bytes).

    Raises:
        ImageEncodingError: unknown encoding or an array that does not match it.
    """
    if isinstance(array, np.ndarray) and array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    spec = _check_array(array, encoding)
    height, width = array.shape[:2]
    out = np.ascontiguousarray(array, dtype=spec.dtype.newbyteorder("<")
                               if spec.dtype.itemsize > 1 else spec.dtype)
    return {
        "height": int(height),
        "width": int(width),
        "encoding": encoding,
        "step": int(width * spec.bytes_per_pixel),
        "is_bigendian": 0,
        "data": out.tobytes(),
    }


# sensor_msgs/CompressedImage formats cv2.imdecode reads ("jpeg", "png", or "rgb8; jpeg compressed bgr8").
COMPRESSED_FORMATS = ("jpeg", "jpg", "png", "bmp", "tiff", "webp")


def compressed_to_rgb8(fmt: str, data: Any) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage payload to RGB with ``cv2.imdecode``.

    Args:
        fmt: the message's ``format`` field, e.g. ``"jpeg"`` or ``"bgr8; jpeg compressed bgr8"``
            (image_transport); an empty format is accepted (the codec is read from the bytes).
        data: the compressed bytes (bytes-like).

    Returns:
        (H, W, 3) uint8 RGB.

    Raises:
        ImageEncodingError: unknown format ("encoding"), empty payload or bytes that do not decode ("decode").
    """
    low = (fmt or "").lower()
    if low and not any(f in low for f in COMPRESSED_FORMATS):
        raise ImageEncodingError(
            f"unsupported compressed format {fmt!r}; supported: {', '.join(COMPRESSED_FORMATS)}", "encoding")
    buf = _as_byte_buffer(data)
    if buf.size == 0:
        raise ImageEncodingError("compressed image has no data", "decode")
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageEncodingError(f"compressed image ({fmt or 'no format'}, {buf.size} bytes) does not decode",
                                 "decode")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.dtype != np.uint8:
        raise ImageEncodingError(f"compressed image decodes to unsupported dtype {img.dtype}", "decode")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
