"""Real-dataset loaders (SPIN/EFT npz, COCO keypoint JSON, 3DPW pickles) on tiny files written here."""
from __future__ import annotations

import json
import pickle

import cv2
import numpy as np
import pytest
import torch

from pose_estimation_ros import skeleton
from training.data.real import RealCropDataset, RealDataError, concat_annotations, load_real
from training.data.real.joint_maps import SPIN24_NAMES

J = skeleton.JOINT_NAMES.index


def _image(path, w=64, h=48):
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (0, 0, 255)          # BGR red on the left half
    cv2.imwrite(str(path), img)


def _spin_npz(tmp_path, drop=None, n=2):
    _image(tmp_path / "a.jpg")
    part = np.zeros((n, 24, 3), np.float32)
    part[:, SPIN24_NAMES.index("l_wrist")] = (10.0, 20.0, 1.0)
    part[:, SPIN24_NAMES.index("head_top")] = (30.0, 5.0, 1.0)      # no canonical joint: dropped
    s = np.zeros((n, 24, 4), np.float32)
    s[:, SPIN24_NAMES.index("r_knee")] = (0.1, 0.4, 0.05, 1.0)
    pose = np.zeros((n, 72), np.float32)
    pose[:, 0] = np.pi                                             # 180 deg about x
    data = {"imgname": np.array(["a.jpg"] * n), "center": np.full((n, 2), 32.0, np.float32),
            "scale": np.full(n, 0.2, np.float32), "part": part, "S": s, "pose": pose,
            "shape": np.zeros((n, 10), np.float32), "has_smpl": np.array([1, 0][:n])}
    if drop:
        del data[drop]
    np.savez(tmp_path / "d.npz", **data)
    return tmp_path / "d.npz"


def test_spin_npz_reads_labels_in_canonical_order(tmp_path):
    ann = load_real(None, _spin_npz(tmp_path))
    assert len(ann) == 2 and ann.image_paths[0] == str(tmp_path / "a.jpg")
    np.testing.assert_allclose(ann.box_size, [40.0, 40.0])        # scale * 200
    np.testing.assert_allclose(ann.kp2d[0, J("left_wrist")], [10.0, 20.0])
    assert ann.kp2d_vis[0].sum() == 1.0                            # head_top is not a canonical joint
    np.testing.assert_allclose(ann.joints3d[0, J("right_knee")], [0.1, 0.4, 0.05])
    assert ann.has_3d.tolist() == [True, True] and ann.has_pose.tolist() == [True, False]
    np.testing.assert_allclose(ann.rotmats[0, 0], np.diag([1.0, -1.0, -1.0]), atol=1e-6)


@pytest.mark.parametrize("key", ["imgname", "center", "scale", "part"])
def test_spin_npz_missing_key_names_key_and_file(tmp_path, key):
    path = _spin_npz(tmp_path, drop=key)
    with pytest.raises(RealDataError, match=rf"d\.npz: missing key '{key}'"):
        load_real("spin_npz", path)


def _coco(tmp_path, drop=None):
    _image(tmp_path / "p.jpg")
    kp = np.zeros((17, 3))
    kp[5:, :2] = np.arange(24).reshape(12, 2) + 10                  # 12 body keypoints labelled
    kp[5:, 2] = 2
    ann = {"image_id": 7, "keypoints": kp.reshape(-1).tolist(), "bbox": [10, 8, 20, 30], "iscrowd": 0}
    crowd = dict(ann, iscrowd=1)
    few = dict(ann, keypoints=np.zeros(51).tolist())
    data = {"images": [{"id": 7, "file_name": "p.jpg"}], "annotations": [ann, crowd, few]}
    if drop:
        del data["annotations"][0][drop]
    (tmp_path / "k.json").write_text(json.dumps(data))
    return tmp_path / "k.json"


def test_coco_reads_body_keypoints_and_skips_crowds(tmp_path):
    ann = load_real(None, _coco(tmp_path))
    assert len(ann) == 1                                           # crowd and empty skipped
    np.testing.assert_allclose(ann.center[0], [20.0, 23.0])
    np.testing.assert_allclose(ann.box_size[0], 36.0)              # 1.2 * max(20, 30)
    np.testing.assert_allclose(ann.kp2d[0, J("left_shoulder")], [10.0, 11.0])
    np.testing.assert_allclose(ann.kp2d[0, J("right_ankle")], [32.0, 33.0])
    assert ann.kp2d_vis[0].sum() == 12 and ann.coco17.shape == (1, 17, 3)
    assert ann.joints3d is None and ann.rotmats is None


def test_coco_missing_key(tmp_path):
    with pytest.raises(RealDataError, match=r"k\.json annotations\[0\]: missing key 'keypoints'"):
        load_real("coco", _coco(tmp_path, drop="keypoints"))


def _pw3d(tmp_path, drop=None):
    seq_dir = tmp_path / "sequenceFiles" / "test"
    seq_dir.mkdir(parents=True)
    (tmp_path / "imageFiles" / "s1").mkdir(parents=True)
    f = 3
    joints = np.tile(np.asarray(skeleton.REST_JOINTS)[None] * np.array([1, -1, 1]), (f, 1, 1))  # y down
    cam = np.tile(np.eye(4), (f, 1, 1))
    cam[:, 2, 3] = 4.0                                             # 4 m in front of the camera
    data = {"sequence": "s1", "img_frame_ids": np.arange(f), "cam_intrinsics": np.array(
        [[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]]), "cam_poses": cam, "poses": [np.zeros((f, 72))],
        "betas": [np.zeros(10)], "jointPositions": [joints.reshape(f, 72)],
        "campose_valid": [np.array([1, 0, 1])], "trans": [np.zeros((f, 3))]}
    if drop:
        del data[drop]
    with open(seq_dir / "s1.pkl", "wb") as fh:
        pickle.dump(data, fh, protocol=2)
    return seq_dir


def test_3dpw_camera_frame_joints_and_projection(tmp_path):
    ann = load_real(None, _pw3d(tmp_path))
    assert len(ann) == 2                                           # frame 1 not camera-valid
    assert ann.image_paths[1] == str(tmp_path / "imageFiles" / "s1" / "image_00002.jpg")
    j = ann.joints3d[0, J("head")]
    assert j[2] == pytest.approx(4.0 + skeleton.REST_JOINTS[J("head")][2], abs=1e-5)
    # Hand-computed pinhole projection of the head.
    np.testing.assert_allclose(ann.kp2d[0, J("head")], [320 + 500 * j[0] / j[2], 240 + 500 * j[1] / j[2]], rtol=1e-5)
    assert ann.has_3d.all() and ann.has_pose.all() and ann.betas.shape == (2, 10)


def test_3dpw_missing_key(tmp_path):
    with pytest.raises(RealDataError, match=r"s1\.pkl: missing key 'cam_poses'"):
        load_real("3dpw", _pw3d(tmp_path, drop="cam_poses"))


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="unknown real dataset format 'h36m'"):
        load_real("h36m", tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_real("spin_npz", tmp_path / "x.npz")


def test_crops_keypoints_follow_the_image_and_flip(tmp_path):
    ann = concat_annotations([load_real(None, _spin_npz(tmp_path)), load_real(None, _coco(tmp_path))])
    assert len(ann) == 3 and ann.has_3d.tolist() == [True, True, False]
    ds = RealCropDataset(ann, size=80)
    s = ds[0]                                                     # box 40 px around (32, 32) -> x2 scale
    assert s["image"].shape == (80, 80, 3) and s["image"].dtype == torch.uint8
    np.testing.assert_allclose(s["joints2d"][J("left_wrist")].numpy(), [(10 - 12) * 2, (20 - 12) * 2])
    assert s["visibility"][J("left_wrist")] == 0.0                 # x < 0: left the crop
    assert s["image"][40, 10, 0] > 200 and s["image"][40, 70, 0] < 50    # red half on the left (RGB; JPEG)
    flipped = RealCropDataset(ann, size=80, flip_prob=1.0)[0]
    assert flipped["image"][40, 70, 0] > 200
    np.testing.assert_allclose(flipped["joints2d"][J("right_wrist")].numpy(), [80 + 4, 16])
    np.testing.assert_allclose(flipped["joints3d"][J("left_knee")].numpy(), [-0.1, 0.4, 0.05], atol=1e-6)
