"""Tests of pose_estimation_ros.sources."""
import glob

import cv2
import numpy as np
import pytest

from pose_estimation_ros.sources import (
    FrameSource, ImageFolderSource, SourceError, SyntheticSource, V4L2Source, VideoFileSource,
    make_source)

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]  # RGB


def _write_video(path, n=5, w=64, h=48):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    assert writer.isOpened()
    for k in range(n):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[:] = COLOURS[k % len(COLOURS)][::-1]          # OpenCV writes BGR
        writer.write(frame)
    writer.release()
    return path


def _mean_colour(frame):
    return frame.reshape(-1, 3).mean(axis=0)


def _free_v4l2_index():
    used = {int(p[len("/dev/video"):]) for p in glob.glob("/dev/video*")
            if p[len("/dev/video"):].isdigit()}
    return next(i for i in range(63, 1000) if i not in used)


# ---------------------------------------------------------------- error cases
def test_v4l2_missing_device():
    idx = _free_v4l2_index()
    with pytest.raises(SourceError, match=f"cannot open V4L2 device /dev/video{idx}: "):
        V4L2Source(idx, 640, 480, 30)
    with pytest.raises(SourceError, match="cannot open V4L2 device"):
        make_source("v4l2", device_index=idx)


def test_video_missing_file(tmp_path):
    with pytest.raises(SourceError, match="video file not found: .*nope.avi"):
        VideoFileSource(tmp_path / "nope.avi")


def test_video_unreadable_file(tmp_path):
    bad = tmp_path / "garbage.avi"
    bad.write_bytes(b"this is not a video" * 100)
    with pytest.raises(SourceError, match="garbage.avi"):
        VideoFileSource(bad)


def test_folder_errors(tmp_path):
    with pytest.raises(SourceError, match="image folder not found"):
        ImageFolderSource(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(SourceError, match="no images in folder .*empty"):
        ImageFolderSource(empty)
    file = tmp_path / "file.png"
    file.write_bytes(b"x")
    with pytest.raises(SourceError, match="not a directory"):
        ImageFolderSource(file)


def test_folder_unreadable_image_names_file(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"not a png")
    src = ImageFolderSource(tmp_path)
    assert src.read() is not None
    with pytest.raises(SourceError, match=r"cannot decode image .*b\.png"):
        src.read()
    # A broken first image fails at construction.
    first_bad = tmp_path / "bad_first"
    first_bad.mkdir()
    (first_bad / "0.jpg").write_bytes(b"junk")
    with pytest.raises(SourceError, match=r"cannot decode image .*0\.jpg"):
        ImageFolderSource(first_bad)


def test_unknown_kind_lists_valid():
    with pytest.raises(SourceError, match="unknown source kind 'webcam'.*folder, synthetic, v4l2, video"):
        make_source("webcam")


def test_bad_parameters():
    with pytest.raises(SourceError, match="invalid parameters for source 'video'"):
        make_source("video", filename="x.avi")


def test_closed_source_raises():
    src = SyntheticSource(64, 48, 10.0)
    src.close()
    src.close()
    with pytest.raises(SourceError, match="closed"):
        src.read()


# ---------------------------------------------------------------- video
def test_video_frames_and_end(tmp_path):
    path = _write_video(tmp_path / "clip.avi")
    with make_source("video", path=str(path)) as src:
        assert isinstance(src, FrameSource)
        assert (src.width, src.height) == (64, 48)
        frames = []
        while (f := src.read()) is not None:
            frames.append(f)
        assert src.read() is None
        assert src.ground_truth is None
    assert len(frames) == 5
    for f, colour in zip(frames, COLOURS):
        assert f.shape == (48, 64, 3) and f.dtype == np.uint8
        assert np.abs(_mean_colour(f) - colour).max() < 20     # RGB order, lossy MJPEG


def test_video_loops(tmp_path):
    path = _write_video(tmp_path / "clip.avi")
    src = VideoFileSource(path, loop=True)
    frames = [src.read() for _ in range(12)]
    src.close()
    assert all(f is not None for f in frames)
    for k, f in enumerate(frames):
        assert np.abs(_mean_colour(f) - COLOURS[k % 5]).max() < 20


# ---------------------------------------------------------------- folder
def test_folder_sorted_and_loop(tmp_path):
    names = ["frame_02.png", "frame_00.png", "frame_01.png"]
    values = {"frame_00.png": 10, "frame_01.png": 120, "frame_02.png": 240}
    for n in names:
        img = np.zeros((20, 30, 3), np.uint8)
        img[..., 2] = values[n]                                  # BGR red channel
        cv2.imwrite(str(tmp_path / n), img)
    (tmp_path / "readme.txt").write_text("ignored")

    src = make_source("folder", path=tmp_path)
    assert (src.width, src.height) == (30, 20)
    reds = [int(src.read()[0, 0, 0]) for _ in range(3)]
    assert reds == [10, 120, 240]
    assert src.read() is None

    looping = ImageFolderSource(tmp_path, loop=True, extensions=["PNG"])
    reds = [int(looping.read()[0, 0, 0]) for _ in range(7)]
    assert reds == [10, 120, 240, 10, 120, 240, 10]


# ---------------------------------------------------------------- synthetic
def test_synthetic_frames_differ_and_ground_truth():
    src = make_source("synthetic", width=160, height=120, fps=10.0, period_s=4.0)
    assert (src.width, src.height) == (160, 120) and src.fps == 10.0
    assert src.ground_truth is None
    a = src.read()
    gt_a = src.ground_truth
    b = src.read()
    gt_b = src.ground_truth
    assert a.shape == (120, 160, 3) and a.dtype == np.uint8
    assert np.any(a != b)
    assert gt_a["t"] == 0.0 and gt_b["t"] == pytest.approx(0.1)
    assert gt_a["joints_cam"].shape == (24, 3)
    assert not np.allclose(gt_a["joints_cam"], gt_b["joints_cam"])
    assert src.intrinsics == (src.scene.fx, src.scene.fy, src.scene.cx, src.scene.cy)


def test_synthetic_invalid():
    with pytest.raises(SourceError, match="fps"):
        SyntheticSource(fps=0)
    with pytest.raises(SourceError, match="synthetic scene"):
        SyntheticSource(period_s=-1.0)
