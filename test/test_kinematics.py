"""Tests of pose_estimation_ros.kinematics (rotations, FK, weak perspective, projection)."""
import math

import numpy as np
import pytest

from pose_estimation_ros.kinematics import (
    axis_angle_to_matrix, forward_kinematics, identity_pose, matrix_to_rot6d, project_points,
    rot6d_to_matrix, weak_perspective_to_translation)
from pose_estimation_ros.skeleton import JOINT_NAMES, REST_JOINTS, rest_offsets

J = {n: i for i, n in enumerate(JOINT_NAMES)}


def _random_rotations(n, seed=0):
    rng = np.random.default_rng(seed)
    return axis_angle_to_matrix(rng.normal(size=(n, 3)) * 1.5)


def test_axis_angle_basic():
    np.testing.assert_allclose(axis_angle_to_matrix(np.zeros(3)), np.eye(3))
    rz = axis_angle_to_matrix([0.0, 0.0, math.pi / 2])
    np.testing.assert_allclose(rz @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    rx = axis_angle_to_matrix([math.pi, 0.0, 0.0])
    np.testing.assert_allclose(rx, np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    # Tiny angles stay accurate (Taylor branch).
    np.testing.assert_allclose(axis_angle_to_matrix([1e-8, 0, 0]) @ [0, 1, 0], [0, 1, 1e-8],
                               atol=1e-15)


def test_axis_angle_batch_is_orthonormal():
    r = _random_rotations(50)
    assert r.shape == (50, 3, 3)
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape),
                               atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)


def test_rot6d_round_trip():
    r = _random_rotations(100, seed=1).reshape(4, 25, 3, 3)
    six = matrix_to_rot6d(r)
    assert six.shape == (4, 25, 6)
    np.testing.assert_allclose(six[..., :3], r[..., :, 0])     # first column, then second
    np.testing.assert_allclose(six[..., 3:], r[..., :, 1])
    np.testing.assert_allclose(rot6d_to_matrix(six), r, atol=1e-12)


def test_rot6d_gram_schmidt_of_unnormalised_input():
    out = rot6d_to_matrix(np.array([2.0, 0.0, 0.0, 1.0, 3.0, 0.0]))
    np.testing.assert_allclose(out, np.eye(3), atol=1e-12)
    assert np.all(np.isfinite(rot6d_to_matrix(np.zeros(6))))


def test_identity_rotations_give_rest_joints():
    joints = forward_kinematics(identity_pose(), rest_offsets())
    np.testing.assert_allclose(joints, REST_JOINTS, atol=1e-12)
    batch = forward_kinematics(identity_pose((2, 3)), rest_offsets())
    assert batch.shape == (2, 3, 24, 3)
    np.testing.assert_allclose(batch[1, 2], REST_JOINTS, atol=1e-12)


def test_left_elbow_bent_90_degrees():
    rots = identity_pose()
    # Rotate the left elbow by +90 deg about body y: the forearm (+x) turns to -z (backwards).
    rots[J["left_elbow"]] = axis_angle_to_matrix([0.0, math.pi / 2, 0.0])
    joints = forward_kinematics(rots, rest_offsets())
    elbow = REST_JOINTS[J["left_elbow"]]                          # (0.43, 0.43, -0.03)
    # wrist offset (0.25, 0.01, 0) -> (0, 0.01, -0.25); hand offset (0.08, -0.01, -0.01) -> (-0.01, -0.01, -0.08)
    np.testing.assert_allclose(joints[J["left_wrist"]], [0.43, 0.44, -0.28], atol=1e-12)
    np.testing.assert_allclose(joints[J["left_hand"]], [0.42, 0.43, -0.36], atol=1e-12)
    np.testing.assert_allclose(joints[J["left_elbow"]], elbow, atol=1e-12)
    others = [j for j in range(24) if j not in (J["left_wrist"], J["left_hand"])]
    np.testing.assert_allclose(joints[others], REST_JOINTS[others], atol=1e-12)


def test_global_orientation_rotates_everything():
    r0 = axis_angle_to_matrix([math.pi, 0.0, 0.0])
    rots = identity_pose()
    rots[0] = r0
    joints = forward_kinematics(rots, rest_offsets())
    np.testing.assert_allclose(joints, REST_JOINTS * [1, -1, -1], atol=1e-12)


def test_fk_shape_errors():
    with pytest.raises(ValueError, match="local_rotmats"):
        forward_kinematics(np.zeros((23, 3, 3)), rest_offsets())
    with pytest.raises(ValueError, match="offsets"):
        forward_kinematics(identity_pose(), np.zeros((24, 2)))


def test_weak_perspective_to_translation_hand_computed():
    fx = fy = 500.0
    cx, cy = 320.0, 240.0
    cam = np.array([0.8, 0.1, -0.2])          # s, tx, ty
    center = np.array([400.0, 260.0])
    size = 200.0
    t = weak_perspective_to_translation(cam, center, size, fx, fy, cx, cy)
    # Tz = 2*500/(200*0.8) = 6.25; b*s/2 = 80
    # Tx = 6.25*(400-320+80*0.1)/500 = 6.25*88/500 = 1.1
    # Ty = 6.25*(260-240+80*(-0.2))/500 = 6.25*4/500 = 0.05
    np.testing.assert_allclose(t, [1.1, 0.05, 6.25], atol=1e-12)
    # The root projects to the weak-perspective root pixel: u = 400 + 100*0.8*0.1 = 408, v = 260 - 16 = 244.
    uv = project_points(t[None], fx, fy, cx, cy)[0]
    np.testing.assert_allclose(uv, [408.0, 244.0], atol=1e-9)


def test_weak_perspective_matches_near_root_and_batches():
    fx, fy, cx, cy = 600.0, 600.0, 320.0, 240.0
    cam = np.array([[1.1, -0.05, 0.3], [0.5, 0.2, 0.0]])
    centers = np.array([[300.0, 200.0], [100.0, 400.0]])
    sizes = np.array([180.0, 90.0])
    t = weak_perspective_to_translation(cam, centers, sizes, fx, fy, cx, cy)
    assert t.shape == (2, 3)
    point = np.array([0.01, -0.02, 0.0])       # a point next to the root, Z = 0
    for i in range(2):
        s, tx, ty = cam[i]
        weak = centers[i] + sizes[i] / 2 * s * (point[:2] + [tx, ty])
        persp = project_points((point + t[i])[None], fx, fy, cx, cy)[0]
        np.testing.assert_allclose(persp, weak, atol=1e-9)


def test_weak_perspective_clamps_nonpositive_scale():
    t = weak_perspective_to_translation([-1.0, 0.0, 0.0], [320.0, 240.0], 100.0,
                                        500.0, 500.0, 320.0, 240.0)
    assert np.all(np.isfinite(t)) and t[2] > 1000


def test_project_points():
    pts = np.array([[[0.0, 0.0, 2.0], [1.0, -0.5, 2.0], [0.0, 0.0, -1.0]]])
    uv = project_points(pts, 500.0, 400.0, 320.0, 240.0)
    assert uv.shape == (1, 3, 2)
    np.testing.assert_allclose(uv[0, :2], [[320.0, 240.0], [570.0, 140.0]])
    assert np.all(np.isnan(uv[0, 2]))
