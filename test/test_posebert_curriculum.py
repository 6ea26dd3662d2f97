"""PoseBERT retraining recipe: noise curriculum (clean to heavy), whole-body rotation and crouch
augmentation, splits from import-mocap, and the evaluation CLI from a checkout (ONNX-only default,
per-rig tables, errors naming the missing thing)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from pose_estimation_ros import skeleton
from pose_estimation_ros.perception import metadata as model_meta
from training import export
from training.body.skeleton_fk import SkeletonFK
from training.geometry.rotations import rotmat_to_rot6d
from training.models.posebert import PoseBERT
from training.posebert import evaluate
from training.posebert.config import CorruptionConfig, config_from_dict
from training.posebert.corruption import corrupt
from training.posebert.data import (MotionBank, crouch_offset, random_global_rotation, read_splits,
                                    synthetic_sequences)
from training.posebert.noise_model import GaussianNoise
from training.posebert.train import load_data, noise_scales, relative_window_weights, train, validation_score

pytestmark = pytest.mark.usefixtures("torch_one_thread")
I = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}


def _cfg(**corr):
    return config_from_dict({"corruption": {"noise_std_deg": 5.0, "noise_std_min_deg": 0.0, "noise_std_max_deg": 12.0,
                                            "curriculum_start_deg": 2.0, "curriculum_steps": 100, "clean_prob": 0.1,
                                            **corr}})


def test_noise_curriculum_goes_from_clean_to_heavy():
    g = torch.Generator().manual_seed(0)
    cfg = _cfg()
    first = noise_scales(cfg, 0, 20000, g) * 5.0            # std in degrees per window
    last = noise_scales(cfg, 100, 20000, g) * 5.0
    later = noise_scales(cfg, 5000, 20000, g) * 5.0
    assert 0.0 <= float(first.min()) and float(first.max()) <= 2.0 + 1e-6
    assert 11.5 < float(last.max()) <= 12.0 + 1e-6 and 11.5 < float(later.max()) <= 12.0 + 1e-6
    clean = float((last == 0).float().mean())
    assert abs(clean - 0.1) < 0.02                           # 10 % clean windows (U(0, 12) itself is never exactly 0)
    assert abs(float(last[last > 0].mean()) - 6.0) < 0.2    # U(0, 12) mean
    assert noise_scales(_cfg(curriculum_steps=0), 10, 4, g) is None
    assert noise_scales(_cfg(noise="none"), 10, 4, g) is None


def test_loguniform_noise_puts_as_many_windows_per_octave():
    """log-uniform(0.5, 12) deg: P(std < 2.45) = log(4.9) / log(24) = 0.50, each octave equally often
    (U(0, 12) puts 20 % below 2.4 deg), 20 % clean windows exactly 0."""
    g = torch.Generator().manual_seed(0)
    cfg = _cfg(noise_sampling="loguniform", noise_log_min_deg=0.5, clean_prob=0.2, curriculum_steps=1,
               curriculum_start_deg=12.0)
    std = noise_scales(cfg, 10, 40000, g) * 5.0
    assert abs(float((std == 0).float().mean()) - 0.2) < 0.01
    noisy = std[std > 0]
    assert 0.5 - 1e-5 <= float(noisy.min()) and float(noisy.max()) <= 12.0 + 1e-4
    assert abs(float((noisy < 2.449).float().mean()) - 0.5) < 0.01
    for lo in (0.5, 1.0, 2.0, 4.0):                           # octaves 0.5-1, 1-2, 2-4, 4-8: log(2)/log(24) each
        frac = float(((noisy >= lo) & (noisy < 2 * lo)).float().mean())
        assert abs(frac - math.log(2) / math.log(24)) < 0.01, (lo, frac)
    with pytest.raises(ValueError, match="noise_sampling"):
        noise_scales(_cfg(noise_sampling="cubic"), 10, 4, g)


def test_relative_window_weights():
    w = relative_window_weights(torch.tensor([0.0, 2.0, 10.0]), 2.0)   # 1/2, 1/4, 1/12 normalised to mean 1
    raw = torch.tensor([1 / 2, 1 / 4, 1 / 12])
    torch.testing.assert_close(w, raw / raw.mean())
    assert float(w.mean()) == pytest.approx(1.0) and float(w[0] / w[2]) == pytest.approx(6.0)


def test_validation_score_penalises_a_degraded_good_input():
    inp = {1.0: {"mpjpe": 10.0, "pa_mpjpe": 8.0}, 5.0: {"mpjpe": 80.0, "pa_mpjpe": 50.0}}
    # halves the error at 5 deg but doubles it at 1 deg: mean (2 + 0.5) / 2 = 1.25 plus the excess 2 - 1
    worse = {1.0: {"mpjpe": 20.0, "pa_mpjpe": 16.0}, 5.0: {"mpjpe": 40.0, "pa_mpjpe": 25.0}}
    assert validation_score(worse, inp) == pytest.approx(1.25 + 1.0)   # + the 1 deg excess over the input
    # better everywhere, a little at 1 deg: (0.9 + 0.75) / 2
    good = {1.0: {"mpjpe": 9.0, "pa_mpjpe": 7.2}, 5.0: {"mpjpe": 60.0, "pa_mpjpe": 37.5}}
    assert validation_score(good, inp) == pytest.approx(0.825)
    assert validation_score({1.0: inp[1.0]}, inp) == pytest.approx(1.0)
    # accel term: + w x mean accel-error ratio (0.5 at 1 deg, 0.25 at 5 deg)
    inp_a = {lv: {**r, "accel_err": 40.0 * lv} for lv, r in inp.items()}
    good_a = {1.0: {**good[1.0], "accel_err": 20.0}, 5.0: {**good[5.0], "accel_err": 50.0}}
    assert validation_score(good_a, inp_a, accel_weight=0.5) == pytest.approx(0.825 + 0.5 * 0.375)


def test_clean_windows_are_exactly_clean():
    seqs = synthetic_sequences(3, 40, seed=0, subjects=1)
    bank = MotionBank(seqs, 16)
    g = torch.Generator().manual_seed(1)
    gt, betas = bank.sample(8, g)
    c = CorruptionConfig(mask_ratio=0.0, replace_ratio=0.0, dropout_prob=0.0, start_pad_prob=0.0, betas_noise_std=0.0)
    scale = torch.tensor([0.0] * 4 + [2.0] * 4)
    out = corrupt(gt, betas, c, GaussianNoise(5.0), g, noise_scale=scale)
    torch.testing.assert_close(out.pose6d[:4], rotmat_to_rot6d(gt[:4]))
    assert (out.pose6d[4:] - rotmat_to_rot6d(gt[4:])).abs().mean() > 0.05


def test_whole_body_rotations_cover_inverted_and_lying_bodies():
    g = torch.Generator().manual_seed(2)
    r = random_global_rotation(4000, 1.0, g)
    torch.testing.assert_close(r @ r.transpose(-1, -2), torch.eye(3).expand(4000, 3, 3), atol=1e-5, rtol=0)
    assert torch.allclose(torch.linalg.det(r), torch.ones(4000), atol=1e-5)
    up = r[:, :, 1]                                          # where the body's up axis goes
    assert up.mean(0).abs().max() < 0.05                     # uniform on the sphere
    assert 0.45 < float((up[:, 1] < 0).float().mean()) < 0.55          # half upside down
    assert 0.3 < float((up[:, 1].abs() < 0.5).float().mean()) < 0.7    # lying-ish (within 30 deg of horizontal): 1/2
    some = random_global_rotation(4000, 0.25, g)
    moved = (some - torch.eye(3)).abs().amax((-1, -2)) > 1e-6
    assert 0.22 < float(moved.float().mean()) < 0.28
    assert torch.equal(random_global_rotation(5, 0.0, g), torch.eye(3).expand(5, 3, 3))


def test_crouch_offsets_bend_hips_knees_forward():
    g = torch.Generator().manual_seed(3)
    off = crouch_offset(64, 1.0, g)                          # (64, 1, 24, 3, 3)
    rot = torch.eye(3).expand(64, 24, 3, 3) @ off[:, 0]
    j = SkeletonFK()(rot, torch.zeros(64, 10))
    knee, ankle, hip = j[:, I["left_knee"]], j[:, I["left_ankle"]], j[:, I["left_hip"]]
    assert torch.all(knee[:, 2] - hip[:, 2] > 0.08)         # thighs forward (z): >= 15 deg x 38 cm = 0.098 m
    assert torch.all(ankle[:, 1] - hip[:, 1] > -0.75)       # legs folded: ankles come up
    thigh, shin = knee - hip, ankle - knee
    assert torch.all(torch.cross(thigh, shin, dim=-1)[:, 0] > 0)      # knees bend the shins backwards (+x flexion)
    cos = (thigh * shin).sum(-1) / thigh.norm(dim=-1) / shin.norm(dim=-1)
    knee_deg = torch.rad2deg(torch.acos(cos))
    assert torch.all((knee_deg > 14) & (knee_deg < 136))
    none = crouch_offset(8, 0.0, g)
    assert torch.allclose(none, torch.eye(3).expand_as(none))


def test_training_with_the_recipe_and_splits_file(tmp_path):
    seqs = synthetic_sequences(6, 40, seed=0, subjects=3)
    motion = tmp_path / "motion"
    for s in seqs:
        s.save(motion / s.subject / f"{s.sequence}.npz")
    (motion / "splits.json").write_text(json.dumps({"train": ["syn0", "syn1"], "val": ["syn2"], "test": []}))
    assert read_splits(motion / "splits.json")["val"] == ["syn2"]
    cfg = config_from_dict({
        "name": "r", "model": {"window": 8, "num_layers": 1, "dim": 32, "heads": 4, "ffn_dim": 64},
        "corruption": {"noise_std_max_deg": 12.0, "curriculum_steps": 4, "clean_prob": 0.2},
        "data": {"motion_dirs": [str(motion)], "splits_file": str(motion / "splits.json"), "train_subjects": ["x"],
                 "global_rot_prob": 0.5, "crouch_prob": 0.5},
        "train": {"steps": 6, "batch_size": 8, "val_every": 3, "ckpt_every": 3, "log_every": 2, "warmup_steps": 2,
                  "relative_weight_deg": 2.0},
        "eval": {"val_noise_levels": [1.0, 5.0]}})
    tr, va, te = load_data(cfg)
    assert {s.subject for s in tr} == {"syn0", "syn1"} and {s.subject for s in va} == {"syn2"} and not te
    summ = train(cfg, tmp_path / "run", progress=False)
    assert summ["steps"] == 6 and summ["best_val_criterion"] == "score" and summ["best_step"] in (3, 6)
    assert set(summ["val_input_levels"]) == {"1", "5"}
    assert summ["val_input_levels"]["1"]["pa_mpjpe"] < summ["val_input_levels"]["5"]["pa_mpjpe"]
    assert 0 < summ["best_val"] == pytest.approx(abs=1e-3, expected=min(h["score"] for h in torch.load(
        tmp_path / "run" / "ckpt_last.pt", weights_only=True)["history"]))
    for what in ("curriculum U(0, 2->12) deg", "20% clean", "50% windows whole-body random rotation",
                 "50% crouch", "train subjects syn0,syn1"):
        assert what in summ["training_data"], summ["training_data"]
    with pytest.raises(FileNotFoundError, match="splits file"):
        load_data(config_from_dict({**cfg.to_dict(), "data": {**cfg.to_dict()["data"], "splits_file": "nope.json"}}))


def _export_tiny(path, lag):
    torch.manual_seed(lag)
    m = PoseBERT(window=16, num_layers=1, dim=32, heads=4, ffn_dim=64, attention="causal", lag=lag, init="input").eval()
    export.export_temporal(m, path)
    model_meta.write_metadata(path, export.temporal_metadata(m, export.DEFAULT_OPSET, 0))


def test_evaluate_from_a_checkout_onnx_only_per_rig(tmp_path, monkeypatch, capsys):
    (tmp_path / "models").mkdir()
    _export_tiny(tmp_path / "models" / "posebert.onnx", 0)
    motion = tmp_path / "runs" / "mocap"
    seqs = synthetic_sequences(4, 40, seed=5, subjects=2)
    rows = []
    for k, s in enumerate(seqs):
        out = s.save(motion / s.subject / f"{s.sequence}.npz")
        rows.append({"out": str(out), "subject": s.subject, "sequence": s.sequence, "format": "bvh",
                     "joint_map": "cmu" if k % 2 == 0 else "daz", "frames": s.num_frames})
    (motion / "import_summary.json").write_text(json.dumps({"files": rows}))
    (motion / "splits.json").write_text(json.dumps({"train": [], "val": [], "test": ["syn0", "syn1"]}))
    monkeypatch.chdir(tmp_path)
    # the default pair: the lag-4 file is missing -> one line naming it, exit 2
    assert evaluate.main([]) == 2
    err = capsys.readouterr().err
    assert "models/posebert_lag4.onnx" in err and "Traceback" not in err
    _export_tiny(tmp_path / "models" / "posebert_lag4.onnx", 4)
    assert evaluate.main(["--json", "e.json"]) == 0
    res = json.loads((tmp_path / "e.json").read_text())
    assert {v["_meta"]["rig"] for v in res.values()} == {"all rigs", "cmu", "daz"}
    for v in res.values():
        assert {"per-frame input", "PoseBERT causal [onnx posebert.onnx]", "PoseBERT lag 4 [onnx posebert_lag4.onnx]"} <= set(v)
    assert evaluate.main(["--motion-dirs", "runs/nothing"]) == 2
    assert "motion folder runs/nothing not found" in capsys.readouterr().err
    assert evaluate.main(["--onnx", "models/none.onnx"]) == 2
    assert "no such ONNX model: models/none.onnx" in capsys.readouterr().err
    assert evaluate.main(["--ckpt", "runs/x/ckpt_best.pt"]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def _fitted(tmp_path, std_deg=20.0):
    from training.posebert.noise_model import FittedNoise

    f = FittedNoise(mean=np.zeros((24, 3)), chol=np.tile(np.eye(3) * math.radians(std_deg), (24, 1, 1)),
                    ar1=np.full(24, 0.9), outlier_rate=np.zeros(24), outlier_deg=45.0,
                    outlier_max_deg=np.full(24, 45.0))
    return f.save(tmp_path / "fitted.json")


def test_fitted_mixture_takes_its_share_of_windows_with_their_std(tmp_path):
    from training.posebert.noise_model import WindowMix
    from training.posebert.train import fitted_mixture_model, mix_fitted

    cfg = _cfg(fitted_prob=0.3, fitted_model=str(_fitted(tmp_path)), fitted_scale_min=1.0, fitted_scale_max=1.0)
    fitted = fitted_mixture_model(cfg)
    g = torch.Generator().manual_seed(0)
    scale = noise_scales(cfg, 0, 4000, g)
    noise, std = mix_fitted(cfg, GaussianNoise(5.0), fitted, scale, 4000, g)
    assert isinstance(noise, WindowMix)
    share = float(noise.use_second.float().mean())
    assert 0.27 < share < 0.33
    # fitted windows: the model's 20 deg std (scale 1); the others keep the curriculum's std
    assert torch.allclose(std[noise.use_second], torch.full_like(std[noise.use_second], 20.0))
    assert torch.allclose(std[~noise.use_second], scale[~noise.use_second] * 5.0)
    e = noise.sample(4000, 16, g, scale)
    ang = torch.rad2deg(e.norm(dim=-1))                                   # (B, T, 24)
    fit_rms = ang[noise.use_second].pow(2).mean().sqrt()
    assert 30 < float(fit_rms) < 40                                        # 20 deg per axis: sqrt(3) x 20 = 34.6
    # AR(1) 0.9: consecutive fitted frames are correlated, the curriculum's white noise is not
    a, b = e[noise.use_second][:, 1:], e[noise.use_second][:, :-1]
    corr = float((a * b).sum() / (a.norm() * b.norm()))
    assert corr > 0.8
    w = e[~noise.use_second]
    assert abs(float((w[:, 1:] * w[:, :-1]).sum() / (w[:, 1:].norm() * w[:, :-1].norm()))) < 0.05


def test_fitted_mixture_errors_name_the_problem(tmp_path):
    from training.posebert.train import fitted_mixture_model

    assert fitted_mixture_model(_cfg()) is None
    with pytest.raises(FileNotFoundError, match="fitted_model"):
        fitted_mixture_model(_cfg(fitted_prob=0.5, fitted_model=str(tmp_path / "missing.json")))
    for bad in (1.5, -0.1):       # a negative share is an error too, not "off"
        with pytest.raises(ValueError, match="fitted_prob"):
            fitted_mixture_model(_cfg(fitted_prob=bad, fitted_model=str(_fitted(tmp_path))))
    with pytest.raises(ValueError, match="fitted_scale"):
        fitted_mixture_model(_cfg(fitted_prob=0.5, fitted_model=str(_fitted(tmp_path)), fitted_scale_min=2.0,
                                  fitted_scale_max=1.0))
