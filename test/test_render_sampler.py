"""Renderer samples: camera ranges, upper-body rate, the sample contract, determinism, splits,
bad input, shards, re-rendered fits, sequences (training/render)."""
import json
import math

import numpy as np
import pytest

from render_helpers import K_of, project, require_render_stack, standing

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def r():
    return require_render_stack()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A texture folder and a background folder (small generated JPEGs, one unreadable file, crops)."""
    import cv2
    root = tmp_path_factory.mktemp("render_data")
    rng = np.random.default_rng(0)
    tex, bg = root / "textures", root / "backgrounds"
    tex.mkdir()
    bg.mkdir()
    for i in range(6):
        cv2.imwrite(str(tex / f"fabric_t{i}.jpg"), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    rows = ["file,crop_of,scene"]
    for i in range(8):
        cv2.imwrite(str(bg / f"photo{i // 2}_c{i % 2}.jpg"), rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
        rows.append(f"photo{i // 2}_c{i % 2}.jpg,photo{i // 2},indoor")
    (bg / "manifest.csv").write_text("\n".join(rows) + "\n")
    (tex / "fabric_broken.jpg").write_bytes(b"not a jpeg")
    return tex, bg


@pytest.fixture(scope="module")
def gen(r, folders):
    from training.render.sampler import RenderConfig, SampleGenerator
    tex, bg = folders
    cfg = RenderConfig(size=96, random_poses=True, textures_dir=str(tex), backgrounds_dir=str(bg), split="all")
    with pytest.warns(RuntimeWarning, match="fabric_broken.jpg"):
        return SampleGenerator(cfg, seed=5, renderer=r)


def test_camera_angles_stay_in_range():
    from training.render.cameras import CAMERA_PRESETS, camera_angles, sample_camera
    rng = np.random.default_rng(0)
    target = np.array([0.0, 1.0, 0.0])
    for name, cc in CAMERA_PRESETS.items():
        yaws, pitches, rolls = [], [], []
        for _ in range(400):
            cam = sample_camera(cc, rng, target)
            y, p, ro = (math.degrees(a) for a in camera_angles(cam.R))
            assert math.isclose(((y - math.degrees(cam.yaw) + 180) % 360) - 180, 0, abs_tol=1e-6)
            assert math.isclose(p, math.degrees(cam.pitch), abs_tol=1e-6)
            assert math.isclose(ro, math.degrees(cam.roll), abs_tol=1e-6)
            assert cc.pitch_deg[0] - 1e-6 <= p <= cc.pitch_deg[1] + 1e-6
            assert cc.roll_deg[0] - 1e-6 <= ro <= cc.roll_deg[1] + 1e-6
            if cc.height_m is not None:
                assert cc.height_m[0] - 1e-9 <= cam.center[1] <= cc.height_m[1] + 1e-9
            yaws.append(y), pitches.append(p), rolls.append(ro)
        if name == "seed":   # the ranges are used, not just respected
            assert min(yaws) < -150 and max(yaws) > 150 and min(pitches) < -35 and max(pitches) > 35
            assert min(rolls) < -12 and max(rolls) > 12


def test_upper_body_crops_at_the_configured_rate():
    from training.render.sampler import RenderConfig, crop_box
    from pose_estimation_ros.skeleton import REST_JOINTS
    uv = REST_JOINTS[:, :2] * np.array([100.0, -100.0]) + 300.0          # an upright person in pixels
    for rate in (0.2, 0.5):
        cfg = RenderConfig(upper_body_rate=rate)
        rng = np.random.default_rng(1)
        cuts = [crop_box(rng, uv, cfg) for _ in range(2000)]
        frac = np.mean([c is not None for _, c in cuts])
        assert abs(frac - rate) < 0.05
        for box, cut in cuts[:200]:
            ankles_in = box[3] > uv[[7, 8], 1].max()
            assert ankles_in == (cut is None)                            # a cut crop ends above the ankles


def test_sample_contract_and_consistency(gen):
    s = gen.sample(3)
    shapes = {"image": (96, 96, 3), "joints2d": (24, 2), "coco2d": (17, 2), "visibility": (24,), "joints3d": (24, 3),
              "rotmats": (24, 3, 3), "shape": (6,), "transl": (3,), "K": (3, 3), "box": (4,), "mask": (96, 96)}
    for k, shp in shapes.items():
        assert s[k].shape == shp, k
    assert s["image"].dtype == np.uint8 and s["joints2d"].dtype == np.float32
    np.testing.assert_allclose(project(s["joints3d"].astype(np.float64), s["K"].astype(np.float64)), s["joints2d"],
                               atol=1e-2)
    import torch
    j = gen.body.joints(torch.as_tensor(s["rotmats"])[None], torch.as_tensor(s["shape"])[None],
                        torch.as_tensor(s["transl"])[None])[0].numpy()
    np.testing.assert_allclose(j, s["joints3d"], atol=2e-4)           # rotmats/transl are in the camera frame
    # The crop K is the full K mapped through the box.
    full = np.asarray(s["meta"]["camera"]["K"])
    x0, y0, x1, y1 = s["box"]
    sc = 96 / (x1 - x0)
    np.testing.assert_allclose(s["K"][0, 0], full[0, 0] * sc, rtol=1e-5)
    np.testing.assert_allclose(s["K"][0, 2], (full[0, 2] - x0) * sc, rtol=1e-4, atol=1e-3)
    assert s["meta"]["split"] == "all" and s["mask"].any()
    assert set(s["visibility"].tolist()) <= {0.0, 1.0} and s["visibility"].sum() >= 6


def test_deterministic_from_seed(gen, r):
    from training.render.sampler import SampleGenerator
    a, b = gen.sample(7), gen.sample(7)
    np.testing.assert_array_equal(a["image"], b["image"])
    other = SampleGenerator(gen.cfg, seed=5, renderer=r).sample(7)
    np.testing.assert_array_equal(a["image"], other["image"])
    np.testing.assert_array_equal(a["joints3d"], other["joints3d"])
    assert not np.array_equal(a["image"], gen.sample(8)["image"])


def test_split_by_source_photo(folders):
    from training.render.images import ImageLibrary
    _, bg = folders
    lib = ImageLibrary(bg, heldout_fraction=0.5, name="background")
    by_group: dict = {}
    for e in lib.entries:
        by_group.setdefault(e.group, set()).add(e.split)
    assert len(by_group) == 4 and all(len(v) == 1 for v in by_group.values())    # crops never split
    sp = lib.splits()
    assert sorted(sp["train"] + sp["heldout"]) == sorted(e.id for e in lib.entries)


def test_unreadable_texture_skipped_with_warning(folders, tmp_path):
    from training.render.images import ImageLibrary
    tex, _ = folders
    with pytest.warns(RuntimeWarning, match="skipping unreadable texture file .*fabric_broken.jpg"):
        lib = ImageLibrary(tex, name="texture")
    assert lib.skipped == ["fabric_broken.jpg"] and len(lib.entries) == 6
    for k in range(10):
        e, img = lib.sample(np.random.default_rng(k))
        assert img is not None and e.id != "fabric_broken.jpg"
    # Passing the header check but failing to decode later: skipped too, with a warning.
    lib.entries[0].path = tmp_path / "vanished.jpg"
    with pytest.warns(RuntimeWarning, match="vanished.jpg"):
        assert lib.load(lib.entries[0]) is None
    assert lib.entries[0].id not in [e.id for e in lib.select()]
    only_bad = tmp_path / "bad_only"
    only_bad.mkdir()
    (only_bad / "x.jpg").write_bytes(b"junk")
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="bad_only has no readable images"):
        ImageLibrary(only_bad, name="background")


def test_bad_input_fails_at_start(tmp_path, r):
    from training.render.body_mesh import BodyMesh
    from training.render.images import ImageLibrary
    from training.render.sampler import RenderConfig, SampleGenerator
    from training.body.base import BodyOutput, SkeletonBody
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty.*has no images"):
        ImageLibrary(tmp_path / "empty", name="background")
    with pytest.raises(ValueError, match="background folder .*nope does not exist"):
        SampleGenerator(RenderConfig(random_poses=True, backgrounds_dir=str(tmp_path / "nope")), renderer=r)
    with pytest.raises(ValueError, match="'skeleton' has no mesh"):
        BodyMesh(SkeletonBody())

    class NoUV(SkeletonBody):
        name = "no_uv_body"

        def forward(self, rotmats, shape, transl=None, with_mesh=False):
            import torch
            out = super().forward(rotmats, shape, transl)
            return BodyOutput(joints=out.joints, vertices=out.joints, faces=torch.tensor([[0, 1, 2]]), uvs=None,
                              skin_weights=torch.eye(24))

    with pytest.raises(ValueError, match="'no_uv_body' has no UV coordinates"):
        BodyMesh(NoUV())
    with pytest.raises(ValueError, match="upper_body_rate"):
        RenderConfig(upper_body_rate=1.5)
    with pytest.raises(ValueError, match="unknown camera preset 'drone'"):
        RenderConfig(camera="drone")


def test_missing_gl_stack_names_the_packages(monkeypatch):
    pytest.importorskip("moderngl", reason="the renderer needs moderngl (requirements/training.txt)")
    import ctypes.util
    from training.render import gl
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    with pytest.raises(gl.GLUnavailableError, match="libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libopengl0"):
        gl.create_context()


def test_gl_renderer_reported_and_software_refused_for_gpu_jobs(r):
    from training.render import gl
    info = gl.gl_info(r.ctx)
    assert info.renderer and info.version
    assert gl.is_software("llvmpipe (LLVM 15.0.6, 256 bits)") and not gl.is_software("NVIDIA H200/PCIe/SSE2")
    if info.software:
        with pytest.raises(gl.GLUnavailableError, match="software renderer 'llvmpipe"):
            gl.create_context(require_gpu=True)


def test_shards_roundtrip_and_cli(tmp_path, gen):
    from training.render.make_shards import main
    from training.render.shards import read_shards
    out = tmp_path / "shards"
    rc = main(["--out", str(out), "--num", "3", "--size", "64", "--random-poses", "--shard-size", "2",
               "--format", "png", "--seed", "2"])
    assert rc == 0
    info = json.loads((out / "dataset.json").read_text())
    assert info["num"] == 3 and info["shards"] == ["shard-000000.tar", "shard-000001.tar"]
    assert info["splits"]["textures"] == "procedural" and (out / "contact_sheet.png").is_file()
    samples = list(read_shards(out))
    assert [s["key"] for s in samples] == ["00000000", "00000001", "00000002"]
    from training.render.sampler import RenderConfig, SampleGenerator
    ref = SampleGenerator(RenderConfig(**info["config"]), seed=2, renderer=gen.renderer).sample(1)
    np.testing.assert_array_equal(samples[1]["image"], ref["image"])       # png: lossless, deterministic
    np.testing.assert_array_equal(samples[1]["joints2d"], ref["joints2d"])
    assert samples[1]["upper_body"] == ref["upper_body"] and samples[1]["meta"]["index"] == 1
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--num", "0"])          # argparse error: --num must be > 0


def test_refit_from_spin_style_fits(tmp_path, gen):
    from training.render.refit import RefitRenderer, load_fits
    import roma
    import torch
    rot = standing(0.0)
    pose = roma.rotmat_to_rotvec(torch.as_tensor(rot, dtype=torch.float64)).numpy().reshape(1, 72)
    f = tmp_path / "fits.npz"
    np.savez(f, pose=np.repeat(pose, 2, 0), betas=np.zeros((2, 10)), pred_cam=np.array([[0.9, 0.0, 0.1],
                                                                                         [0.7, 0.05, 0.0]]),
             imgname=np.array(["a.jpg", "b.jpg"]))
    fits = load_fits(f)
    np.testing.assert_allclose(fits["transl"][0], [0.0, 0.1, 2 * 5000 / (224 * 0.9)], rtol=1e-6)
    rr = RefitRenderer(gen, fits)
    s = rr.sample(0)
    assert s["image"].shape == (96, 96, 3) and s["meta"]["fit"] == "a.jpg"
    np.testing.assert_allclose(s["transl"], fits["transl"][0])
    uv = np.rint(s["joints2d"]).astype(int)
    for j in (0, 3, 6, 9, 12):
        assert s["mask"][uv[j, 1], uv[j, 0]], j
    assert not np.array_equal(rr.sample(0, variant=1)["image"], s["image"])  # new texture/background
    bad = tmp_path / "bad.npz"
    np.savez(bad, pose=np.zeros((1, 10)))
    with pytest.raises(ValueError, match="bad.npz.*'pose' must be"):
        load_fits(bad)


def test_sequence_written_with_ground_truth(tmp_path, gen):
    from training.render.cameras import camera_rotation
    from training.render.scenes import SceneRenderer, write_sequence
    T = 3
    rots = np.stack([standing(0.2 * k) for k in range(T)])
    rots[:, 0] = np.eye(3)                                                 # y-up world: facing +z
    pel = np.array([[0.0, 0.95, 3.0 - 0.2 * k] for k in range(T)])
    R = camera_rotation(math.pi, 0.0, 0.0)                                 # looking along -z at the person
    c = np.array([0.0, 1.2, 6.0])
    K = K_of(60, 70.0)
    K[0, 2] = 39.5
    seq = SceneRenderer(gen).sequence([(rots, pel)], lambda f: (R, -R @ c), 80, 60, K, np.random.default_rng(0))
    out = write_sequence(seq, tmp_path / "seq", fps=10, fmt="jpg")
    g = np.load(out / "ground_truth.npz")
    assert g["joints3d"].shape == (T, 1, 24, 3) and g["visibility"].shape == (T, 1, 24)
    assert len(list((out / "frames").glob("*.jpg"))) == T
    assert np.all(np.diff(g["joints3d"][:, 0, 0, 2]) > 0)                  # walks away from the camera
    assert json.loads((out / "meta.json").read_text())["frames"] == T


def test_batched_samples_equal_single_ones(gen):
    many = gen.sample_many([11, 12, 13])
    for k, i in enumerate((11, 12, 13)):
        one = gen.sample(i)
        # Equal up to the float rounding of a batched body-model call (edge pixels may move).
        np.testing.assert_allclose(many[k]["joints3d"], one["joints3d"], atol=1e-4)
        np.testing.assert_allclose(many[k]["joints2d"], one["joints2d"], atol=1e-2)
        assert np.abs(many[k]["image"].astype(int) - one["image"]).mean() < 3.0
        assert many[k]["meta"]["outfit"] == one["meta"]["outfit"] and many[k]["upper_body"] == one["upper_body"]


def test_motion_fitted_on_another_body_is_named_before_rendering(tmp_path, caplog):
    """Rotations fitted on the skeleton body put Anny's joints elsewhere than the mocap's (and differ from what the
    temporal model and the lifting table see): the renderer's pose source says so, naming the re-import."""
    import logging

    from training.data.motion import MotionSequence
    from training.render.poses import MotionPoses

    rot = np.tile(np.eye(3, dtype=np.float32), (12, 24, 1, 1))
    for body, shape in (("skeleton", 10), ("anny", 6)):
        folder = tmp_path / body
        MotionSequence(rot, np.zeros((12, 3), np.float32), np.zeros(shape, np.float32), body, 30.0, "77",
                       "77_01").save(folder / "77_01.npz")
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="training.render.poses"):
            MotionPoses(folder, "all", body="anny")
        named = [r.getMessage() for r in caplog.records if "fitted on the" in r.getMessage()]
        if body == "skeleton":
            assert named and "--body anny" in named[0] and "'anny'" in named[0]
        else:
            assert not named
