"""body_scale floor (perception/floor.py): the camera's up vector, the factor that puts the feet on the floor
(hand-computed cases), the per-track memory, and the pipeline publishing a person at the floor's distance."""
from collections import deque

import numpy as np
import pytest

from pose_estimation_ros import skeleton
from pose_estimation_ros.skeleton import body_size
from pose_estimation_ros.perception.floor import (ANKLE_KEYPOINTS, FLOOR_HISTORY, FOOT_JOINTS, FloorScale,
                                                  camera_up_vector, floor_scale, pitch_roll_from_up)

J = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}


def _standing(depth: float, feet_y: float) -> np.ndarray:
    """(24, 3) the rest skeleton in a level camera's optical frame (y down), its foot joints at ``y = feet_y``,
    ``depth`` m ahead."""
    j = skeleton.REST_JOINTS * np.array([1.0, -1.0, 1.0])
    j = j - np.array([0.0, j[list(FOOT_JOINTS), 1].max(), 0.0])
    return j + np.array([0.0, feet_y, depth])


def _rot_x(deg: float) -> np.ndarray:
    a = np.radians(deg)
    return np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])


def test_camera_up_vector_hand_computed_and_inverted():
    np.testing.assert_allclose(camera_up_vector(0.0), [0.0, -1.0, 0.0], atol=1e-12)      # level: up = -y
    np.testing.assert_allclose(camera_up_vector(90.0), [0.0, 0.0, -1.0], atol=1e-12)     # straight down: up = -z
    s = np.sin(np.radians(30.0))
    np.testing.assert_allclose(camera_up_vector(30.0), [0.0, -np.cos(np.radians(30.0)), -s], atol=1e-12)
    # rolled 90 deg about +z (x turns towards y): the new x axis is the old down, so up lies along -x
    np.testing.assert_allclose(camera_up_vector(0.0, 90.0), [-1.0, 0.0, 0.0], atol=1e-12)
    for pitch, roll in ((0.0, 0.0), (25.0, 0.0), (-10.0, 5.0), (60.0, -30.0)):
        assert pitch_roll_from_up(camera_up_vector(pitch, roll)) == pytest.approx((pitch, roll), abs=1e-9)


def test_floor_scale_level_camera_hand_computed():
    """Camera 1.2 m up, level. The model answers the person at 0.8 of their size (and so 0.8 as far): the foot
    joint at y = 0.8 (1.2 - 0.03) = 0.936 instead of 1.17; k = (0.03 - 1.2) / -0.936 = 1.25."""
    true = _standing(4.0, 1.2 - 0.03)
    k = floor_scale(0.8 * true, camera_up_vector(0.0), 1.2, 0.03)
    assert k == pytest.approx(1.25, rel=1e-12)
    np.testing.assert_allclose(k * 0.8 * true, true, atol=1e-12)


def test_floor_scale_tilted_camera_recovers_the_true_distance():
    """A camera 2.0 m up looking 25 deg down: the world (y down, floor at y = 2.0 below a level frame at the
    camera) turned into the tilted frame; the person given at 1.3x their size is brought back."""
    level = _standing(5.0, 2.0 - 0.03)
    r = _rot_x(25.0)             # level frame -> camera frame pitched 25 deg down (rows: the camera's axes)
    up = camera_up_vector(25.0)
    np.testing.assert_allclose(r @ np.array([0.0, -1.0, 0.0]), up, atol=1e-12)
    cam = level @ r.T
    k = floor_scale(1.3 * cam, up, 2.0, 0.03)
    assert k == pytest.approx(1 / 1.3, rel=1e-9)


def test_floor_scale_refuses_feet_near_the_horizon_or_behind():
    up = camera_up_vector(0.0)
    far = _standing(60.0, 1.2 - 0.03)                 # 1.17 m below at 60 m: 1.1 deg below the horizon
    assert floor_scale(far, up, 1.2, 0.03, min_depression_deg=3.0) is None
    assert floor_scale(far, up, 1.2, 0.03, min_depression_deg=1.0) is not None
    above = _standing(4.0, -0.5)                      # feet above the camera (a person on a balcony)
    assert floor_scale(above, up, 1.2, 0.03) is None
    behind = _standing(-3.0, 1.17)
    assert floor_scale(behind, up, 1.2, 0.03) is None
    nan = _standing(4.0, 1.17)
    nan[J["left_foot"]] = np.nan
    assert floor_scale(nan, up, 1.2, 0.03) is None


def _keypoints(conf: float) -> np.ndarray:
    kp = np.zeros((17, 3))
    kp[list(ANKLE_KEYPOINTS)] = (320.0, 400.0, conf)
    return kp


def test_floor_memory_median_applies_to_frames_without_feet():
    fs = FloorScale(camera_up_vector(0.0), 1.2, 0.03)
    true = _standing(4.0, 1.17)
    sizes = deque(maxlen=FLOOR_HISTORY)
    fs.measure(sizes, 0.8 * true, seen=False)
    assert fs.factor(sizes, 0.8 * true) is None                        # feet never seen: the model's size
    for f in (0.8, 0.8, 0.9):                                          # three frames measure the same person
        fs.measure(sizes, f * true, seen=True)
    assert np.median(sizes) == pytest.approx(body_size(true))
    fs.measure(sizes, 0.85 * true, seen=False)
    assert fs.factor(sizes, 0.85 * true) == pytest.approx(1 / 0.85)    # the memory, feet out of view
    assert len(sizes) == 3
    # bounded: a model answering 5x too small is brought up at most to the limit
    assert fs.factor(sizes, 0.2 * true) == pytest.approx(1.5)


def test_feet_seen_needs_a_confident_ankle_and_the_foot_inside_the_image():
    fs = FloorScale(camera_up_vector(0.0), 1.2, 0.03)
    j = _standing(4.0, 1.17)                          # foot at v = 240 + 300 * 1.17 / 4 = 327.75 of 480
    args = (640, 480, 300.0, 300.0, 320.0, 240.0)
    assert fs.feet_seen(j, _keypoints(0.9), *args)
    assert not fs.feet_seen(j, _keypoints(0.2), *args)
    assert not fs.feet_seen(j, None, *args)
    assert fs.feet_seen(_standing(1.5, 1.17), _keypoints(0.9), *args)       # v = 240 + 300 * 1.17 / 1.5 = 474
    assert not fs.feet_seen(_standing(1.2, 1.17), _keypoints(0.9), *args)   # v = 532.5 > 480: cut off
    with pytest.raises(ValueError, match="camera height"):
        FloorScale(camera_up_vector(0.0), 0.0)
    with pytest.raises(ValueError, match="sole height"):
        FloorScale(camera_up_vector(0.0), 1.0, sole_height=1.5)


def test_config_refuses_floor_without_a_camera_height():
    from pose_estimation_ros.perception.pipeline import PerceptionConfig

    with pytest.raises(ValueError, match="floor.camera_height > 0"):
        PerceptionConfig(body_scale="floor").validate()
    with pytest.raises(ValueError, match="camera_pitch_deg"):
        PerceptionConfig(body_scale="floor", floor_camera_height=1.2, floor_camera_pitch_deg=120.0).validate()
    PerceptionConfig(body_scale="floor", floor_camera_height=1.2).validate()


def test_pipeline_body_scale_floor_puts_the_feet_on_the_floor_with_the_same_image(tmp_path):
    """A constant model (the rest skeleton) and a detector that sees the ankles: with body_scale floor the
    published person's lowest foot joint is at the floor's height (camera 1.1x higher than the model's answer
    implies), the image is unchanged, and a frame whose ankles are not seen keeps the measured size."""
    from perception_fixtures import write_batch_per_frame
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.detect import Detection
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

    model = tmp_path / "m.onnx"
    write_batch_per_frame(model, joints=skeleton.REST_JOINTS * np.array([1.0, -1.0, 1.0]), cam=(1.0, 0.0, 0.0))
    intr = Intrinsics(320, 240, 300.0, 300.0, 160.0, 120.0)
    rgb = np.zeros((240, 320, 3), np.uint8)

    class Ankles:
        """One person box; ankle keypoints with the confidence the test sets."""
        name = "ankles"
        conf = 0.9

        def detect(self, img):
            kp = np.zeros((17, 3), np.float32)
            kp[list(ANKLE_KEYPOINTS)] = (160.0, 200.0, self.conf)
            return [Detection(np.array([120.0, 40.0, 200.0, 220.0], np.float32), 0.9, kp)]

    def run(scale, height=None, frames=1, mount_at=None):
        """Estimates of ``frames`` frames (ankles seen on the first, and on ``mount_at`` where the mount
        ``height`` is set through set_floor_mount, the node's /tf_static path, instead of the config)."""
        det = Ankles()
        kw = {"floor_camera_height": height} if height and mount_at is None else {}
        if mount_at is not None:
            kw["floor_base_frame"] = "base_link"
        pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(model), temporal_model="none",
                                                   body_scale=scale, keypoint_fit="off", detect_every=1, **kw),
                                  detector=det)
        try:
            out = []
            for f in range(frames):
                if f == mount_at:
                    pipe.set_floor_mount(height, 0.0, 0.0)
                det.conf = 0.9 if f in (0, mount_at) else 0.0     # the ankles only on these frames
                out.append(pipe.process(rgb, (f + 1) * 33_000_000, intr).estimates[0])
            return out
        finally:
            pipe.close()

    plain = run("model")[0]
    foot_y = plain.joints_cam[list(FOOT_JOINTS), 1].max()
    assert foot_y > 0.2                                    # below the camera: the floor can measure it
    height = 0.03 + 1.1 * foot_y
    first, later = run("floor", height, frames=2)
    assert first.joints_cam[list(FOOT_JOINTS), 1].max() == pytest.approx(height - 0.03, rel=1e-5)
    np.testing.assert_allclose(first.joints_cam, 1.1 * plain.joints_cam, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first.joints_2d, plain.joints_2d, atol=1e-3)
    np.testing.assert_allclose(later.joints_cam, first.joints_cam, rtol=1e-5, atol=1e-6)   # remembered
    # no mount yet (floor.base_frame, /tf_static not arrived): the model's size; the mount set on frame 2 applies
    # from that frame on
    before, _, after, kept = run("floor", height, frames=4, mount_at=2)
    np.testing.assert_allclose(before.joints_cam, plain.joints_cam, atol=1e-9)
    np.testing.assert_allclose(after.joints_cam, first.joints_cam, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(kept.joints_cam, first.joints_cam, rtol=1e-5, atol=1e-6)
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=str(model), temporal_model="none", crop="full",
                                               body_scale="floor", floor_base_frame="base_link"))
    with pytest.raises(ValueError, match="not finite"):        # a hostile /tf_static: refused, nothing changes
        pipe.set_floor_mount(float("nan"), 0.0, 0.0)
    assert pipe.floor is None
    with pytest.raises(ValueError, match="above the floor"):
        from pose_estimation_ros.perception.floor import floor_from_mount
        floor_from_mount(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="needs body_scale floor"):
        PerceptionPipeline(PerceptionConfig(per_frame_model=str(model), temporal_model="none", crop="full")
                           ).set_floor_mount(1.2, 0.0, 0.0)


def test_floor_from_the_controllers_camera_mounts():
    """The zones files' mounts: the mobile base's camera 1.2 m up and level, the arm cell's 1.7 m up, 25 deg down;
    the CLI prints them as perception parameters; a camera below the floor is refused."""
    import yaml

    from pose_estimation_ros.perception.floor import floor_from_mount
    from pose_estimation_ros.safety import camera_to_base, config_from_yaml
    from pose_estimation_ros.stack import config_dir
    from pose_estimation_ros.tools.floor_params import params_text

    base = config_from_yaml(config_dir() / "zones_mobile_base.yaml")
    got = floor_from_mount(camera_to_base(base.camera_xyz, base.camera_rpy))
    assert got == pytest.approx({"camera_height": 1.2, "camera_pitch_deg": 0.0, "camera_roll_deg": 0.0}, abs=1e-5)
    arm = config_from_yaml(config_dir() / "zones_arm.yaml")
    got = floor_from_mount(camera_to_base(arm.camera_xyz, arm.camera_rpy))
    assert got == pytest.approx({"camera_height": 1.7, "camera_pitch_deg": 25.0, "camera_roll_deg": 0.0}, abs=1e-5)
    assert floor_from_mount(camera_to_base(arm.camera_xyz, arm.camera_rpy), floor_z=0.7)["camera_height"] == \
        pytest.approx(1.0)
    text = yaml.safe_load(params_text(arm.camera_xyz, arm.camera_rpy))
    assert text == {"body_scale": "floor", "floor.camera_height": 1.7, "floor.camera_pitch_deg": 25.0,
                    "floor.camera_roll_deg": 0.0}
    with pytest.raises(ValueError, match="above the floor"):
        floor_from_mount(camera_to_base((0.0, 0.0, 0.5), (0.0, 0.0, 0.0)), floor_z=1.0)


def test_floor_parameters_follow_the_controllers_config_dir(tmp_path):
    """The launch file's body_scale:=floor reads the controller's mount: the packaged config (mobile base, 1.2 m,
    level), and a config dir whose controller.yaml points at the arm zones and overrides the camera height."""
    import shutil

    from pose_estimation_ros.stack import config_dir
    from pose_estimation_ros.tools.floor_params import floor_parameters

    got = floor_parameters(config_dir())
    assert got["body_scale"] == "floor"
    assert (got["floor.camera_height"], got["floor.camera_pitch_deg"]) == pytest.approx((1.2, 0.0), abs=1e-5)
    for f in ("controller.yaml", "zones_arm.yaml"):
        shutil.copy(config_dir() / f, tmp_path / f)
    text = (tmp_path / "controller.yaml").read_text().replace("zones_file: zones_mobile_base.yaml",
                                                              "zones_file: zones_arm.yaml")
    (tmp_path / "controller.yaml").write_text(text)
    got = floor_parameters(tmp_path)
    assert (got["floor.camera_height"], got["floor.camera_pitch_deg"]) == pytest.approx((1.7, 25.0), abs=1e-5)
    (tmp_path / "controller.yaml").write_text(text.replace("    zones_file:", "    camera_xyz: [1.8, 0.0, 2.2]\n"
                                                                               "    zones_file:"))
    assert floor_parameters(tmp_path)["floor.camera_height"] == pytest.approx(2.2)
