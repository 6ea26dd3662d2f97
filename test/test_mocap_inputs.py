"""Mocap import: ASF/AMC reader (hand-computed FK), user joint maps from YAML/JSON, bad input with clear
errors (truncated BVH, AMC without its ASF, a map naming missing joints), and the import CLI never
overwriting silently (same subject/sequence from two folders, reruns)."""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from pose_estimation_ros import skeleton
from training import mocap_cli
from training.data.asf_amc import AsfAmcError, find_asf, parse_amc, parse_asf, read_asf_amc
from training.data.bvh import parse_bvh, read_bvh, write_bvh
from training.data.joint_maps import JointMapError, load_joint_map_file, resolve_joint_map
from training.data.motion import MotionSequence
from training.data.retarget import retarget_bvh

pytestmark = pytest.mark.usefixtures("torch_one_thread")

NAMES = skeleton.JOINT_NAMES

ASF = """# tiny test skeleton
:version 1.10
:name TEST
:units
  mass 1.0
  length 1.0
  angle deg
:root
   order TX TY TZ RX RY RZ
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name upper
     direction 0 1 0
     length 2
     axis 0 0 90 XYZ
    dof rx ry rz
  end
  begin
     id 2
     name lower
     direction 1 0 0
     length 1
     axis 0 0 0 XYZ
    dof rz
  end
:hierarchy
  begin
    root upper
    upper lower
  end
"""

AMC = """:FULLY-SPECIFIED
:DEGREES
1
root 1 2 3 0 0 0
upper 0 0 0
lower 0
2
root 1 2 3 0 90 0
upper 90 0 0
lower 90
"""


def test_asf_amc_forward_kinematics_by_hand(tmp_path):
    """Frame 1 is the rest pose; frame 2: root yaw 90 deg about y, upper rx 90 in its axis frame
    (C = Rz(90): rx about the bone's own x = world y), lower rz 90."""
    (tmp_path / "7.asf").write_text(ASF)
    (tmp_path / "7_01.amc").write_text(AMC)
    anim = read_asf_amc(tmp_path / "7_01.amc", fps=60)
    assert anim.names == ["root", "upper", "lower", "lower_End"] and anim.parents == [-1, 0, 1, 2]
    pos, rot = anim.forward_kinematics()
    # rest: root at (1,2,3); upper starts there, ends 2 up; lower ends 1 to +x
    np.testing.assert_allclose(pos[0], [[1, 2, 3], [1, 2, 3], [1, 4, 3], [2, 4, 3]], atol=1e-9)
    # frame 2: G_root = Ry(90) (x -> -z); upper: L = C Rx(90) C^-1 = rotation 90 deg about world y (C maps x to y)
    # G_upper = Ry(180): the up direction stays up; lower: rz 90 (axis 0): G = Ry(180) Rz(90): x -> y -> y
    np.testing.assert_allclose(pos[1, 2], [1, 4, 3], atol=1e-9)
    ry180_rz90 = np.array([[-1, 0, 0], [0, 1, 0], [0, 0, -1]]) @ np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(pos[1, 3], np.array([1, 4, 3]) + ry180_rz90 @ [1, 0, 0], atol=1e-9)
    np.testing.assert_allclose(rot[1, 2], ry180_rz90, atol=1e-9)
    assert anim.fps == 60


def test_amc_without_asf_and_mismatched_files_are_clear_errors(tmp_path):
    (tmp_path / "7_01.amc").write_text(AMC)
    with pytest.raises(AsfAmcError, match="without its ASF skeleton.*7.asf"):
        read_asf_amc(tmp_path / "7_01.amc")
    asf = parse_asf(ASF, "7.asf")
    with pytest.raises(AsfAmcError, match="'elbow' is not in the ASF"):
        parse_amc(AMC.replace("lower 0", "elbow 0"), asf, "x.amc")
    with pytest.raises(AsfAmcError, match="2 values.*1 dof"):
        parse_amc(AMC.replace("lower 90", "lower 90 5"), asf, "x.amc")
    with pytest.raises(AsfAmcError, match="frame 2 lacks bone 'lower'.*truncated"):
        parse_amc(AMC.rsplit("lower", 1)[0], asf, "x.amc")
    with pytest.raises(AsfAmcError, match="no :hierarchy"):
        parse_asf(ASF.split(":hierarchy")[0], "bad.asf")
    # the CLI reports it per file and keeps going (exit 2)
    out = tmp_path / "out"
    rc = mocap_cli.main(["import-mocap", str(tmp_path / "7_01.amc"), "--out", str(out)])
    assert rc == 2 and "without its ASF" in json.loads((out / "import_summary.json").read_text())["failed"][0][1]
    (tmp_path / "7.asf").write_text(ASF)
    assert find_asf(tmp_path / "7_01.amc") == tmp_path / "7.asf"


def _canonical_bvh(path: Path, frames: int = 12, names=None, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 30.0
    euler = 15 * np.sin(2 * np.pi * rng.uniform(0.3, 1, (24, 3)) * t[:, None, None] + rng.uniform(0, 6, (24, 3)))
    root = np.stack([0.3 * t, 0.95 + 0 * t, 0 * t], -1)
    return write_bvh(path, list(names or NAMES), list(skeleton.PARENTS), skeleton.rest_offsets() * 100, root * 100,
                     euler, 1 / 30.0)


def test_truncated_bvh_is_a_clear_error(tmp_path):
    p = _canonical_bvh(tmp_path / "1_01.bvh")
    text = p.read_text()
    with pytest.raises(ValueError, match="truncated"):
        parse_bvh(text[: int(len(text) * 0.8)], "cut.bvh")             # cut inside the motion rows
    with pytest.raises(ValueError, match="truncated"):
        parse_bvh(text[: text.index("MOTION") - 40], "cut.bvh")        # cut inside the hierarchy
    with pytest.raises(ValueError, match="truncated"):
        parse_bvh(text[: text.index("Frame Time")], "cut.bvh")          # cut in the MOTION header


def test_user_joint_map_from_yaml_and_json(tmp_path):
    names = [f"bone{i}" for i in range(24)]
    p = _canonical_bvh(tmp_path / "2_01.bvh", names=names)
    ymap = tmp_path / "rig.yaml"
    ymap.write_text("name: bones\nunits: cm\nrest_convention: false\njoints:\n"
                    + "".join(f"  {n}: bone{i}\n" for i, n in enumerate(NAMES)))
    m = load_joint_map_file(ymap)
    assert m.name == "bones" and m.units == 0.01 and m.explicit and not m.rest_convention
    out = tmp_path / "out"
    rc = mocap_cli.main(["import-mocap", str(p), "--out", str(out), "--joint-map", str(ymap), "--iters", "60"])
    row = json.loads((out / "import_summary.json").read_text())["files"][0]
    assert rc == 0 and row["joint_map"] == "bones" and row["mean_mm"] < 5.0
    # a map naming joints the file does not have: JointMapError naming them, CLI exit 2 with the reason
    jmap = tmp_path / "typo.json"
    jmap.write_text(json.dumps({**{n: f"bone{i}" for i, n in enumerate(NAMES)}, "left_knee": "bone99",
                                "head": ["boneX", "boneY"]}))
    with pytest.raises(JointMapError, match=r"left_knee -> bone99.*head -> boneX, boneY"):
        resolve_joint_map(names, load_joint_map_file(jmap), source="2_01.bvh")
    rc = mocap_cli.main(["import-mocap", str(p), "--out", str(tmp_path / "o2"), "--joint-map", str(jmap)])
    failed = json.loads((tmp_path / "o2" / "import_summary.json").read_text())["failed"]
    assert rc == 2 and "bone99" in failed[0][1]
    with pytest.raises(JointMapError, match="not canonical joint names"):
        resolve_joint_map(names, {"left_kneee": "bone4"})
    with pytest.raises(SystemExit, match="no such joint map file"):
        mocap_cli.main(["import-mocap", str(p), "--out", str(out), "--joint-map", str(tmp_path / "none.yaml")])
    with pytest.raises(SystemExit, match="not a built-in map"):
        mocap_cli.main(["import-mocap", str(p), "--out", str(out), "--joint-map", "cmu_typo"])


def test_same_name_from_two_folders_never_overwrites(tmp_path, capsys):
    for d, seed in (("a", 0), ("b", 1)):
        (tmp_path / d).mkdir()
        _canonical_bvh(tmp_path / d / "3_01.bvh", seed=seed)
    out = tmp_path / "out"
    args = ["import-mocap", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--joint-map", "canonical",
            "--units", "cm", "--iters", "40"]
    assert mocap_cli.main(args) == 0
    txt = capsys.readouterr().out
    files = sorted(p.name for p in (out / "03").glob("*.npz"))
    assert files == ["3_01.npz", "3_01__b.npz"] or files == ["03_01.npz", "03_01__b.npz"], files
    assert "same subject/sequence" in txt and "1 with warnings" in txt
    first = {p.name: MotionSequence.load(p).rotmats.copy() for p in (out / "03").glob("*.npz")}
    assert not np.allclose(*first.values())                        # two different clips, both kept
    # rerun: both outputs are kept as they are (resumable), nothing refitted
    assert mocap_cli.main(args) == 0
    txt = capsys.readouterr().out
    assert "2 imported (2 kept from before" in txt
    # another source with the same name in a later run: refused, the existing file untouched
    (tmp_path / "c").mkdir()
    _canonical_bvh(tmp_path / "c" / "3_01.bvh", seed=2)
    rc = mocap_cli.main(["import-mocap", str(tmp_path / "c"), "--out", str(out), "--joint-map", "canonical",
                         "--units", "cm", "--iters", "40"])
    txt = capsys.readouterr().out
    assert rc == 2 and "exists and comes from another source" in txt
    for name, rot in first.items():
        np.testing.assert_array_equal(MotionSequence.load(out / "03" / name).rotmats, rot)
    splits = json.loads((out / "splits.json").read_text())
    assert splits["by"] == "subject" and splits["train"] == ["03"]
