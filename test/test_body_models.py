"""Body models (training/body): FK on hand-computed poses, rotation round trips, the SMPL backend on a
synthetic SMPL-format file, the Anny backend and its canonical mapping, ONNX vs torch for joints."""
from __future__ import annotations

import math

import pytest
import roma
import torch

from fixtures.synthetic_smpl import FACE_VERTICES, SCALE_PER_BETA0
from pose_estimation_ros import skeleton
from training.body import BodyOutput, SkeletonBody, forward_kinematics, make_body_model
from training.body.keypoints import COCO17_NAMES, body_keypoints, coco17_from_joints
from training.geometry.rotations import (axis_angle_to_rotmat, rot6d_to_rotmat, rotation_about_axis,
                                         rotmat_to_axis_angle, rotmat_to_rot6d)

J = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
REST = torch.tensor(skeleton.REST_JOINTS, dtype=torch.float32)


def identity(b: int = 1) -> torch.Tensor:
    return torch.eye(3).repeat(b, skeleton.NUM_JOINTS, 1, 1)


def random_pose(b: int, scale: float = 0.5, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return axis_angle_to_rotmat(scale * torch.randn(b, skeleton.NUM_JOINTS, 3, generator=g))


def elbow_pose(deg: float = 90.0) -> torch.Tensor:
    r = identity()
    r[0, J["left_elbow"]] = rotation_about_axis("y", deg)
    return r


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / torch.linalg.vector_norm(v, dim=-1, keepdim=True)


# --------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def smpl_body(smpl_dir):
    return make_body_model("smpl", model_path=smpl_dir)


@pytest.fixture(scope="session")
def anny_body():
    pytest.importorskip("anny")
    return make_body_model("anny")          # ~1 s with Anny's on-disk cache, ~30-50 s the first time


# ------------------------------------------------------------------------ rotation representations
def test_rotation_round_trips():
    r = roma.random_rotmat(200, generator=torch.Generator().manual_seed(0)).float()
    torch.testing.assert_close(rot6d_to_rotmat(rotmat_to_rot6d(r)), r, atol=1e-6, rtol=0)
    torch.testing.assert_close(axis_angle_to_rotmat(rotmat_to_axis_angle(r)), r, atol=1e-5, rtol=0)
    aa = roma.rotmat_to_rotvec(r)
    torch.testing.assert_close(rotmat_to_axis_angle(axis_angle_to_rotmat(aa)), aa, atol=1e-4, rtol=0)
    q = roma.rotmat_to_unitquat(r)
    torch.testing.assert_close(roma.unitquat_to_rotmat(q), r, atol=1e-6, rtol=0)
    # 6D of a non-orthonormal input decodes to a rotation whose first column is along a1
    x = torch.randn(50, 6)
    m = rot6d_to_rotmat(x)
    torch.testing.assert_close(m @ m.transpose(-1, -2), torch.eye(3).expand(50, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(m[..., :, 0], unit(x[:, :3]), atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.linalg.det(m), torch.ones(50), atol=1e-5, rtol=0)
    # 6D layout = first two columns
    torch.testing.assert_close(rotmat_to_rot6d(rotation_about_axis("z", 90)),
                               torch.tensor([0.0, 1.0, 0.0, -1.0, 0.0, 0.0]), atol=1e-7, rtol=0)


def test_swing_rotation():
    from training.body.anny_body import swing_rotation
    a, b = torch.randn(100, 3, dtype=torch.float64), torch.randn(100, 3, dtype=torch.float64)
    keep = (unit(a) * unit(b)).sum(-1) > -0.9
    a, b = a[keep], b[keep]
    r = swing_rotation(a, b)
    torch.testing.assert_close((r @ unit(a)[..., None])[..., 0], unit(b))
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand_as(r))
    # minimal: the axis is a x b, the angle the angle between them
    ang = torch.linalg.vector_norm(roma.rotmat_to_rotvec(r), dim=-1)
    torch.testing.assert_close(ang, torch.arccos((unit(a) * unit(b)).sum(-1).clamp(-1, 1)))


# ------------------------------------------------------------------ FK on hand-computed positions
def fk_bodies(request):
    if request.param == "skeleton":
        return make_body_model("skeleton"), 10
    body = request.getfixturevalue("smpl_body")
    return body, body.num_shape


@pytest.fixture(params=["skeleton", "smpl"])
def template_body(request):
    """Bodies whose rest skeleton is exactly REST_JOINTS at zero shape (the synthetic SMPL is)."""
    return fk_bodies(request)


def test_t_pose_gives_rest_joints(template_body):
    body, ns = template_body
    out = body(identity(2), torch.zeros(2, ns))
    assert isinstance(out, BodyOutput) and out.joints.shape == (2, 24, 3)
    torch.testing.assert_close(out.joints, REST.expand(2, 24, 3), atol=1e-6, rtol=0)
    torch.testing.assert_close(body.rest_joints(torch.zeros(1, ns))[0], REST, atol=1e-6, rtol=0)
    t = torch.tensor([[0.5, 1.0, 2.0]])
    torch.testing.assert_close(body.joints(identity(), torch.zeros(1, ns), t)[0], REST + t, atol=1e-6, rtol=0)


def test_left_elbow_90_degrees(template_body):
    body, ns = template_body
    joints = body.joints(elbow_pose(90), torch.zeros(1, ns))[0]
    # forearm (+x) turns to -z: wrist offset (0.25, 0.01, 0) -> (0, 0.01, -0.25),
    # hand offset (0.08, -0.01, -0.01) -> (-0.01, -0.01, -0.08)
    torch.testing.assert_close(joints[J["left_wrist"]], torch.tensor([0.43, 0.44, -0.28]), atol=1e-6, rtol=0)
    torch.testing.assert_close(joints[J["left_hand"]], torch.tensor([0.42, 0.43, -0.36]), atol=1e-6, rtol=0)
    others = [j for j in range(24) if j not in (J["left_wrist"], J["left_hand"])]
    torch.testing.assert_close(joints[others], REST[others], atol=1e-6, rtol=0)


def test_global_orientation_rotates_about_pelvis(template_body):
    body, ns = template_body
    r = identity()
    r[0, 0] = rotation_about_axis("y", 180)
    joints = body.joints(r, torch.zeros(1, ns))[0]
    torch.testing.assert_close(joints, REST * torch.tensor([-1.0, 1.0, -1.0]), atol=1e-6, rtol=0)


def test_forward_kinematics_matches_skeleton_fk():
    body = SkeletonBody()
    rot, betas = random_pose(4, seed=3), torch.randn(4, 10)
    ref = body.joints(rot, betas)
    torch.testing.assert_close(forward_kinematics(rot, body.rest_joints(betas)), ref, atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------------------- SMPL
def test_smpl_on_synthetic_file(smpl_body):
    body = smpl_body
    assert body.name == "smpl" and body.num_shape == 10
    # beta0 scales the synthetic body about the pelvis
    beta = torch.zeros(1, 10)
    beta[0, 0] = 1.0
    torch.testing.assert_close(body.rest_joints(beta)[0], REST * (1 + SCALE_PER_BETA0), atol=1e-6, rtol=0)
    # FK path == smplx's own lbs joints (pelvis-relative), random poses and shapes, with transl
    rot, betas, t = random_pose(3, seed=1), 0.5 * torch.randn(3, 10), torch.randn(3, 3)
    out = body(rot, betas, t, with_mesh=True)
    torch.testing.assert_close(out.joints, body.joints(rot, betas, t), atol=1e-5, rtol=0)
    assert out.vertices.shape == (3, 6890, 3) and out.faces.shape == (13776, 3) and out.uvs is None
    assert out.faces.dtype == torch.int64
    # mesh: J_regressor on the posed mesh gives the FK joints (one-hot regressor on rigid joint vertices)
    torch.testing.assert_close(body_keypoints(body, out, "canonical24"), out.joints, atol=1e-5, rtol=0)
    coco = body_keypoints(body, out, "coco17")
    assert coco.shape == (3, 17, 3)
    torch.testing.assert_close(coco[:, 5:], out.joints[:, [J[n] for n in COCO17_NAMES[5:]]], atol=1e-5, rtol=0)
    # at rest the nose is where the file put it, relative to the pelvis
    rest = body(identity(), torch.zeros(1, 10), with_mesh=True)
    nose = REST[J["head"]] + torch.tensor(FACE_VERTICES["nose"][1], dtype=torch.float32)
    torch.testing.assert_close(body_keypoints(body, rest, "coco17")[0, 0], nose, atol=1e-6, rtol=0)
    # skinning-ready: exact at rest, up to the (synthetic, small) pose blend shapes when posed
    for o, tol in ((rest, 1e-5), (out, 5e-3)):
        rv = torch.cat([o.rest_vertices, torch.ones_like(o.rest_vertices[..., :1])], -1)
        lbs = torch.einsum("vk,bkij,bvj->bvi", o.skin_weights, o.bone_transforms, rv)[..., :3]
        assert (lbs - o.vertices).abs().max() < tol


def test_smpl_gradients(smpl_body):
    rot = random_pose(2, seed=2).requires_grad_(True)
    betas = torch.zeros(2, 10, requires_grad=True)
    smpl_body.joints(rot, betas).square().sum().backward()
    assert torch.isfinite(rot.grad).all() and rot.grad.abs().sum() > 0
    assert torch.isfinite(betas.grad).all() and betas.grad.abs().sum() > 0


def test_registry_errors(monkeypatch, tmp_path, smpl_dir):
    monkeypatch.delenv("SMPL_MODEL_PATH", raising=False)
    with pytest.raises(ValueError, match="SMPL_MODEL_PATH"):
        make_body_model("smpl")
    with pytest.raises(FileNotFoundError):
        make_body_model("smpl", model_path=tmp_path / "missing.pkl")
    with pytest.raises(FileNotFoundError, match="SMPL_FEMALE.pkl"):
        make_body_model("smpl", model_path=smpl_dir, gender="female")
    with pytest.raises(ValueError, match="unknown body model"):
        make_body_model("star")
    with pytest.raises(ValueError, match="bad arguments"):
        make_body_model("skeleton", nonsense=1)
    monkeypatch.setenv("SMPL_MODEL_PATH", str(smpl_dir / "SMPL_NEUTRAL.pkl"))
    assert make_body_model("smpl").name == "smpl"
    assert make_body_model("skeleton").name == "skeleton"


def test_skeleton_keypoints_without_mesh():
    body = make_body_model("skeleton")
    out = body(identity(), torch.zeros(1, 10))
    assert body_keypoints(body, out, "canonical24") is out.joints
    with pytest.raises(ValueError, match="coco17"):
        body_keypoints(body, out, "coco17")
    kp, valid = coco17_from_joints(out.joints)
    assert kp.shape == (1, 17, 3) and valid.sum() == 12
    torch.testing.assert_close(kp[0, COCO17_NAMES.index("left_elbow")], REST[J["left_elbow"]])


# ----------------------------------------------------------------------------------------- Anny
def test_anny_rest_heads_match_anny(anny_body):
    m = anny_body.anny
    ph = torch.rand(4, 6, generator=torch.Generator().manual_seed(0))
    ph[0] = 0.0
    ph[1] = 1.0
    with torch.no_grad():
        ref = m(phenotype_kwargs=ph.to(m.dtype))["rest_bone_heads"][:, anny_body.bone_indices]
        ref = (ref - ref[:, :1]) @ anny_body.to_canonical.T
        torch.testing.assert_close(anny_body.rest_heads(ph), ref, atol=2e-6, rtol=0)


def test_anny_a_pose_maps_to_canonical_t_pose(anny_body):
    from training.body.anny_body import rest_arm_angle_deg
    shape = torch.zeros(1, 6)
    heads = anny_body.anny_rest_heads(shape)
    angle = rest_arm_angle_deg(heads)
    assert 35.0 < angle < 60.0, angle                      # Anny's rest is an A-pose
    rest = anny_body.rest_joints(shape)
    torch.testing.assert_close(rest[0, 0], torch.zeros(3))
    for a, b in (("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"), ("left_wrist", "left_hand"),
                 ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("right_wrist", "right_hand")):
        seg = rest[0, J[b]] - rest[0, J[a]]
        torch.testing.assert_close(unit(seg), unit(REST[J[b]] - REST[J[a]]), atol=1e-5, rtol=0)
        # lengths are Anny's
        torch.testing.assert_close(torch.linalg.vector_norm(seg),
                                   torch.linalg.vector_norm(heads[0, J[b]] - heads[0, J[a]]), atol=1e-6, rtol=0)
    # legs / spine / collars keep Anny's rest directions; identity rotations give the rest joints
    for j in ("left_knee", "left_ankle", "spine2", "neck", "left_collar", "left_shoulder"):
        torch.testing.assert_close(rest[0, J[j]], heads[0, J[j]], atol=1e-6, rtol=0)
    torch.testing.assert_close(anny_body.joints(identity(), shape), rest, atol=1e-6, rtol=0)
    # the full alignment option puts every aligned segment on the template directions
    from training.body.anny_body import ALIGN_CHILD, AnnyBody
    full = AnnyBody(anny_model=anny_body.anny, aligned_joints="all").rest_joints(shape)[0]
    for pn, cn in ALIGN_CHILD.items():
        torch.testing.assert_close(unit(full[J[cn]] - full[J[pn]]), unit(REST[J[cn]] - REST[J[pn]]),
                                   atol=1e-5, rtol=0)


def test_anny_fk_matches_anny_own_kinematics(anny_body):
    rot, shape = random_pose(3, seed=4), 0.3 * torch.randn(3, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        heads = anny_body.posed_bone_heads(rot, shape)          # through Anny's own FK (world-orient)
        torch.testing.assert_close(anny_body.joints(rot, shape), heads, atol=1e-5, rtol=0)


def test_anny_elbow_90_bends_like_skeleton(anny_body):
    skel = SkeletonBody()
    shape = torch.zeros(1, 6)
    with torch.no_grad():
        rest = anny_body(identity(), shape, with_mesh=True)
        out = anny_body(elbow_pose(90), shape, with_mesh=True)
        sk = skel.joints(elbow_pose(90), torch.zeros(1, 10))[0]
    j = out.joints[0]
    e, w, h, s = J["left_elbow"], J["left_wrist"], J["left_hand"], J["left_shoulder"]
    torch.testing.assert_close(unit(j[w] - j[e]), unit(sk[w] - sk[e]), atol=1e-5, rtol=0)
    torch.testing.assert_close(unit(j[w] - j[e]), torch.tensor([0.0, 0.04, -1.0]) / math.sqrt(1 + 0.04 ** 2),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(unit(j[h] - j[w]), unit(sk[h] - sk[w]), atol=1e-5, rtol=0)
    torch.testing.assert_close(j[[s, e]], rest.joints[0, [s, e]], atol=1e-6, rtol=0)
    # the mesh follows: COCO wrist keypoint (from Anny's regressor on the skinned mesh) at the wrist joint
    for o in (rest, out):
        kp = body_keypoints(anny_body, o, "coco17")[0]
        assert torch.linalg.vector_norm(kp[COCO17_NAMES.index("left_wrist")] - o.joints[0, w]) < 0.03
        assert torch.linalg.vector_norm(kp[COCO17_NAMES.index("left_elbow")] - o.joints[0, e]) < 0.03
    # only the left forearm/hand region moved
    moved = (out.vertices - rest.vertices).norm(dim=-1)[0] > 1e-4
    assert 0 < moved.float().mean() < 0.2
    assert out.vertices[0, moved, 0].min() > 0.3             # all on the left arm (x > 0.3 m)


def test_anny_mesh_outputs(anny_body):
    rot, shape, t = random_pose(2, seed=5), torch.zeros(2, 6), torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 2.0]])
    with torch.no_grad():
        out = anny_body(rot, shape, t, with_mesh=True)
    v = out.vertices.shape[1]
    assert out.vertices.shape == (2, v, 3) and v > 10000 and torch.isfinite(out.vertices).all()
    assert out.faces.dtype == torch.int64 and out.faces.shape[1] == 3 and int(out.faces.max()) < v
    assert out.uvs.shape == (out.faces.shape[0], 3, 2)
    torch.testing.assert_close(out.joints, anny_body.joints(rot, shape, t), atol=1e-5, rtol=0)
    rv = torch.cat([out.rest_vertices, torch.ones_like(out.rest_vertices[..., :1])], -1)
    lbs = torch.einsum("vk,bkij,bvj->bvi", out.skin_weights, out.bone_transforms, rv)[..., :3]
    torch.testing.assert_close(lbs, out.vertices, atol=1e-5, rtol=0)
    # T-pose mesh: arms horizontal, body upright, facing +z (nose in front of the head joint)
    with torch.no_grad():
        tp = anny_body(identity(), torch.zeros(1, 6), with_mesh=True)
    ext = tp.vertices[0].amax(0) - tp.vertices[0].amin(0)
    assert ext[0] > 1.5 and 1.5 < ext[1] < 2.1 and ext[2] < 0.5
    nose = body_keypoints(anny_body, tp, "coco17")[0, 0]
    assert nose[2] > tp.joints[0, J["head"], 2] + 0.05


def test_anny_shape_and_gradients(anny_body):
    assert anny_body.num_shape == 6
    taller = anny_body.shape_from_phenotype(height=0.9)
    base = anny_body.rest_joints(torch.zeros(1, 6))[0]
    assert anny_body.rest_joints(taller)[0, J["head"], 1] > base[J["head"], 1] + 0.05
    torch.testing.assert_close(anny_body.phenotype(torch.zeros(1, 6))[0], anny_body.neutral)
    r64, s64 = random_pose(2, seed=6).double(), torch.full((2, 6), 0.1, dtype=torch.float64)
    j64 = anny_body.joints(r64, s64)
    assert j64.dtype == torch.float64
    torch.testing.assert_close(j64.float(), anny_body.joints(r64.float(), s64.float()), atol=1e-5, rtol=0)
    rot = random_pose(2, seed=6).requires_grad_(True)
    shape = torch.zeros(2, 6, requires_grad=True)
    anny_body.joints(rot, shape).square().sum().backward()
    assert torch.isfinite(rot.grad).all() and rot.grad.abs().sum() > 0
    assert torch.isfinite(shape.grad).all() and shape.grad.abs().sum() > 0
    rot.grad = None
    shape.grad = None
    anny_body(rot, shape, with_mesh=True).vertices.square().sum().backward()
    assert torch.isfinite(rot.grad).all() and rot.grad.abs().sum() > 0
    assert torch.isfinite(shape.grad).all() and shape.grad.abs().sum() > 0


def test_default_body_model_is_anny():
    from training.body.registry import DEFAULT_BODY_MODEL
    assert DEFAULT_BODY_MODEL == "anny"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda(anny_body, smpl_body):
    for body, ns in ((anny_body, 6), (smpl_body, 10)):
        body.cuda()
        try:
            rot, shape = random_pose(2).cuda(), torch.zeros(2, ns, device="cuda")
            out = body(rot, shape, with_mesh=True)
            assert out.vertices.is_cuda and out.joints.is_cuda
            torch.testing.assert_close(out.joints.cpu(), body.cpu().joints(rot.cpu(), shape.cpu()), atol=1e-4, rtol=0)
        finally:
            body.cpu()


# ------------------------------------------------------------------------------------------- ONNX
@pytest.mark.parametrize("name,rotation", [("skeleton", "rotmat"), ("smpl", "rotmat"), ("anny", "rotmat"),
                                           ("anny", "rot6d")])
def test_joints_onnx_matches_torch(name, rotation, tmp_path, request):
    pytest.importorskip("onnxruntime")
    import onnx
    from training.body.export_joints import compare_joints_onnx, export_joints_onnx
    body = {"skeleton": lambda: make_body_model("skeleton"),
            "smpl": lambda: request.getfixturevalue("smpl_body"),
            "anny": lambda: request.getfixturevalue("anny_body")}[name]()
    path = export_joints_onnx(body, tmp_path / f"{name}.onnx", rotation=rotation)
    names = [i.name for i in onnx.load(str(path)).graph.input]
    assert names == ["rotmats" if rotation == "rotmat" else "pose6d", "shape", "transl"]
    diff = compare_joints_onnx(body, path, rotation=rotation, batch=5)   # exported with batch 2
    assert diff < 1e-5, diff
