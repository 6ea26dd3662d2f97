"""AMASS / point-sequence importers, the motion dataset (splits, windows) and the mocap CLI.

All inputs are generated in tmp_path (no shared data needed).
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from pose_estimation_ros import skeleton
from training.body.base import SkeletonBody
from training.data.amass import SMPL_TEMPLATE_PELVIS, Z_UP_TO_Y_UP, import_amass
from training.data.dataset import MotionWindowDataset, load_motion_dir, split_sequences
from training.data.motion import MotionSequence
from training.data.points import import_points, read_c3d, read_points_csv
from training.geometry.rotations import axis_angle_to_rotmat, rot6d_to_rotmat

NAMES = skeleton.JOINT_NAMES


# ----------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------


def smooth_pose(t: int, fps: float, seed: int = 0, amp: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Smooth axis-angle poses (T, 24, 3) and a walking root (T, 3), y-up metres."""
    rng = np.random.default_rng(seed)
    tt = np.arange(t)[:, None, None] / fps
    aa = amp * rng.uniform(-1, 1, (24, 3)) * np.sin(2 * np.pi * rng.uniform(0.3, 1.2, (24, 3)) * tt
                                                    + rng.uniform(0, 6, (24, 3)))
    aa[:, 0, 1] += 0.8 * tt[:, 0, 0]                                    # turning
    root = np.stack([0.6 * tt[:, 0, 0], 0.95 + 0.02 * np.sin(5 * tt[:, 0, 0]), 0.2 * tt[:, 0, 0]], -1)
    return aa, root


def skeleton_joints(aa: np.ndarray, root: np.ndarray, shape=None) -> np.ndarray:
    rot = axis_angle_to_rotmat(torch.as_tensor(aa, dtype=torch.float64))
    body = SkeletonBody().double()
    t = aa.shape[0]
    sh = torch.zeros(t, 10, dtype=torch.float64) if shape is None else torch.as_tensor(shape, dtype=torch.float64).expand(t, -1)
    return body.joints(rot, sh, torch.as_tensor(root, dtype=torch.float64)).numpy()


def make_seq(subject: str, sequence: str, t: int = 40, fps: float = 30.0, seed: int = 0) -> MotionSequence:
    aa, root = smooth_pose(t, fps, seed)
    rot = axis_angle_to_rotmat(torch.as_tensor(aa)).numpy().astype(np.float32)
    return MotionSequence(rot, root.astype(np.float32), np.zeros(10, np.float32), "skeleton", fps, subject, sequence)


def write_amass(path: Path, t: int = 40, fps: float = 60.0, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    aa, _ = smooth_pose(t, fps, seed, amp=0.3)
    poses = np.zeros((t, 156))
    poses[:, :66] = aa[:, :22].reshape(t, 66)
    poses[:, 66:] = 0.2 * rng.standard_normal((1, 90))
    poses[:, :3] = 0.0
    poses[:, 0] = np.pi / 2                                  # AMASS: z-up world, body standing up
    trans = np.stack([0.5 * np.arange(t) / fps, 0.1 * np.ones(t), 0.95 + 0.01 * np.sin(np.arange(t) / 5)], -1)
    d = dict(poses=poses, trans=trans, betas=rng.standard_normal(16) * 0.5, mocap_framerate=np.float64(fps),
             gender=np.array("male"))
    np.savez(path, **d)
    return d


class FakeSMPL(SkeletonBody):
    """Stands in for the SMPL backend (no model file in tests): name 'smpl', model pelvis buffers."""

    name = "smpl"

    def __init__(self):
        super().__init__(num_shape=10)
        jt = torch.zeros(24, 3)
        jt[0] = torch.tensor([0.01, -0.2, 0.03])
        jd = torch.zeros(10, 72)
        jd[0, 1] = 0.1                                       # beta_0 moves the pelvis up 0.1 m / unit
        self.register_buffer("j_template", jt, persistent=False)
        self.register_buffer("j_shapedirs", jd, persistent=False)


# ----------------------------------------------------------------------------------------------------
# AMASS
# ----------------------------------------------------------------------------------------------------


def test_amass_direct_for_smpl(tmp_path):
    d = write_amass(tmp_path / "01_01_poses.npz")
    ms = import_amass(tmp_path / "01_01_poses.npz", body=FakeSMPL(), fps=30)
    assert ms.body_model == "smpl" and ms.extra["conversion"] == "direct"
    assert ms.fps == 30 and ms.num_frames == 20
    np.testing.assert_allclose(ms.shape, d["betas"][:10], atol=1e-6)
    aa = d["poses"][::2].reshape(20, 52, 3)
    rot = axis_angle_to_rotmat(torch.as_tensor(aa)).numpy()
    np.testing.assert_allclose(ms.rotmats[:, 1:22], rot[:, 1:22], atol=1e-5)
    np.testing.assert_allclose(ms.rotmats[:, 0], Z_UP_TO_Y_UP @ rot[:, 0], atol=1e-5)
    np.testing.assert_allclose(ms.rotmats[:, 22:], np.broadcast_to(np.eye(3), (20, 2, 3, 3)), atol=1e-6)
    # body standing: root rotation (90 deg about x in z-up) becomes ~identity in y-up
    np.testing.assert_allclose(ms.rotmats[0, 0], np.eye(3), atol=1e-5)
    j0 = np.array([0.01, -0.2 + 0.1 * d["betas"][0], 0.03])
    np.testing.assert_allclose(ms.transl, (d["trans"][::2] + j0) @ Z_UP_TO_Y_UP.T, atol=1e-5)
    # SMPL adds the template pelvis J0 unrotated: its z (0.03) lifts the pelvis, its y (-0.2) shifts it sideways
    assert ms.transl[0, 1] == pytest.approx(0.95 + 0.03, abs=1e-4)


def test_amass_skeleton_without_smpl_and_knuckles(tmp_path, monkeypatch):
    monkeypatch.delenv("SMPL_MODEL_PATH", raising=False)
    d = write_amass(tmp_path / "a.npz", t=30, fps=120.0)
    ms = import_amass(tmp_path / "a.npz", fps=30, hands="knuckles")
    assert ms.body_model == "skeleton" and ms.extra["conversion"] == "template-rotations"
    assert ms.num_frames == 8 and ms.fit_error_mm is None
    np.testing.assert_allclose(ms.transl, (d["trans"][::4] + SMPL_TEMPLATE_PELVIS) @ Z_UP_TO_Y_UP.T, atol=1e-5)
    r = ms.rotmats[:, 22]
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-5)
    assert np.abs(r - np.eye(3)).max() > 1e-3                 # knuckle mean, not identity


def test_amass_converted_by_fitting(tmp_path):
    """Non-SMPL body: SMPL-joint positions (here from a stand-in position model) -> the fitter."""
    d = write_amass(tmp_path / "b.npz", t=24, fps=30.0)
    ms = import_amass(tmp_path / "b.npz", body=SkeletonBody(), position_body=SkeletonBody(), fps=None, iters=150)
    assert ms.extra["conversion"] == "fit" and ms.fps == 30 and ms.num_frames == 24
    fit = ms.extra["fit"]
    assert fit.mean_mm < 3.0, fit.summary()
    # the stand-in received the betas as its shape: the fit recovers the first two (scale) components
    np.testing.assert_allclose(ms.shape[:2], d["betas"][:2], atol=0.3)


def test_amass_to_anny(tmp_path, monkeypatch):
    pytest.importorskip("anny")
    from training.body.registry import make_body_model
    monkeypatch.delenv("SMPL_MODEL_PATH", raising=False)
    write_amass(tmp_path / "c.npz", t=12, fps=30.0)
    body = make_body_model("anny")
    ms = import_amass(tmp_path / "c.npz", body=body, fps=None, iters=80)
    fit = ms.extra["fit"]
    print("AMASS -> anny:", fit.summary(), "shape", np.round(ms.shape, 2))
    assert ms.body_model == "anny" and ms.shape.shape == (body.num_shape,)
    assert ms.extra["conversion"] == "fit-to-template"
    assert np.isfinite(ms.rotmats).all() and fit.mean_mm < 60.0


def test_amass_rejects_bad_files(tmp_path):
    np.savez(tmp_path / "x.npz", poses=np.zeros((3, 156)), trans=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="frame rate"):
        import_amass(tmp_path / "x.npz")
    np.savez(tmp_path / "y.npz", foo=np.zeros(3))
    with pytest.raises(ValueError, match="not an AMASS"):
        import_amass(tmp_path / "y.npz")


# ----------------------------------------------------------------------------------------------------
# point sequences
# ----------------------------------------------------------------------------------------------------


def test_points_csv_mm_zup_fuzzy_names(tmp_path):
    t, fps = 30, 50.0
    aa, root = smooth_pose(t, fps, 3)
    shape = np.array([2.0, -1.0] + [0] * 8)
    pos = skeleton_joints(aa, root, shape)                         # y-up metres
    z_up = np.stack([pos[..., 0], -pos[..., 2], pos[..., 1]], -1) * 1000.0   # -> z-up millimetres
    names = [n.replace("_", " ").title() for n in NAMES]         # "Left Knee", ...
    header = ["frame", "time"] + [f"{n}_{a}" for n in names for a in "XYZ"]
    lines = [",".join(header)]
    for k in range(t):
        vals = [str(k), f"{k / fps:.5f}"] + [f"{v:.3f}" for v in z_up[k].reshape(-1)]
        lines.append(",".join(vals))
    # a gap: the left wrist missing in 3 frames
    cells = lines[10].split(",")
    i = header.index("Left Wrist_X")
    cells[i:i + 3] = ["", "", ""]
    lines[10] = ",".join(cells)
    (tmp_path / "pts.csv").write_text("\n".join(lines) + "\n")
    p, n, f = read_points_csv(tmp_path / "pts.csv")
    assert p.shape == (t, 24, 3) and f == pytest.approx(fps) and np.isnan(p[9, n.index("Left Wrist")]).all()
    ms = import_points(tmp_path / "pts.csv", fps=25, iters=150)
    fit = ms.extra["fit"]
    print("csv:", fit.summary())
    assert ms.extra["units_m"] == 0.001 and ms.extra["up"] == "z" and ms.extra["joint_map"] == "canonical"
    assert ms.fps == 25 and ms.num_frames == 15
    assert fit.mean_mm < 3.0, fit.summary()
    np.testing.assert_allclose(ms.shape[:2], shape[:2], atol=0.3)
    np.testing.assert_allclose(ms.transl, root[::2], atol=0.005)


def test_points_npz_cmu_names(tmp_path):
    """Points named like the CMU BVH joints go through the same CMU joint map."""
    from training.data.retarget import JOINT_MAPS
    aa, root = smooth_pose(20, 30.0, 4)
    pos = skeleton_joints(aa, root)
    # single-name CMU entries only; blends (spine, neck, head) need their source points, give those too
    cmu = JOINT_MAPS["cmu"]
    names, cols = [], []
    for j, n in enumerate(NAMES):
        e = cmu.entries.get(n)
        if isinstance(e, str):
            names.append(e)
            cols.append(pos[:, j])
        elif isinstance(e, tuple):
            names.append(e[0])
            cols.append(pos[:, j])
    # blends: put every blend source at the canonical joint it feeds (exact for the canonical target)
    extra = {"Hips": 0, "Chest": 3, "Chest2": 9, "Neck": 12, "Head": 15, "Head_End": 15}
    for src, j in extra.items():
        if src not in names:
            names.append(src)
            cols.append(pos[:, j])
    np.savez(tmp_path / "pts.npz", positions=np.stack(cols, 1) / (0.0254 / 0.45), names=np.array(names), fps=30.0)
    ms = import_points(tmp_path / "pts.npz", fps=None, units="cmu", up="y", iters=100)
    assert ms.extra["joint_map"] == "cmu" and ms.num_frames == 20
    assert ms.extra["fit"].mean_mm < 40.0


def _c3d_bytes(pos_mm: np.ndarray, labels: list[str], rate: float) -> bytes:
    """A minimal Intel float C3D (header, one parameter block, float point data)."""
    t, n, _ = pos_mm.shape
    hdr = bytearray(512)
    hdr[0], hdr[1] = 2, 0x50
    struct.pack_into("<hhhhh", hdr, 2, n, 0, 1, t, 0)
    struct.pack_into("<f", hdr, 12, -0.1)
    struct.pack_into("<hh", hdr, 16, 3, 0)
    struct.pack_into("<f", hdr, 20, rate)
    prm = bytearray([1, 0x50, 1, 84])

    def group(name: str, gid: int) -> bytes:
        return struct.pack("<bb", len(name), -gid) + name.encode() + struct.pack("<h", 3) + b"\x00"

    def param(name: str, gid: int, dtype: int, dims: list[int], data: bytes) -> bytes:
        body = struct.pack("<bB", dtype, len(dims)) + bytes(dims) + data + b"\x00"
        return struct.pack("<bb", len(name), gid) + name.encode() + struct.pack("<h", 2 + len(body)) + body

    w = max(len(s) for s in labels)
    prm += group("POINT", 1)
    prm += param("USED", 1, 2, [], struct.pack("<h", n))
    prm += param("RATE", 1, 4, [], struct.pack("<f", rate))
    prm += param("SCALE", 1, 4, [], struct.pack("<f", -0.1))
    prm += param("UNITS", 1, -1, [2], b"mm")
    prm += param("LABELS", 1, -1, [w, n], b"".join(s.ljust(w).encode() for s in labels))
    prm += b"\x00\x00"
    prm += bytes(512 - len(prm))
    data = np.zeros((t, n, 4), np.float32)
    data[..., :3] = pos_mm
    data[0, 1, 3] = -1.0                                        # sample (frame 0, point 1) missing
    return bytes(hdr) + bytes(prm) + data.astype("<f4").tobytes()


def test_c3d_reader_and_import(tmp_path):
    aa, root = smooth_pose(16, 100.0, 5)
    pos = skeleton_joints(aa, root) * 1000.0
    (tmp_path / "s.c3d").write_bytes(_c3d_bytes(pos, list(NAMES), 100.0))
    p, labels, rate, units = read_c3d(tmp_path / "s.c3d")
    assert labels == list(NAMES) and rate == pytest.approx(100.0) and units == "mm"
    assert np.isnan(p[0, 1]).all()
    np.testing.assert_allclose(p[1:], pos[1:], atol=1e-3)
    ms = import_points(tmp_path / "s.c3d", fps=50, iters=100)
    assert ms.extra["units_m"] == 0.001 and ms.extra["up"] == "y" and ms.num_frames == 8
    assert ms.extra["fit"].mean_mm < 5.0


def test_points_unknown_names_error(tmp_path):
    np.savez(tmp_path / "m.npz", positions=np.zeros((3, 2, 3)), names=np.array(["LASI", "RASI"]), fps=100.0)
    from training.data.retarget import JointMapError
    with pytest.raises(JointMapError, match="left_knee"):
        import_points(tmp_path / "m.npz")


# ----------------------------------------------------------------------------------------------------
# dataset
# ----------------------------------------------------------------------------------------------------


def test_load_motion_dir_skips_other_npz(tmp_path):
    make_seq("01", "01_01").save(tmp_path / "01" / "01_01.npz")
    make_seq("02", "02_01", t=10).save(tmp_path / "02" / "02_01.npz")
    np.savez(tmp_path / "02" / "raw_amass.npz", poses=np.zeros((2, 156)))
    seqs = load_motion_dir(tmp_path)
    assert [s.sequence for s in seqs] == ["01_01", "02_01"]
    with pytest.raises(FileNotFoundError):
        load_motion_dir(tmp_path / "nope")


def test_split_by_subject_is_disjoint_and_deterministic():
    seqs = [make_seq(f"{s:02d}", f"{s:02d}_{k:02d}", t=5) for s in range(10) for k in range(3)]
    tr, va, te = split_sequences(seqs, val=0.2, test=0.1, seed=3)
    subj = [{s.subject for s in x} for x in (tr, va, te)]
    assert len(subj[1]) == 2 and len(subj[2]) == 1 and len(subj[0]) == 7
    assert not (subj[0] & subj[1]) and not (subj[0] & subj[2]) and not (subj[1] & subj[2])
    assert len(tr) + len(va) + len(te) == 30
    again = split_sequences(list(reversed(seqs)), val=0.2, test=0.1, seed=3)
    assert [{s.subject for s in x} for x in again] == subj
    other = split_sequences(seqs, val=0.2, test=0.1, seed=4)
    assert [{s.subject for s in x} for x in other] != subj or True     # seeds may coincide; no error


def test_split_falls_back_to_sequences():
    seqs = [make_seq("131", f"131_0{k}", t=5) for k in range(1, 6)]
    with pytest.warns(UserWarning, match="by sequence"):
        tr, va, te = split_sequences(seqs, val=0.2, test=0.2)
    assert (len(tr), len(va), len(te)) == (3, 1, 1)
    tr, va, te = split_sequences(seqs, val=0.2, test=0.0, by="sequence")
    assert (len(tr), len(va), len(te)) == (4, 1, 0)
    with pytest.raises(ValueError):
        split_sequences(seqs[:1], val=0.5, test=0.0, by="sequence")
    with pytest.raises(ValueError):
        split_sequences(seqs, val=0.6, test=0.5)


def test_window_dataset_items_and_loader():
    seqs = [make_seq("01", "01_01", t=40), make_seq("02", "02_01", t=20, seed=1), make_seq("03", "03_01", t=10)]
    ds = MotionWindowDataset(seqs, window=16, stride=4)
    assert ds.skipped == ["03_01"]
    assert len(ds) == (40 - 16) // 4 + 1 + (20 - 16) // 4 + 1
    item = ds[0]
    assert set(item) == {"rotmats", "pose6d", "transl", "shape", "subject", "sequence"}
    assert item["rotmats"].shape == (16, 24, 3, 3) and item["rotmats"].dtype == torch.float32
    assert item["pose6d"].shape == (16, 24, 6) and item["transl"].shape == (16, 3) and item["shape"].shape == (10,)
    assert item["subject"] == "01" and item["sequence"] == "01_01"
    torch.testing.assert_close(rot6d_to_rotmat(item["pose6d"]), item["rotmats"], atol=1e-5, rtol=0)
    last = ds[len(ds) - 1]
    torch.testing.assert_close(last["rotmats"], torch.as_tensor(seqs[1].rotmats[4:20]))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False)))
    assert batch["pose6d"].shape == (4, 16, 24, 6) and len(batch["subject"]) == 4


def test_window_dataset_resamples_and_rejects_mixed_bodies():
    seqs = [make_seq("01", "01_01", t=61, fps=60.0)]
    ds = MotionWindowDataset(seqs, window=8, stride=8, fps=30)
    assert ds.sequences[0].fps == 30 and ds.sequences[0].num_frames == 31 and len(ds) == 3
    other = make_seq("02", "02_01")
    other.shape = np.zeros(6, np.float32)
    with pytest.raises(ValueError, match="mixed body"):
        MotionWindowDataset(seqs + [other], window=8)


# ----------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------


def test_cli_import_inspect_render(tmp_path, capsys):
    from training import mocap_cli
    from training.data.bvh import write_bvh
    src = tmp_path / "src"
    src.mkdir()
    # a canonical-skeleton BVH (cm) and an AMASS file
    aa, root = smooth_pose(24, 60.0, 6)
    rot = axis_angle_to_rotmat(torch.as_tensor(aa)).numpy()
    import roma
    eul = np.degrees(roma.rotmat_to_euler("ZYX", torch.as_tensor(rot)).numpy())   # intrinsic, as BVH (checked by the fit error)
    write_bvh(src / "12_01.bvh", list(NAMES), list(skeleton.PARENTS), skeleton.rest_offsets() * 100, root * 100,
              eul, 1 / 60.0)
    write_amass(src / "12_02_poses.npz", t=24, fps=60.0)
    out = tmp_path / "out"
    rc = mocap_cli.main(["import-mocap", str(src), "--out", str(out), "--fps", "30", "--iters", "60",
                         "--joint-map", "canonical", "--units", "cm"])
    txt = capsys.readouterr().out
    assert rc == 0, txt
    assert "12_01.bvh" in txt and "mean_mm" in txt and "2 imported (0 kept from before, 0 with warnings, 0 failed)" in txt
    assert (out / "12" / "12_01.npz").is_file() and (out / "import_summary.json").is_file()
    assert any(out.rglob("12_02.npz")) or any(out.rglob("*12_02*.npz"))
    ms = MotionSequence.load(out / "12" / "12_01.npz")
    assert ms.fps == 30 and np.nanmean(ms.fit_error_mm) < 5.0     # the written Euler angles are right
    rc = mocap_cli.main(["inspect-mocap", str(out)])
    txt = capsys.readouterr().out
    assert rc == 0 and "total" in txt and "12" in txt
    gif = tmp_path / "p.gif"
    assert mocap_cli.main(["render-skeleton", str(out / "12" / "12_01.npz"), "--out", str(gif), "--size", "96"]) == 0
    from PIL import Image
    with Image.open(gif) as im:
        assert im.n_frames == ms.num_frames and im.size == (96, 96)
    mp4 = tmp_path / "p.mp4"
    assert mocap_cli.main(["render-skeleton", str(out / "12" / "12_01.npz"), "--out", str(mp4), "--size", "96"]) == 0
    import cv2
    cap = cv2.VideoCapture(str(mp4))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == ms.num_frames
    cap.release()
