"""Flip test (perception/flip_test.py): the mirror of inputs and outputs, checked against geometry by hand, and the
pipeline running the model on each crop and its mirror."""
import numpy as np
import pytest

from pose_estimation_ros import skeleton
from pose_estimation_ros.perception.flip_test import (COCO_MIRROR, JOINT_MIRROR, average_outputs, mirror_inputs,
                                                      mirror_outputs)

S = 128


def _rot(rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def _outputs(rng, n=3):
    rots = np.stack([[_rot(rng) for _ in range(24)] for _ in range(n)])          # (n, 24, 3, 3)
    pose6d = np.concatenate([rots[..., :, 0], rots[..., :, 1]], -1)              # [a1, a2] columns
    joints = rng.normal(0, 0.3, (n, 24, 3))
    joints -= joints[:, :1]
    cam = np.stack([rng.uniform(1.0, 2.0, n), rng.normal(0, 0.05, n), rng.normal(0, 0.05, n)], 1)
    return pose6d, rng.normal(size=(n, 6)), cam, joints, rots


def test_mirror_indices_swap_left_and_right():
    names = skeleton.JOINT_NAMES
    assert names[JOINT_MIRROR[names.index("left_wrist")]] == "right_wrist"
    assert JOINT_MIRROR[names.index("pelvis")] == names.index("pelvis")
    assert COCO_MIRROR[:7] == [0, 2, 1, 4, 3, 6, 5] and COCO_MIRROR[15:] == [16, 15]


def test_mirrored_outputs_are_the_reflection_hand_computed():
    rng = np.random.default_rng(0)
    pose6d, betas, cam, joints, rots = _outputs(rng)
    p, b, c, j = mirror_outputs(pose6d, betas, cam, joints, S)
    m = np.diag([-1.0, 1.0, 1.0])
    want = m @ rots[:, JOINT_MIRROR] @ m                                           # M R M, left <-> right
    np.testing.assert_allclose(p, np.concatenate([want[..., :, 0], want[..., :, 1]], -1), atol=1e-12)
    np.testing.assert_allclose(j, joints[:, JOINT_MIRROR] * [-1, 1, 1], atol=1e-12)
    np.testing.assert_array_equal(b, betas)
    # The projections: a joint at crop pixel x appears at S - 1 - x in the mirror image.
    px = (cam[:, None, :1] * (joints[..., :2] + cam[:, None, 1:]) + 1) * S / 2
    pxm = (c[:, None, :1] * (j[..., :2] + c[:, None, 1:]) + 1) * S / 2
    np.testing.assert_allclose(pxm[:, JOINT_MIRROR, 0], S - 1 - px[..., 0], atol=1e-9)
    np.testing.assert_allclose(pxm[:, JOINT_MIRROR, 1], px[..., 1], atol=1e-9)
    # An involution.
    back = mirror_outputs(p, b, c, j, S)
    for got, orig in zip(back, (pose6d, betas, cam, joints)):
        np.testing.assert_allclose(got, orig, atol=1e-12)


def test_mirrored_inputs_match_the_pixels_and_average_is_orthonormal():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, S, S)).astype(np.float32)
    kp = np.zeros((2, 17, 3), np.float32)
    kp[:, 9] = (2 * 10.0 / S - 1, 0.2, 0.9)          # left wrist at crop pixel x = 10
    xf, kf = mirror_inputs(x, kp, S)
    np.testing.assert_array_equal(xf[..., 0], x[..., S - 1])
    assert kf[0, 10, 0] == pytest.approx(2 * (S - 1 - 10.0) / S - 1)        # right wrist at pixel S - 1 - 10
    assert kf[0, 9, 2] == 0 and kf[0, 9, 0] == 0                            # a missing keypoint stays missing
    x2, k2 = mirror_inputs(xf, kf, S)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_allclose(k2, kp, atol=1e-6)
    assert mirror_inputs(x, None, S)[1] is None
    pose6d, betas, cam, joints, _ = _outputs(rng)
    avg = average_outputs((pose6d, betas, cam, joints), mirror_outputs(pose6d, betas, cam, joints, S))
    a1, a2 = avg[0][..., :3], avg[0][..., 3:]
    np.testing.assert_allclose(np.linalg.norm(a1, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose((a1 * a2).sum(-1), 0.0, atol=1e-5)
    assert all(a.dtype == np.float32 for a in avg)


def test_the_pipeline_runs_each_crop_and_its_mirror(tmp_path):
    from perception_fixtures import write_batch_per_frame
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

    model = tmp_path / "m.onnx"
    write_batch_per_frame(model, joints=np.zeros((24, 3)))
    seen = []
    rest = (skeleton.REST_JOINTS * [1.0, -1.0, 1.0])[None]

    def runner(x):
        seen.append(x.copy())
        lean = float(x[..., : x.shape[-1] // 2].mean() - x[..., x.shape[-1] // 2:].mean())   # >0: brighter left
        j = rest + np.array([lean, 0.0, 0.0])                                               # leans to the bright side
        j[:, 0] = 0.0
        return (np.tile([1.0, 0, 0, 0, 1, 0], (len(x), 24, 1)).astype(np.float32), np.zeros((len(x), 6), np.float32),
                np.tile([1.0, 0.0, 0.0], (len(x), 1)).astype(np.float32), np.repeat(j, len(x), 0).astype(np.float32))

    rgb = np.zeros((64, 64, 3), np.uint8)
    rgb[:, :32] = 200                                                           # the left half is bright
    intr = Intrinsics(64, 64, 60.0, 60.0, 32.0, 32.0)
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(model), temporal_model="none", crop="full",
                                               flip_test=True), per_frame_runner=runner)
    est = pipe.process(rgb, 33_000_000, intr).estimates[0]
    pipe.close()
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[1], seen[0][..., ::-1])
    # The lean is mirror-consistent: the mirrored crop leans the other way, mirrored back it agrees, so the average
    # keeps it (a model that ignored the mirror would cancel it out).
    half = seen[0].shape[-1] // 2
    lean = seen[0][..., :half].mean() - seen[0][..., half:].mean()
    assert lean > 0.5
    np.testing.assert_allclose(est.joints_cam[1:, 0] - est.joints_cam[0, 0], (rest[0, 1:, 0] + lean), atol=1e-4)


def test_orthonormal_rot6d_hand_computed_and_the_window_gets_it(tmp_path):
    """The model's raw 6D ``[2,0,0, 1,3,0]`` is the identity rotation (Gram-Schmidt: a1/|a1| = e1, a2 minus its e1
    part = 3 e2): the temporal model's window must hold ``[1,0,0, 0,1,0]``, not the raw vector (PoseBERT was
    trained on orthonormal 6D; fed the raw output it made the unseen video subject worse: 93.6 -> 101.6 mm)."""
    from perception_fixtures import write_batch_per_frame
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.kinematics import orthonormal_rot6d
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

    np.testing.assert_allclose(orthonormal_rot6d(np.array([2.0, 0, 0, 1, 3, 0])), [1, 0, 0, 0, 1, 0], atol=1e-12)
    a = np.radians(30)
    # a1 = 5 b1 with b1 = (0, cos 30, sin 30); a2 = 0.3 e1 + 0.2 b1 (not orthogonal to a1): b2 = e1.
    raw = np.array([0.0, 5 * np.cos(a), 5 * np.sin(a), 0.3, 0.2 * np.cos(a), 0.2 * np.sin(a)])
    got = orthonormal_rot6d(raw)
    np.testing.assert_allclose(got[:3], [0, np.cos(a), np.sin(a)], atol=1e-12)
    np.testing.assert_allclose(got[3:], [1, 0, 0], atol=1e-12)

    model = tmp_path / "m.onnx"
    write_batch_per_frame(model, joints=np.zeros((24, 3)))

    def runner(x):
        n = len(x)
        return (np.tile([2.0, 0, 0, 1, 3, 0], (n, 24, 1)).astype(np.float32), np.zeros((n, 6), np.float32),
                np.tile([1.0, 0.0, 0.0], (n, 1)).astype(np.float32), np.zeros((n, 24, 3), np.float32))

    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(model), temporal_model="none", crop="full"),
                              per_frame_runner=runner)
    pipe.process(np.zeros((64, 64, 3), np.uint8), 33_000_000, Intrinsics(64, 64, 60.0, 60.0, 32.0, 32.0))
    (track,) = pipe.tracks.values()
    np.testing.assert_allclose(track.window.pose[-1], np.tile([1.0, 0, 0, 0, 1, 0], (24, 1)), atol=1e-6)
    pipe.close()
