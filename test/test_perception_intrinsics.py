"""camera_info checks (issue 16, item 6): non-finite or absurd intrinsics are refused with a reason."""
import math

import pytest

from pose_estimation_ros.perception.intrinsics import checked_intrinsics, intrinsics_for_image


def k(fx=500.0, fy=500.0, cx=320.0, cy=240.0):
    return [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]


def test_good_intrinsics_pass():
    i = checked_intrinsics(640, 480, k(fy=510.0))
    assert (i.fx, i.fy, i.cx, i.cy) == (500.0, 510.0, 320.0, 240.0)


@pytest.mark.parametrize("width,height,kk,reason", [
    (640, 480, k(fx=math.inf), "fx = inf is not finite"),
    (640, 480, k(cx=math.nan), "cx = nan is not finite"),
    (640, 480, k(fx=1e30), "fx = 1e+30 px is absurd"),
    (640, 480, k(fy=0.0), "fy = 0.0 must be > 0"),
    (640, 480, k(fx=-500.0), "fx = -500.0 must be > 0"),
    (640, 480, k(fx=1.0), "fx = 1 px is absurd"),
    (640, 480, k(cx=5000.0), "principal point"),
    (0, 480, k(), "image size 0x480"),
    (640, 480, k()[:6], "K must have 9 entries"),
])
def test_bad_intrinsics_are_refused_with_the_reason(width, height, kk, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace("+", r"\+")):
        checked_intrinsics(width, height, kk)


def test_size_mismatch_scaled_when_resized_refused_when_another_aspect():
    i = checked_intrinsics(640, 480, k())
    half = intrinsics_for_image(i, 320, 240)
    assert (half.fx, half.cx) == (250.0, 160.0)
    with pytest.raises(ValueError, match="camera_info is for 640x480 but the image is 640x360"):
        intrinsics_for_image(i, 640, 360)
