"""Tests of the training-side models: rotations, skeleton FK, SPIN-style regressor, PoseBERT, export."""
from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from pose_estimation_ros import skeleton
from pose_estimation_ros.perception import metadata as model_meta
from training import export
from training.body.skeleton_fk import SkeletonFK
from training.geometry.rotations import (
    axis_angle_to_rotmat,
    rot6d_to_rotmat,
    rotation_about_axis,
    rotmat_to_axis_angle,
    rotmat_to_rot6d,
)
from training.models.posebert import PoseBERT
from training.models.spin import MEAN_CAM, PerFrameRegressor, mean_pose6d

J = skeleton.JOINT_NAMES.index
REST = torch.as_tensor(skeleton.REST_JOINTS, dtype=torch.float32)


def _identity(*lead: int) -> torch.Tensor:
    return torch.eye(3).expand(*lead, skeleton.NUM_JOINTS, 3, 3).clone()


def _small_posebert(seed: int = 0) -> PoseBERT:
    torch.manual_seed(seed)
    model = PoseBERT(window=8, num_layers=2, dim=64, heads=4, ffn_dim=128).eval()
    torch.nn.init.normal_(model.regressor[-1].weight, std=0.02)  # make outputs input-sensitive
    return model


# --- rotations ------------------------------------------------------------------------------------

def test_rot6d_round_trip_and_convention():
    torch.manual_seed(0)
    rot = roma.random_rotmat(256)
    r6 = rotmat_to_rot6d(rot)
    assert r6.shape == (256, 6)
    # Layout: first two columns, [a1, a2].
    torch.testing.assert_close(r6[:, :3], rot[:, :, 0])
    torch.testing.assert_close(r6[:, 3:], rot[:, :, 1])
    torch.testing.assert_close(rot6d_to_rotmat(r6), rot, atol=1e-5, rtol=0)
    # Unnormalised 6D decodes like roma's Gram-Schmidt to a proper rotation.
    raw = torch.randn(64, 6)
    got = rot6d_to_rotmat(raw)
    ref = roma.special_gramschmidt(torch.stack((raw[:, :3], raw[:, 3:]), dim=-1))
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=0)
    assert roma.is_rotation_matrix(got, epsilon=1e-4)


def test_axis_angle_helpers():
    torch.manual_seed(1)
    rotvec = roma.random_rotvec(64)
    torch.testing.assert_close(rotmat_to_axis_angle(axis_angle_to_rotmat(rotvec)), rotvec, atol=1e-5, rtol=0)
    rz = rotation_about_axis("z", 90.0)
    torch.testing.assert_close(rz @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6, rtol=0)


# --- forward kinematics ---------------------------------------------------------------------------

def test_fk_identity_is_rest_pose_and_scales():
    fk = SkeletonFK()
    rot = _identity(3)
    betas = torch.zeros(3, 10)
    betas[1, 0] = 2.0   # overall scale 1.1
    betas[2, 1] = -4.0  # limb bones scale 0.8
    joints = fk(rot, betas)
    assert joints.shape == (3, 24, 3)
    torch.testing.assert_close(joints[0], REST, atol=1e-6, rtol=0)
    torch.testing.assert_close(joints[1], 1.1 * REST, atol=1e-6, rtol=0)
    # Limb scaling: torso unchanged, wrist = shoulder + 0.8 * (upper arm + forearm).
    for name in ("spine3", "neck", "head", "left_shoulder", "left_hip"):
        torch.testing.assert_close(joints[2, J(name)], REST[J(name)], atol=1e-6, rtol=0)
    sh, wr = REST[J("left_shoulder")], REST[J("left_wrist")]
    torch.testing.assert_close(joints[2, J("left_wrist")], sh + 0.8 * (wr - sh), atol=1e-6, rtol=0)
    # Global orientation rotates the whole (root-relative) body.
    r0 = rotation_about_axis("x", 180.0)
    rot[:, 0] = r0
    torch.testing.assert_close(fk(rot, torch.zeros(3, 10))[0], REST @ r0.T, atol=1e-6, rtol=0)


def test_fk_elbow_90_degrees_moves_wrist():
    fk = SkeletonFK()
    rot = _identity(1)
    rot[0, J("left_elbow")] = rotation_about_axis("z", 90.0)
    joints = fk(rot, torch.zeros(1, 10))[0]
    # Forearm offset (0.25, 0.01, 0) rotated 90 deg about z -> (-0.01, 0.25, 0), added to the elbow.
    torch.testing.assert_close(joints[J("left_wrist")], torch.tensor([0.42, 0.68, -0.03]), atol=1e-6, rtol=0)
    # Hand follows the wrist: offset (0.08, -0.01, -0.01) -> (0.01, 0.08, -0.01).
    torch.testing.assert_close(joints[J("left_hand")], torch.tensor([0.43, 0.76, -0.04]), atol=1e-6, rtol=0)
    # Elbow itself and the other arm do not move.
    torch.testing.assert_close(joints[J("left_elbow")], REST[J("left_elbow")], atol=1e-6, rtol=0)
    torch.testing.assert_close(joints[J("right_wrist")], REST[J("right_wrist")], atol=1e-6, rtol=0)


def test_fk_accepts_extra_leading_dims():
    fk = SkeletonFK()
    torch.manual_seed(2)
    rot = roma.random_rotmat(2 * 5 * 24).reshape(2, 5, 24, 3, 3)
    betas = torch.randn(2, 5, 10)
    joints = fk(rot, betas)
    assert joints.shape == (2, 5, 24, 3)
    torch.testing.assert_close(joints[1, 3], fk(rot[1, 3][None], betas[1, 3][None])[0])


# --- per-frame regressor --------------------------------------------------------------------------

def test_per_frame_shapes_and_upright_mean_pose():
    torch.manual_seed(0)
    model = PerFrameRegressor("resnet18").eval()
    model.zero_init_head()
    with torch.no_grad():
        pose6d, betas, cam, joints = model(torch.randn(2, 3, 64, 64))
    assert pose6d.shape == (2, 24, 6) and betas.shape == (2, 10)
    assert cam.shape == (2, 3) and joints.shape == (2, 24, 3)
    torch.testing.assert_close(pose6d, mean_pose6d().expand(2, -1, -1))
    torch.testing.assert_close(betas, torch.zeros(2, 10))
    torch.testing.assert_close(cam, torch.tensor([MEAN_CAM]).expand(2, -1))
    # y-down camera frame: head above the pelvis (smaller y), feet below (larger y), pelvis at origin.
    torch.testing.assert_close(joints[:, 0], torch.zeros(2, 3))
    assert torch.all(joints[:, J("head"), 1] < joints[:, 0, 1] - 0.3)
    assert torch.all(joints[:, J("left_foot"), 1] > 0.5)
    # The body's left stays at +x (rotation about x), its front now faces -z (towards the camera).
    assert torch.all(joints[:, J("left_wrist"), 0] > 0.5)


def test_per_frame_backbone_choice():
    with pytest.raises(ValueError):
        PerFrameRegressor("vgg16")
    assert PerFrameRegressor("resnet50", iterations=1).fc1.in_features == 2048 + 144 + 10 + 3


# --- PoseBERT -------------------------------------------------------------------------------------

def test_posebert_masked_frames_are_ignored():
    model = _small_posebert()
    pose, betas, valid = export.temporal_example_inputs(model, batch=2, seed=3)
    valid[:, 2] = False
    valid[:, 5] = True
    with torch.no_grad():
        ref = model(pose, betas, valid)
        assert ref[0].shape == (2, 8, 24, 6) and ref[1].shape == (2, 8, 24, 3)
        changed_invalid = pose.clone()
        changed_invalid[:, 2] += torch.randn(2, 24, 6)
        out = model(changed_invalid, betas, valid)
        for a, b in zip(ref, out):
            torch.testing.assert_close(a, b, atol=0, rtol=0)
        changed_valid = pose.clone()
        changed_valid[:, 5] += torch.randn(2, 24, 6)
        out = model(changed_valid, betas, valid)
    # A valid frame is attended to by every frame: all outputs move.
    diff = (out[0] - ref[0]).abs().amax(dim=(2, 3))  # (B, T)
    assert torch.all(diff > 1e-4), diff


def test_posebert_wrong_window_rejected():
    model = _small_posebert()
    with pytest.raises(ValueError):
        model(torch.zeros(1, 4, 24, 6), torch.zeros(1, 4, 10), torch.ones(1, 4, dtype=torch.bool))


# --- ONNX export ----------------------------------------------------------------------------------

def _assert_onnx_matches(model, path, inputs, names):
    diffs = export.compare_onnx(model, path, inputs, names)
    with torch.no_grad():
        scale = max(float(t.abs().max()) for t in model(*inputs.values()))
    for name, d in diffs.items():
        assert d <= 1e-4 * max(1.0, scale), (name, d)
    return diffs


@pytest.fixture(scope="module")
def per_frame_onnx(tmp_path_factory):
    """One untrained per-frame export (resnet18, 64 px, seed 0) with its metadata, for the tests below."""
    model = export.build_per_frame("resnet18", seed=0)
    with torch.no_grad():  # larger head weights so the outputs really depend on the image
        for layer in (model.dec_pose, model.dec_betas, model.dec_cam):
            torch.nn.init.normal_(layer.weight, std=0.02)
    path = export.export_per_frame(model, tmp_path_factory.mktemp("spin") / export.PER_FRAME_FILE, input_size=64)
    model_meta.write_metadata(path, export.per_frame_metadata(model, 64, export.DEFAULT_OPSET, seed=0))
    return model, path


def test_per_frame_onnx_matches_torch(per_frame_onnx):
    model, path = per_frame_onnx
    images = torch.randn(3, 3, 64, 64)  # batch 3 exercises the dynamic batch axis
    with torch.no_grad():
        pose6d = model(images)[0]
    assert pose6d.std(dim=0).mean() > 1e-2  # outputs vary with the input (comparison is meaningful)
    _assert_onnx_matches(model, path, {model_meta.PER_FRAME_INPUT: images}, model_meta.PER_FRAME_OUTPUTS)


def test_posebert_onnx_matches_torch(tmp_path):
    model = export.build_temporal(window=16, seed=0)  # default architecture
    with torch.no_grad():
        torch.nn.init.normal_(model.regressor[-1].weight, std=0.02)
    path = export.export_temporal(model, tmp_path / "posebert.onnx")
    for batch in (1, 2):
        inputs = dict(zip(model_meta.TEMPORAL_INPUTS, export.temporal_example_inputs(model, batch, seed=7)))
        _assert_onnx_matches(export.ReadoutJoints(model).eval(), path, inputs, model_meta.TEMPORAL_OUTPUTS)


def test_metadata_round_trip(tmp_path, per_frame_onnx):
    _, spin_path = per_frame_onnx
    meta = model_meta.load_metadata(spin_path)
    model_meta.check_metadata(meta, kind=model_meta.KIND_PER_FRAME, joint_names=skeleton.JOINT_NAMES,
                              input_size=(64, 64), source=str(spin_path))
    assert meta.trained is False and meta.training_data == "none: untrained weights (seed 0)"
    assert meta.architecture["backbone"] == "resnet18" and meta.architecture["iterations"] == 3
    assert meta.normalization == model_meta.Normalization() and meta.skeleton == "smpl24"

    bert = _small_posebert()
    bert_path = export.export_temporal(bert, tmp_path / export.TEMPORAL_FILE)
    model_meta.write_metadata(bert_path, export.temporal_metadata(bert, export.DEFAULT_OPSET, seed=0))
    meta = model_meta.load_metadata(bert_path)
    model_meta.check_metadata(meta, kind=model_meta.KIND_TEMPORAL, joint_names=skeleton.JOINT_NAMES,
                              window=8, source=str(bert_path))
    assert meta.architecture["L"] == 2 and meta.architecture["D"] == 64 and meta.architecture["heads"] == 4
    with pytest.raises(model_meta.ModelMetadataError):
        model_meta.check_metadata(meta, kind=model_meta.KIND_TEMPORAL, joint_names=skeleton.JOINT_NAMES,
                                  window=16)


def test_cli_exports_and_verifies(tmp_path, capsys):
    rc = export.main(["--out", str(tmp_path), "--input-size", "64", "--window", "8", "--seed", "1"])
    assert rc == 0
    text = capsys.readouterr().out
    assert text.count(" ok") == 6 and "FAIL" not in text
    for name, kind in ((export.PER_FRAME_FILE, model_meta.KIND_PER_FRAME),
                       (export.TEMPORAL_FILE, model_meta.KIND_TEMPORAL)):
        meta = model_meta.load_metadata(tmp_path / name)
        assert meta.kind == kind and meta.opset == 17
        assert meta.created_by.startswith("training.export torch ")
    assert model_meta.load_metadata(tmp_path / export.TEMPORAL_FILE).window == 8
    # Checkpoint path: a saved state dict round-trips into an identical export.
    ckpt = tmp_path / "bert.pt"
    torch.save(export.build_temporal(window=8, seed=5).state_dict(), ckpt)
    loaded = export.build_temporal(window=8, seed=0, ckpt=ckpt)
    ref = export.build_temporal(window=8, seed=5)
    for (k, a), (_, b) in zip(loaded.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(a, b), k
    assert export.temporal_metadata(loaded, 17, seed=0, ckpt=ckpt).trained is True
    np.testing.assert_equal(meta.joint_names, list(skeleton.JOINT_NAMES))
