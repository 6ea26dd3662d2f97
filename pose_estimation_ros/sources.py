"""Frame sources for the camera node (ROS-free): V4L2 camera, video file, image folder, synthetic.

Every source yields RGB uint8 frames of shape (H, W, 3) from :meth:`FrameSource.read`, which
returns ``None`` at the end of a non-looping stream. ``width`` / ``height`` describe the most
recent frame (initially the first one, or the configured size for cameras). Only the synthetic
source has ``ground_truth``. Sources are context managers.
"""
from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from .synthetic_scene import SyntheticScene

DEFAULT_IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp")


class SourceError(RuntimeError):
    """A frame source cannot be opened or stopped delivering frames."""


def _bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    """OpenCV frame (H, W), (H, W, 3) BGR or (H, W, 4) BGRA -> (H, W, 3) uint8 RGB."""
    if frame.dtype != np.uint8:
        frame = cv2.convertScaleAbs(frame, alpha=255.0 / max(float(frame.max()), 1.0))
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


class FrameSource(abc.ABC):
    """A stream of RGB frames."""

    _width: int = 0
    _height: int = 0
    _closed: bool = False

    @property
    def width(self) -> int:
        """Width in pixels of the latest frame (or the first/configured one before any read)."""
        return self._width

    @property
    def height(self) -> int:
        """Height in pixels of the latest frame (or the first/configured one before any read)."""
        return self._height

    @property
    def fps(self) -> float | None:
        """Nominal frame rate if the source knows one, else None."""
        return None

    @property
    def ground_truth(self) -> dict[str, Any] | None:
        """Ground truth of the last frame read (synthetic source only), else None."""
        return None

    @abc.abstractmethod
    def read(self) -> np.ndarray | None:
        """Next frame, (H, W, 3) uint8 RGB; None at the end of a non-looping stream.

        Raises:
            SourceError: the source is closed or failed (e.g. a camera stopped delivering).
        """

    def close(self) -> None:
        """Release the underlying device/file; idempotent."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise SourceError(f"{type(self).__name__} is closed")

    def _set_size(self, frame: np.ndarray) -> np.ndarray:
        self._height, self._width = frame.shape[:2]
        return frame

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class V4L2Source(FrameSource):
    """A V4L2 camera ``/dev/video<device_index>`` through ``cv2.VideoCapture(index, CAP_V4L2)``.

    The requested width/height/fps are a request; the driver may pick the nearest mode, which
    ``width``/``height``/``fps`` then report.
    """

    def __init__(self, device_index: int | str = 0, width: int = 640, height: int = 480,
                 fps: float = 30.0):
        text = str(device_index)
        if text.startswith("/dev/video"):
            text = text[len("/dev/video"):]
        if not text.isdigit():
            raise SourceError(f"cannot open V4L2 device {device_index!r}: expected an index N "
                              "or a path /dev/videoN")
        self.device_index = int(text)
        self.device = f"/dev/video{self.device_index}"
        if not os.path.exists(self.device):
            raise SourceError(f"cannot open V4L2 device {self.device}: no such device")
        cap = cv2.VideoCapture(self.device_index, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open V4L2 device {self.device}: OpenCV could not open it "
                              "(busy, no permission, or not a capture device)")
        if width > 0:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, float(width))
        if height > 0:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, float(height))
        if fps > 0:
            cap.set(cv2.CAP_PROP_FPS, float(fps))
        self._cap = cap
        self._width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) or int(width)
        self._height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) or int(height)
        self._fps = float(cap.get(cv2.CAP_PROP_FPS)) or float(fps)

    @property
    def fps(self) -> float | None:
        return self._fps

    def read(self) -> np.ndarray | None:
        self._check_open()
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise SourceError(f"V4L2 device {self.device} stopped delivering frames")
        return self._set_size(_bgr_to_rgb(frame))

    def close(self) -> None:
        if not self._closed:
            self._cap.release()
        super().close()


class VideoFileSource(FrameSource):
    """Frames of a video file (any container/codec OpenCV's FFmpeg backend decodes).

    Args:
        path: the video file.
        loop: restart from the first frame at the end instead of returning None.

    Raises:
        SourceError: missing file, or a file OpenCV cannot open or decode a first frame from.
    """

    def __init__(self, path: str | os.PathLike[str], loop: bool = False):
        self.path = Path(path)
        self.loop = bool(loop)
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        self._cap = self._open()
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._cap.release()
            raise SourceError(f"cannot read video file {self.path}: no decodable frame")
        self._pending: np.ndarray | None = _bgr_to_rgb(frame)
        self._set_size(self._pending)
        self._fps = float(self._cap.get(cv2.CAP_PROP_FPS)) or None
        self._frames_this_pass = 0

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open video file {self.path}: unsupported or corrupt")
        return cap

    @property
    def fps(self) -> float | None:
        return self._fps

    def read(self) -> np.ndarray | None:
        self._check_open()
        if self._pending is not None:
            frame, self._pending = self._pending, None
            self._frames_this_pass += 1
            return self._set_size(frame)
        ok, frame = self._cap.read()
        if ok and frame is not None:
            self._frames_this_pass += 1
            return self._set_size(_bgr_to_rgb(frame))
        if not self.loop:
            return None
        if self._frames_this_pass == 0:
            raise SourceError(f"video file {self.path} yields no frames after rewinding")
        # Reopen rather than seek: seeking is unreliable for some codecs/containers.
        self._cap.release()
        self._cap = self._open()
        self._frames_this_pass = 0
        ok, frame = self._cap.read()
        if not ok or frame is None:
            raise SourceError(f"video file {self.path} yields no frames after rewinding")
        self._frames_this_pass = 1
        return self._set_size(_bgr_to_rgb(frame))

    def close(self) -> None:
        if not self._closed:
            self._cap.release()
        super().close()


class ImageFolderSource(FrameSource):
    """Images of a folder in sorted file-name order.

    Args:
        path: the folder (not recursive).
        loop: restart at the first image after the last one instead of returning None.
        extensions: file-name suffixes to read (case-insensitive).

    Raises:
        SourceError: missing folder, no matching images, or a first image that does not decode;
            :meth:`read` raises it naming the file for a later image that does not decode.
    """

    def __init__(self, path: str | os.PathLike[str], loop: bool = False,
                 extensions: Sequence[str] = DEFAULT_IMAGE_EXTENSIONS):
        self.path = Path(path)
        self.loop = bool(loop)
        exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
        if not self.path.exists():
            raise SourceError(f"image folder not found: {self.path}")
        if not self.path.is_dir():
            raise SourceError(f"image folder path is not a directory: {self.path}")
        self.files: list[Path] = sorted(
            (p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in exts),
            key=lambda p: p.name)
        if not self.files:
            raise SourceError(
                f"no images in folder {self.path} (extensions: {', '.join(sorted(exts))})")
        self._index = 0
        self._set_size(self._load(self.files[0]))

    @staticmethod
    def _load(file: Path) -> np.ndarray:
        frame = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if frame is None:
            raise SourceError(f"cannot decode image {file}")
        return _bgr_to_rgb(frame)

    def read(self) -> np.ndarray | None:
        self._check_open()
        if self._index >= len(self.files):
            if not self.loop:
                return None
            self._index = 0
        file = self.files[self._index]
        self._index += 1
        return self._set_size(self._load(file))


class SyntheticSource(FrameSource):
    """Frames of :class:`SyntheticScene` at ``t = frame_index / fps`` (never ends).

    Keyword arguments other than ``fps`` go to :class:`SyntheticScene` (``fx``, ``fy``, ``cx``,
    ``cy``, ``period_s``, ``seed``, ``clip``, ...). ``clip`` defaults to ``"auto"``: the rendered
    demo clip made at set-up is played when it fits the size/intrinsics, else the drawn person.
    """

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0,
                 fx: float | None = None, fy: float | None = None, cx: float | None = None,
                 cy: float | None = None, **scene_kwargs: Any):
        if fps <= 0:
            raise SourceError(f"synthetic source fps must be > 0, got {fps}")
        scene_kwargs.setdefault("clip", "auto")
        try:
            self.scene = SyntheticScene(width=width, height=height, fx=fx, fy=fy, cx=cx, cy=cy,
                                        **scene_kwargs)
        except ValueError as exc:
            raise SourceError(f"invalid synthetic scene parameters: {exc}") from exc
        self._fps = float(fps)
        self._width, self._height = self.scene.width, self.scene.height
        self.frame_index = 0
        self._gt: dict[str, Any] | None = None

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def intrinsics(self) -> tuple[float, float, float, float]:
        """(fx, fy, cx, cy) of the synthetic camera."""
        return (self.scene.fx, self.scene.fy, self.scene.cx, self.scene.cy)

    @property
    def ground_truth(self) -> dict[str, Any] | None:
        return self._gt

    def read(self) -> np.ndarray | None:
        self._check_open()
        frame, self._gt = self.scene.render(self.frame_index / self._fps)
        self.frame_index += 1
        return frame


SOURCE_KINDS: dict[str, Callable[..., FrameSource]] = {
    "synthetic": SyntheticSource,
    "v4l2": V4L2Source,
    "video": VideoFileSource,
    "folder": ImageFolderSource,
}


def make_source(kind: str, **params: Any) -> FrameSource:
    """Create a source: ``kind`` in {'synthetic', 'v4l2', 'video', 'folder'}.

    ``params`` are the keyword arguments of the class (e.g. ``make_source('video', path=...,
    loop=True)``).

    Raises:
        SourceError: unknown kind, parameters the source does not take, or an open failure.
    """
    factory = SOURCE_KINDS.get(kind)
    if factory is None:
        raise SourceError(
            f"unknown source kind {kind!r}; valid kinds: {', '.join(sorted(SOURCE_KINDS))}")
    try:
        return factory(**params)
    except TypeError as exc:
        raise SourceError(f"invalid parameters for source {kind!r}: {exc}") from exc
