"""Fitting the model's output to the frame's 2D keypoints (perception/keypoint_fit.py): the weak-perspective camera
step, the bone-length ray step, hand-computed cases, and the pipeline publishing limbs on the keypoints' rays."""
import numpy as np
import pytest

from pose_estimation_ros import skeleton
from pose_estimation_ros.kinematics import project_points
from pose_estimation_ros.perception.keypoint_fit import (COCO_TO_JOINT, LIMB_JOINTS, CameraFit, fit_limbs,
                                                         bone_toward_ray, fit_weak_camera)

J = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}


def _body() -> np.ndarray:
    """(24, 3) the rest skeleton in the camera optical frame (y down): REST_JOINTS with y flipped."""
    return skeleton.REST_JOINTS * np.array([1.0, -1.0, 1.0])


def _project_weak(joints, cam):
    rel = joints - joints[:1]
    return cam[0] * (rel[:, :2] + cam[1:])


def _coco_from(uv24: np.ndarray, conf: float = 0.9) -> np.ndarray:
    kp = np.zeros((17, 3))
    for c, j in COCO_TO_JOINT:
        kp[c] = (*uv24[j], conf)
    return kp


def _raise_forearm(joints: np.ndarray, deg: float = 50.0) -> np.ndarray:
    """``joints`` with the left forearm (and hand) turned ``deg`` upwards in the image plane about the elbow."""
    out = joints.copy()
    e = joints[J["left_elbow"]]
    a = np.radians(deg)
    rot = np.array([[np.cos(a), np.sin(a), 0.0], [-np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])   # y is down
    for n in ("left_wrist", "left_hand"):
        out[J[n]] = e + rot @ (joints[J[n]] - e)
    return out


def test_bone_toward_ray_hand_computed():
    # Ray x = 0.6, y = 0 along z; the model has the joint at depth 0.3: the ray's point there is (0.6, 0, 0.3);
    # the bone (length 1 from the origin) points at it: (0.6, 0, 0.3) / |(0.6, 0, 0.3)| = (0.8944, 0, 0.4472).
    p = bone_toward_ray(np.zeros(3), 1.0, np.array([0.6, 0.0, -5.0]), np.array([0.0, 0.0, 1.0]),
                        np.array([0.5, 0.0, 0.3]))
    np.testing.assert_allclose(p, np.array([0.6, 0.0, 0.3]) / np.sqrt(0.45), atol=1e-12)
    # Perspective ray through (u', v') = (0.1, -0.2) from the camera centre, joint depth 2, parent (0, 0, 2), bone 0.5:
    # the ray's point at depth 2 is (0.2, -0.4, 2): the bone points at it, length 0.5.
    p = bone_toward_ray(np.array([0.0, 0.0, 2.0]), 0.5, np.zeros(3), np.array([0.1, -0.2, 1.0]),
                        np.array([0.3, 0.0, 2.0]))
    np.testing.assert_allclose(p, np.array([0.0, 0.0, 2.0]) + 0.5 * np.array([0.2, -0.4, 0.0]) / np.sqrt(0.2),
                               atol=1e-12)
    # A ray in the image plane says nothing about depth: the model's joint.
    np.testing.assert_array_equal(bone_toward_ray(np.zeros(3), 1.0, np.zeros(3), np.array([1.0, 0.0, 0.0]),
                                                  np.array([0.0, 1.0, 0.0])), [0.0, 1.0, 0.0])


def test_the_camera_fit_recovers_the_camera_that_made_the_keypoints():
    body = _body()
    true = np.array([1.6, 0.05, -0.1])
    kp = _coco_from(_project_weak(body, true))
    cam, n = fit_weak_camera(body, np.array([1.2, 0.0, 0.0]), kp, CameraFit(prior=0.0))
    assert n == 12
    np.testing.assert_allclose(cam, true, atol=1e-9)
    # With the prior the answer lies between the model's camera and the keypoints' one.
    cam_p, _ = fit_weak_camera(body, np.array([1.2, 0.0, 0.0]), kp, CameraFit(prior=1.0))
    assert 1.2 < cam_p[0] < 1.6


def test_the_camera_fit_keeps_the_models_camera_when_it_cannot_fit():
    body, cam0 = _body(), np.array([1.2, 0.01, 0.02])
    kp = _coco_from(_project_weak(body, np.array([1.6, 0.0, 0.0])))
    kp[5:14, 2] = 0.0                                   # three keypoints left: below min_points (4)
    cam, n = fit_weak_camera(body, cam0, kp)
    assert n == 0 and np.array_equal(cam, cam0)
    far = _coco_from(_project_weak(body, np.array([6.0, 0.0, 0.0])))   # 5x the model's scale: refused
    cam, n = fit_weak_camera(body, cam0, far, CameraFit(prior=0.0))
    assert n == 0 and np.array_equal(cam, cam0)
    with pytest.raises(ValueError, match="keypoints \\(17, 3\\)"):
        fit_weak_camera(body, cam0, kp[:12])
    for bad, match in (({"min_confidence": 1.5}, "min_confidence"), ({"min_points": 2}, "min_points"),
                       ({"prior": -1}, "prior"), ({"max_scale_change": 0.5}, "max_scale_change")):
        with pytest.raises(ValueError, match=match):
            CameraFit(**bad)


def test_fit_limbs_turns_each_limb_towards_its_ray_and_keeps_every_bone():
    body = _body() + np.array([0.2, 0.1, 3.0])          # 3 m in front of a pinhole camera
    fx = fy = 500.0
    cx, cy = 320.0, 240.0
    # The image shows the left forearm raised 50 degrees (same elbow, same forearm length).
    seen = _raise_forearm(body)
    uv = project_points(seen, fx, fy, cx, cy)
    rays = np.full((24, 3), np.nan)
    for name in ("left_elbow", "left_wrist", "right_knee"):
        j = J[name]
        rays[j] = ((uv[j, 0] - cx) / fx, (uv[j, 1] - cy) / fy, 1.0)
    out = fit_limbs(body, rays)
    got = project_points(out, fx, fy, cx, cy)
    before = project_points(body, fx, fy, cx, cy)
    # The elbow and knee were already where the image has them; the raised wrist is found (one bone-length step
    # at the model's depth: the forearm turned in the image plane is found exactly, from 36 px away).
    for name in ("left_elbow", "right_knee"):
        np.testing.assert_allclose(got[J[name]], uv[J[name]], atol=1e-6)
    w = J["left_wrist"]
    assert np.linalg.norm(before[w] - uv[w]) > 30.0
    assert np.linalg.norm(got[w] - uv[w]) < 3.0, np.linalg.norm(got[w] - uv[w])
    bone = lambda X: np.array([np.linalg.norm(X[j] - X[p]) for j, p in skeleton.BONES])  # noqa: E731
    np.testing.assert_allclose(bone(out), bone(body), atol=1e-9)
    # Joints without a ray and not below a moved one are the model's; the hand follows the wrist rigidly.
    moved = {J[n] for n in ("left_elbow", "left_wrist", "left_hand", "right_knee", "right_ankle", "right_foot")}
    for j in set(range(24)) - moved:
        np.testing.assert_allclose(out[j], body[j], atol=1e-12)
    np.testing.assert_allclose(out[J["left_hand"]] - out[J["left_wrist"]],
                               body[J["left_hand"]] - body[J["left_wrist"]], atol=1e-12)
    with pytest.raises(ValueError, match="24, 3"):
        fit_limbs(body[:20], rays[:20])


def test_limb_joints_are_coco_limbs_with_their_parents_first():
    assert [skeleton.JOINT_NAMES[j] for _, j in LIMB_JOINTS][:2] == ["left_elbow", "right_elbow"]
    order = [j for _, j in LIMB_JOINTS]
    assert all(skeleton.PARENTS[j] not in order[i:] for i, j in enumerate(order))


def test_the_pipeline_publishes_limbs_on_the_keypoints_and_can_be_told_not_to(tmp_path):
    """A scripted detector gives keypoints of a body whose left arm is raised; the fixture model always answers the
    rest pose. With keypoint_fit=limbs the published left wrist lands within a few px of its keypoint, bones
    unchanged; with off it stays the model's."""
    from perception_fixtures import write_batch_per_frame
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.detectors import Detection
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

    model = tmp_path / "m.onnx"
    write_batch_per_frame(model, joints=_body(), cam=(1.0, 0.0, 0.0))
    intr = Intrinsics(640, 480, 500.0, 500.0, 320.0, 240.0)

    class Scripted:
        name = "scripted"
        kp = None

        def detect(self, rgb):
            return [Detection(np.array([220, 40, 420, 440], np.float32), 0.9, self.kp)]

    rgb = np.zeros((480, 640, 3), np.uint8)
    outs = {}
    for mode in ("off", "limbs"):
        det = Scripted()
        pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(model), temporal_model="none",
                                                   keypoint_fit=mode, detect_every=1), detector=det)
        # Frame 1 gives the estimate the keypoints are made from (the model's own projection, then a raised wrist).
        det.kp = np.zeros((17, 3), np.float32)
        first = pipe.process(rgb, 1 * 33_000_000, intr).estimates[0]
        seen = _raise_forearm(first.joints_cam)
        uv = project_points(seen, intr.fx, intr.fy, intr.cx, intr.cy)
        kp = _coco_from(uv)
        kp[[c for c in range(17) if c not in (7, 9)], 2] = 0.0   # elbow + wrist only: the crop stays the box's
        det.kp = kp.astype(np.float32)
        outs[mode] = (pipe.process(rgb, 2 * 33_000_000, intr).estimates[0], uv, first)
        pipe.close()
    est, uv, first = outs["limbs"]
    assert np.linalg.norm(est.joints_2d[J["left_wrist"]] - uv[J["left_wrist"]]) < 3.0
    np.testing.assert_allclose(est.joints_2d[J["left_elbow"]], uv[J["left_elbow"]], atol=0.05)
    bone = lambda X: np.array([np.linalg.norm(X[j] - X[p]) for j, p in skeleton.BONES])  # noqa: E731
    np.testing.assert_allclose(bone(est.joints_cam), bone(first.joints_cam), atol=1e-5)
    off, uv_off, _ = outs["off"]
    assert np.linalg.norm(off.joints_2d[J["left_wrist"]] - uv_off[J["left_wrist"]]) > 20.0
    with pytest.raises(ValueError, match="unknown keypoint_fit 'snap'"):
        PerceptionConfig(keypoint_fit="snap").validate()


# ------------------------------------------------------------------------------------------------ body_scale
def _with_neutral_bones(model_path, factor: float) -> None:
    """Give a fixture model's metadata a neutral body ``factor`` times the rest skeleton's size."""
    from pose_estimation_ros.perception.metadata import load_metadata, write_metadata

    meta = load_metadata(model_path)
    rest = _body()
    meta.architecture["neutral_bones_m"] = [factor * float(np.linalg.norm(rest[j] - rest[p]))
                                            for j, p in skeleton.BONES]
    write_metadata(model_path, meta)


def test_body_scale_neutral_places_the_person_at_the_neutral_bodys_size_with_the_same_image(tmp_path):
    """The model answers the rest skeleton; the neutral body is 1.2x its size. body_scale neutral publishes a body
    1.2x the size, 1.2x as far, projecting onto the same pixels; model keeps the model's size; a model without a
    neutral body in its metadata keeps its size with a warning."""
    from perception_fixtures import write_batch_per_frame
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline, neutral_body_size

    model = tmp_path / "m.onnx"
    write_batch_per_frame(model, joints=_body(), cam=(1.0, 0.0, 0.0))
    intr = Intrinsics(320, 240, 300.0, 300.0, 160.0, 120.0)
    rgb = np.zeros((240, 320, 3), np.uint8)

    def run(scale):
        pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(model), temporal_model="none", crop="full",
                                                   body_scale=scale, keypoint_fit="off"))
        try:
            return pipe.process(rgb, 33_000_000, intr).estimates[0], pipe.body_scale_warning
        finally:
            pipe.close()

    plain, warn = run("neutral")
    assert warn is not None and "neutral_bones_m" in warn
    _with_neutral_bones(model, 1.2)
    from pose_estimation_ros.perception.metadata import load_metadata
    rest = _body()
    assert neutral_body_size(load_metadata(model)) == pytest.approx(
        1.2 * sum(np.linalg.norm(rest[j] - rest[p]) for j, p in skeleton.BONES))
    big, warn = run("neutral")
    same, _ = run("model")
    assert warn is None
    np.testing.assert_allclose(same.joints_cam, plain.joints_cam, atol=1e-9)
    np.testing.assert_allclose(big.joints_cam, 1.2 * plain.joints_cam, rtol=1e-5, atol=1e-6)   # size and distance
    np.testing.assert_allclose(big.joints_2d, plain.joints_2d, atol=1e-3)                      # the same image
    with pytest.raises(ValueError, match="unknown body_scale 'tall'"):
        PerceptionConfig(body_scale="tall").validate()


def test_neutral_body_size_refuses_malformed_metadata():
    from types import SimpleNamespace

    from pose_estimation_ros.perception.pipeline import neutral_body_size

    assert neutral_body_size(SimpleNamespace(architecture={})) is None
    assert neutral_body_size(SimpleNamespace(architecture={"neutral_bones_m": [0.1] * 5})) is None
    assert neutral_body_size(SimpleNamespace(architecture={"neutral_bones_m": ["x"] * 23})) is None
    assert neutral_body_size(SimpleNamespace(architecture={"neutral_bones_m": [0.1] * 23})) == pytest.approx(2.3)


def test_bad_keypoints_are_not_fitted_and_never_break_the_output(tmp_path):
    """Non-finite positions or confidences, confidences out of range, keypoints far outside the image: the pipeline
    publishes finite joints, fits only what is valid, and the bones keep their lengths."""
    from perception_fixtures import write_batch_per_frame
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.detectors import Detection
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

    model = tmp_path / "m.onnx"
    write_batch_per_frame(model, joints=_body(), cam=(1.0, 0.0, 0.0))
    intr = Intrinsics(640, 480, 500.0, 500.0, 320.0, 240.0)
    kp = np.zeros((17, 3), np.float32)
    kp[7] = (np.nan, 100.0, 0.9)          # left elbow: NaN position
    kp[9] = (300.0, 100.0, np.inf)        # left wrist: infinite confidence
    kp[8] = (1e9, -1e9, 0.9)              # right elbow: absurdly far
    kp[13] = (300.0, 300.0, -2.0)         # left knee: negative confidence

    class Scripted:
        name = "scripted"

        def detect(self, rgb):
            return [Detection(np.array([220, 40, 420, 440], np.float32), 0.9, kp)]

    rgb = np.zeros((480, 640, 3), np.uint8)
    outs = {}
    for mode in ("off", "limbs"):
        pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(model), temporal_model="none",
                                                   keypoint_fit=mode, detect_every=1), detector=Scripted())
        outs[mode] = pipe.process(rgb, 33_000_000, intr).estimates[0].joints_cam
        pipe.close()
    got, ref = outs["limbs"], outs["off"]
    assert np.all(np.isfinite(got))
    bone = lambda X: np.array([np.linalg.norm(X[j] - X[p]) for j, p in skeleton.BONES])  # noqa: E731
    np.testing.assert_allclose(bone(got), bone(ref), atol=1e-6)
    for name in ("left_elbow", "left_wrist", "left_knee", "left_ankle", "right_knee"):
        np.testing.assert_allclose(got[J[name]], ref[J[name]], atol=1e-9)     # invalid keypoints: not fitted
