"""PoseBERT training: corruption counts, losses, causal / lagged attention, streaming, export, metadata."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from pose_estimation_ros import skeleton
from pose_estimation_ros.perception import metadata as model_meta
from pose_estimation_ros.perception.inference import load_temporal
from pose_estimation_ros.perception.window import PoseWindow
from training import export
from training.geometry.rotations import rot6d_to_rotmat, rotmat_to_rot6d
from training.models.posebert import PoseBERT, layer_lookaheads
from training.posebert import evaluate, metrics, noise_model
from training.posebert.checkpoint import load_model
from training.posebert.config import (CorruptionConfig, PoseBERTConfig, apply_overrides, config_from_dict,
                                      load_config, save_config)
from training.posebert.corruption import corrupt, exact_counts
from training.body.skeleton_fk import SkeletonFK
from training.posebert.data import (MIRROR_INDEX, MotionBank, apply_view, mirror, random_pose_offset,
                                    random_view_rotation, synthetic_sequences)
from training.posebert.evaluate import Method, evaluate_clips, synthetic_clips
from training.posebert.losses import PoseBERTLoss
from training.posebert.noise_model import FittedNoise, GaussianNoise, fit_noise_model
from training.posebert.stream import hold_last_valid, stream_estimates, stream_windows, torch_runner
from training.posebert.train import frame_weights, train

REPO = Path(__file__).resolve().parent.parent
T = 16


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def seqs():
    return synthetic_sequences(6, 80, seed=0, subjects=3)


@pytest.fixture(scope="module")
def bank(seqs):
    return MotionBank(seqs, T)


def _tiny(attention="causal", lag=0, schedule="first", layers=3, seed=0, window=T, init="mean") -> PoseBERT:
    torch.manual_seed(seed)
    m = PoseBERT(window=window, num_layers=layers, dim=32, heads=4, ffn_dim=64, attention=attention, lag=lag,
                 lookahead_schedule=schedule, init=init).eval()
    torch.nn.init.normal_(m.regressor[-1].weight, std=0.05)  # outputs depend on the inputs
    return m


def _inputs(batch=2, window=T, seed=0):
    g = torch.Generator().manual_seed(seed)
    rot = roma.random_rotmat(batch * window * 24, generator=g).reshape(batch, window, 24, 3, 3)
    betas = torch.randn(batch, window, 10, generator=g)
    return rotmat_to_rot6d(rot), betas, torch.ones(batch, window, dtype=torch.bool)


def _tiny_cfg(tmp_name="t", **model) -> PoseBERTConfig:
    return config_from_dict({
        "name": tmp_name,
        "model": {"window": 8, "num_layers": 1, "dim": 32, "heads": 4, "ffn_dim": 64, **model},
        "data": {"synthetic": True, "synthetic_sequences": 8, "synthetic_frames": 40},
        "train": {"steps": 6, "batch_size": 8, "val_every": 3, "ckpt_every": 3, "log_every": 2, "warmup_steps": 2},
    })


# --- corruption -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mask_ratio,n_masked", [(0.0, 0), (0.125, 2), (0.5, 8), (0.875, 14)])
def test_masking_and_replacement_counts_match_config(bank, mask_ratio, n_masked):
    g = torch.Generator().manual_seed(0)
    gt, betas = bank.sample(512, g)
    view = random_view_rotation(512, g)
    gt = apply_view(gt, view)
    cfg = CorruptionConfig(noise="none", mask_ratio=mask_ratio, replace_ratio=0.0625, dropout_prob=0.0,
                           start_pad_prob=0.0, betas_noise_std=0.0)
    c = corrupt(gt, betas, cfg, None, g, lambda n: bank.random_frames(n, g), view)
    # Exact counts per window: mask_ratio x 16 masked (0 / 2 / 8 / 14), 6.25% of 16 = 1 replaced, disjoint.
    assert torch.all(c.masked.sum(1) == n_masked) and torch.all(c.replaced.sum(1) == 1)
    if n_masked == 0:
        assert torch.all(c.valid)
        return
    assert not torch.any(c.masked & c.replaced) and not c.dropped.any()
    assert torch.equal(c.valid, ~c.masked)
    # Masked frames carry zeros; untouched frames are the ground truth (no noise here).
    assert torch.all(c.pose6d[c.masked] == 0)
    clean = c.valid & ~c.replaced
    torch.testing.assert_close(c.pose6d[clean], rotmat_to_rot6d(gt)[clean])
    # Replaced frames are other poses: far from the ground truth of their slot.
    err = (rot6d_to_rotmat(c.pose6d[c.replaced]) - gt[c.replaced]).abs().amax(dim=(-1, -2, -3))
    assert (err > 0.1).float().mean() > 0.95
    # Positions are spread over the window (not always the same frames).
    assert c.masked.float().mean(0).min() > 0.05


def test_fractional_ratio_has_exact_expectation():
    g = torch.Generator().manual_seed(1)
    n = exact_counts(20000, 16, 0.1, g)            # 1.6 frames per window on average
    assert set(n.unique().tolist()) == {1, 2}
    assert abs(n.float().mean().item() - 1.6) < 0.03
    assert torch.all(exact_counts(10, 16, 0.375) == 6) and torch.all(exact_counts(10, 16, 0.0) == 0)


def test_noise_and_dropouts(bank):
    g = torch.Generator().manual_seed(2)
    gt, betas = bank.sample(256, g)
    cfg = CorruptionConfig(noise="gaussian", noise_std_deg=5.0, noise_std_jitter=0.0, mask_ratio=0.0,
                           replace_ratio=0.0, dropout_prob=1.0, dropout_max_len=4, start_pad_prob=0.0)
    c = corrupt(gt, betas, cfg, GaussianNoise(5.0), g)
    runs = c.dropped.sum(1)
    assert torch.all((runs >= 1) & (runs <= 4))
    for row in c.dropped[:50]:                      # one burst of consecutive frames
        idx = torch.nonzero(row)[:, 0]
        assert int(idx[-1] - idx[0]) + 1 == len(idx)
    # Gaussian rotation noise: per-axis std of the residual rotation vector ~ 5 degrees.
    v = c.valid
    res = roma.rotmat_to_rotvec(gt[v].transpose(-1, -2) @ rot6d_to_rotmat(c.pose6d[v]))
    assert abs(math.degrees(res.std().item()) - 5.0) < 0.3
    cfg.start_pad_prob, cfg.dropout_prob = 1.0, 0.0
    c = corrupt(gt, betas, cfg, None, g)
    first_valid = c.valid.float().argmax(1)
    assert torch.all(first_valid >= 1)
    assert torch.all(c.valid == (torch.arange(T)[None] >= first_valid[:, None]))   # empty prefix, then frames


def test_mirror_and_pose_offset_augmentations():
    g = torch.Generator().manual_seed(9)
    rot = roma.random_rotmat(5 * 24, generator=g).reshape(5, 24, 3, 3)
    torch.testing.assert_close(mirror(mirror(rot)), rot)
    assert sorted(MIRROR_INDEX) == list(range(24)) and MIRROR_INDEX[skeleton.JOINT_NAMES.index("left_wrist")] == \
        skeleton.JOINT_NAMES.index("right_wrist")
    fk = SkeletonFK()
    j, jm = fk(rot, torch.zeros(5, 10)), fk(mirror(rot), torch.zeros(5, 10))
    torch.testing.assert_close(jm, (j * torch.tensor([-1.0, 1.0, 1.0]))[:, list(MIRROR_INDEX)], atol=1e-5, rtol=0)
    off = random_pose_offset(4, 10.0, g)
    assert off.shape == (4, 1, 24, 3, 3) and torch.equal(off[:, :, 0], torch.eye(3).expand(4, 1, 3, 3))


# --- model: causal / lagged attention ------------------------------------------------------------

@pytest.mark.parametrize("lag,schedule,init", [(0, "first", "mean"), (3, "first", "mean"), (3, "spread", "mean"),
                                               (5, "spread", "mean"), (0, "first", "input"), (4, "first", "input")])
def test_causal_and_lagged_outputs_never_read_beyond_lookahead(lag, schedule, init):
    model = _tiny("causal", lag, schedule, init=init)
    assert sum(model.lookaheads) == lag and model.readout_index == T - 1 - lag
    pose, betas, valid = _inputs()
    with torch.no_grad():
        ref = model(pose, betas, valid)
        for j in (4, 9, T - 1):                     # change one future frame (pose and, separately, validity)
            changed = pose.clone()
            changed[:, j] = rotmat_to_rot6d(roma.random_rotmat(2 * 24).reshape(2, 24, 3, 3))
            flipped = valid.clone()
            flipped[:, j] = False
            for out in (model(changed, betas, valid), model(pose, betas, flipped)):
                for a, b in zip(ref, out):
                    # outputs i with i + lag < j cannot see frame j: bit-for-bit unchanged
                    assert torch.equal(a[:, : max(j - lag, 0)], b[:, : max(j - lag, 0)])
                # ... and the frame at the edge of the look-ahead does see it
                edge = j - lag
                if edge >= 0:
                    assert not torch.equal(a[:, edge], b[:, edge])
    # The frame the runtime reads (T-1-lag) depends on the newest frame exactly when lag is its look-ahead.
    with torch.no_grad():
        changed = pose.clone()
        changed[:, T - 1] += 1.0
        out = model(changed, betas, valid)[0]
    assert not torch.equal(out[:, model.readout_index], ref[0][:, model.readout_index])


def test_lookahead_schedules_and_full_attention():
    assert layer_lookaheads(4, 4, "first") == [4, 0, 0, 0]
    assert layer_lookaheads(5, 4, "spread") == [2, 1, 1, 1]
    with pytest.raises(ValueError):
        PoseBERT(window=8, num_layers=1, dim=32, heads=4, ffn_dim=64, attention="full", lag=2)
    with pytest.raises(ValueError):
        PoseBERT(window=8, num_layers=1, dim=32, heads=4, ffn_dim=64, attention="causal", lag=8)
    # Full attention: the first frame sees the last one.
    model = _tiny("full", layers=2)
    pose, betas, valid = _inputs()
    with torch.no_grad():
        ref = model(pose, betas, valid)[0]
        pose[:, -1] += 1.0
        assert (model(pose, betas, valid)[0][:, 0] - ref[:, 0]).abs().max() > 1e-5


def test_causal_checkpoint_loads_into_other_modes():
    causal = _tiny("causal", 0)
    lagged = _tiny("causal", 4, seed=1)
    lagged.load_state_dict(causal.state_dict())     # masks are not part of the state
    assert lagged.mode == "lag4" and causal.mode == "causal"


# --- losses ----------------------------------------------------------------------------------------

def test_loss_is_zero_at_truth_and_decreases_on_a_fixed_batch(bank):
    g = torch.Generator().manual_seed(3)
    gt, betas = bank.sample(16, g)
    cfg = CorruptionConfig(noise_std_deg=5.0)
    c = corrupt(gt, betas, cfg, GaussianNoise(5.0), g, lambda n: bank.random_frames(n, g))
    loss_fn = PoseBERTLoss(1.0, 1.0)
    zero, _ = loss_fn(rotmat_to_rot6d(gt), gt, betas)
    assert zero.item() < 1e-6
    torch.manual_seed(0)
    model = PoseBERT(window=T, num_layers=2, dim=64, heads=4, ffn_dim=128, attention="causal", dropout=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    w = frame_weights(c.valid, "causal", 0, 1.0)
    losses = []
    for _ in range(60):
        loss, parts = loss_fn(model.regress(c.pose6d, c.valid), gt, betas, w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses[::10]


def test_frame_weights_skip_frames_with_nothing_to_see():
    valid = torch.tensor([[False, False, True, True, False, True]])
    w = frame_weights(valid, "causal", 0, 1.0)
    assert w.tolist() == [[0, 0, 1, 1, 1, 2]]
    w = frame_weights(valid, "causal", 1, 0.0)
    assert w.tolist() == [[0, 1, 1, 1, 1, 1]]


# --- streaming, metrics, noise model ---------------------------------------------------------------

def test_stream_windows_match_the_runtime_window():
    n, period = 30, 33_000_000
    g = torch.Generator().manual_seed(4)
    pose = torch.randn(n, 24, 6, generator=g)
    betas = torch.randn(n, 10, generator=g)
    valid = torch.rand(n, generator=g) > 0.25
    valid[0] = True
    wp, wb, wv = stream_windows(pose, betas, valid, 8)
    win = PoseWindow(8, frame_period_ns=period)
    for i in range(n):
        if valid[i]:
            win.push(i * period, pose[i].numpy(), betas[i].numpy())
        else:
            win.mark_missing(i * period)
        p, b, v = win.arrays()
        np.testing.assert_array_equal(v[0], wv[i].numpy())
        np.testing.assert_allclose(p[0][v[0]], wp[i][wv[i]].numpy())
        np.testing.assert_allclose(b[0][v[0]], wb[i][wv[i]].numpy())
    held = hold_last_valid(pose, valid)
    for i in range(n):
        last = max(k for k in range(i + 1) if valid[k])
        assert torch.equal(held[i], pose[last])


def test_stream_estimates_read_the_lagged_slot():
    model = _tiny("causal", 2, window=8)
    pose, betas, valid = _inputs(1, 20, seed=5)
    est = stream_estimates(torch_runner(model), pose[0], betas[0], valid[0], 8, lag=2)
    assert est.shape == (18, 24, 6)
    wp, wb, wv = stream_windows(pose[0], betas[0], valid[0], 8)
    with torch.no_grad():
        direct = model(wp[12:13], wb[12:13], wv[12:13])[0][0, 8 - 1 - 2]   # window ending at frame 12 -> frame 10
    torch.testing.assert_close(est[10], direct)


def test_metrics():
    g = torch.Generator().manual_seed(6)
    gt = torch.randn(10, 24, 3, generator=g, dtype=torch.float64) * 0.3
    r = roma.random_rotmat(10, generator=g).double()
    moved = 1.3 * gt @ r.transpose(-1, -2) + torch.randn(10, 1, 3, generator=g, dtype=torch.float64)
    assert metrics.pa_mpjpe(moved, gt).max() < 1e-4   # mm
    assert metrics.mpjpe(gt + torch.tensor([0.003, 0.004, 0.0], dtype=torch.float64), gt).sub(5.0).abs().max() < 1e-9
    drift = gt + torch.arange(10.0).view(10, 1, 1) * 0.01      # error grows linearly: zero acceleration error
    assert metrics.accel_error(drift, gt).abs().max() < 1e-4
    jitter = gt.clone()
    jitter[5, :, 0] += 0.001                                   # 1 mm spike: |a| = 1, 2, 1 mm/f^2 around it
    assert torch.allclose(metrics.accel_error(jitter, gt)[3:6], torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64))


def test_fitted_noise_recovers_its_parameters(tmp_path):
    rng = np.random.default_rng(0)
    a = np.radians(rng.uniform(2, 6, size=(24, 3)))
    true = FittedNoise(mean=np.radians(rng.normal(0, 1, size=(24, 3))), chol=np.stack([np.diag(x) for x in a]),
                       ar1=np.full(24, 0.6), outlier_rate=np.zeros(24), outlier_deg=45.0,
                       outlier_max_deg=np.full(24, 45.0))
    e = true.sample(40, 200, torch.Generator().manual_seed(0))                 # (40, 200, 24, 3)
    gt = roma.random_rotmat(40 * 200 * 24, generator=torch.Generator().manual_seed(1)).reshape(40 * 200, 24, 3, 3)
    pred = gt @ roma.rotvec_to_rotmat(e.reshape(-1, 24, 3))
    seq = np.repeat(np.arange(40), 200)
    fit = fit_noise_model(pred.numpy(), gt.numpy(), seq)
    np.testing.assert_allclose(fit.mean, true.mean, atol=np.radians(0.3))
    np.testing.assert_allclose(np.sqrt(np.einsum("jab,jab->ja", fit.chol, fit.chol)), a, rtol=0.1)
    np.testing.assert_allclose(fit.ar1, 0.6, atol=0.05)
    assert fit.outlier_rate.max() == 0
    back = FittedNoise.load(fit.save(tmp_path / "noise.json"))
    np.testing.assert_allclose(back.chol, fit.chol)
    assert back.sample(2, 5).shape == (2, 5, 24, 3)


# --- config, training, export -----------------------------------------------------------------------

def test_config_yaml_round_trip_and_shipped_configs(tmp_path):
    cfg = apply_overrides(PoseBERTConfig(), ["model.dim=64", "corruption.mask_ratio=0.25",
                                             "data.test_subjects=['131']"])
    assert cfg.model.dim == 64 and cfg.corruption.mask_ratio == 0.25
    assert load_config(save_config(cfg, tmp_path / "c.yaml")) == cfg
    with pytest.raises(ValueError):
        apply_overrides(cfg, ["model.width=3"])
    with pytest.raises(ValueError):
        config_from_dict({"model": {"dimm": 3}})
    shipped = sorted((REPO / "training" / "configs").glob("posebert_*.yaml"))
    assert shipped
    for p in shipped:
        c = load_config(p)
        assert c.model.lag < c.model.window and all(isinstance(s, str) for s in c.data.train_subjects), p


def test_train_resume_is_exact_and_logs(tmp_path):
    cfg = _tiny_cfg()
    straight = train(cfg, tmp_path / "a", progress=False)
    assert train(cfg, tmp_path / "b", progress=False, stop_after=3)["steps"] == 3     # "interrupted"
    resumed = train(cfg, tmp_path / "b", progress=False)            # continues from ckpt_last (step 3)
    assert straight["steps"] == resumed["steps"] == 6
    a = torch.load(tmp_path / "a" / "ckpt_last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "ckpt_last.pt", weights_only=True)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0)
    assert list((tmp_path / "a" / "tb").glob("events.out.tfevents*"))
    assert load_config(tmp_path / "a" / "config.yaml") == cfg
    model, ck = load_model(tmp_path / "a" / "ckpt_best.pt")
    assert model.mode == "causal" and "synthetic" in ck["training_data"]


def test_export_cli_checkpoints_onnx_agreement_and_metadata(tmp_path):
    train(_tiny_cfg("c"), tmp_path / "c", progress=False)
    train(_tiny_cfg("l", lag=2), tmp_path / "l", progress=False)
    out = tmp_path / "models"
    rc = export.main(["--out", str(out), "--input-size", "64", "--window", "8",
                      "--temporal-ckpt", str(tmp_path / "c" / "ckpt_best.pt"),
                      "--temporal-lag-ckpt", str(tmp_path / "l" / "ckpt_best.pt"), "--lags", "3"])
    assert rc == 0                                                 # includes the ONNX-vs-torch verification
    for fname, mode, lag in (("posebert.onnx", "causal", 0), ("posebert_lag2.onnx", "lag2", 2)):
        meta = model_meta.load_metadata(out / fname)
        model_meta.check_metadata(meta, kind=model_meta.KIND_TEMPORAL, joint_names=skeleton.JOINT_NAMES, window=8)
        assert meta.trained and "synthetic" in meta.training_data
        assert meta.architecture["mode"] == mode and meta.architecture["lag"] == lag
        assert meta.architecture["readout_index"] == 8 - 1 - lag
        # metadata round trip through JSON
        again = model_meta.ModelMetadata.from_dict(json.loads((out / fname).with_suffix(".json").read_text()))
        assert again == meta
        assert load_temporal(out / fname, joint_names=skeleton.JOINT_NAMES, window=8).meta.architecture["lag"] == lag
    untrained = model_meta.load_metadata(out / "posebert_lag3.onnx")  # --lags without a checkpoint
    assert not untrained.trained and untrained.architecture["mode"] == "lag3"
    assert not (out / "posebert_lag4.onnx").exists()
    # The evaluation CLI streams checkpoints and exported files alike: same numbers.
    res = tmp_path / "eval.json"
    assert evaluate.main(["--ckpt", str(tmp_path / "l" / "ckpt_best.pt"), "--onnx", str(out / "posebert_lag2.onnx"),
                          "--out", str(tmp_path / "eval.md"), "--json", str(res)]) == 0
    (section,) = json.loads(res.read_text()).values()
    torch_row, onnx_row = section["PoseBERT lag 2"], section["PoseBERT lag 2 [onnx posebert_lag2.onnx]"]
    for k in ("mpjpe", "pa_mpjpe", "accel_err"):
        assert abs(torch_row[k] - onnx_row[k]) < 1e-3 * max(1.0, torch_row[k])
    assert "| per-frame input |" in (tmp_path / "eval.md").read_text()


def test_real_prediction_inputs_and_noise_fit_clis(tmp_path, seqs):
    """Per-frame model outputs (npz) -> evaluation and a fitted noise model that training can use."""
    train(_tiny_cfg("c"), tmp_path / "c", progress=False)
    clips = synthetic_clips(seqs[:2], GaussianNoise(4.0), 0.0, seed=1)
    gt = torch.cat([c.gt_rotmats for c in clips])
    pred = torch.cat([c.in_pose6d for c in clips])
    seq = np.concatenate([[c.name] * len(c.valid) for c in clips])
    npz = tmp_path / "preds.npz"
    np.savez(npz, pred_pose6d=pred.numpy(), gt_rotmats=gt.numpy(), sequence=seq)
    res = tmp_path / "real.json"
    assert evaluate.main(["--ckpt", str(tmp_path / "c" / "ckpt_best.pt"), "--per-frame-preds", str(npz),
                          "--json", str(res)]) == 0
    (section,) = json.loads(res.read_text()).values()
    assert section["_gt"]["clips"] == 2 and section["per-frame input"]["mpjpe"] > 0
    noise_json = tmp_path / "noise.json"
    assert noise_model.main(["fit", "--residuals", str(npz), "--out", str(noise_json)]) == 0
    fitted = FittedNoise.load(noise_json)
    assert abs(np.degrees(np.sqrt(np.einsum("jab,jab->j", fitted.chol, fitted.chol) / 3)).mean() - 4.0) < 0.5
    cfg = apply_overrides(_tiny_cfg("f"), ["corruption.noise=fitted", f"corruption.noise_model={noise_json}"])
    assert train(cfg, tmp_path / "f", progress=False)["steps"] == 6


@pytest.mark.parametrize("lag", [0, 3])
def test_onnx_matches_torch_and_stays_causal(tmp_path, lag):
    import onnxruntime as ort

    model = _tiny("causal", lag, layers=2)
    path = export.export_temporal(model, tmp_path / "m.onnx")
    pose, betas, valid = _inputs(2, seed=8)
    valid[:, 3] = False
    names = model_meta.TEMPORAL_INPUTS
    diffs = export.compare_onnx(export.ReadoutJoints(model).eval(), path, dict(zip(names, (pose, betas, valid))),
                                model_meta.TEMPORAL_OUTPUTS)
    assert max(diffs.values()) < 1e-4, diffs
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    def run(p):
        return sess.run(None, {names[0]: p.numpy(), names[1]: betas.numpy(), names[2]: valid.numpy()})
    ref = run(pose)
    # the joints output is the read-out slot's only, and equals the full forward's joints there
    with torch.no_grad():
        full = model(pose, betas, valid)[1].numpy()
    assert ref[1].shape == (2, 1, 24, 3)
    np.testing.assert_allclose(ref[1][:, 0], full[:, T - 1 - lag], atol=1e-5)
    changed = pose.clone()
    changed[:, -1] += 1.0
    got = run(changed)
    np.testing.assert_array_equal(ref[0][:, : T - 1 - lag], got[0][:, : T - 1 - lag])


def test_evaluate_clips_streams_every_method(seqs):
    clips = synthetic_clips(seqs[:2], GaussianNoise(5.0), missing_ratio=0.2, seed=0)
    assert all(not c.valid.all() and c.valid[0] for c in clips)
    model = _tiny("causal", 2)
    res = evaluate_clips(clips, [Method("per-frame input", None, 0, T), Method("m", torch_runner(model), 2, T)])
    frames = sum(c.gt_rotmats.shape[0] - 2 for c in clips)
    assert res["_gt"]["frames"] == frames
    for r in (res["per-frame input"], res["m"]):
        assert all(np.isfinite(r[k]) and r[k] > 0 for k in ("mpjpe", "pa_mpjpe", "accel_err"))


@pytest.mark.parametrize("lag", [0, 2])
def test_an_exported_file_warm_starts_a_new_model_exactly(tmp_path, lag):
    """``train.init_from`` reads the pose network back out of a file exported through ``ReadoutJoints`` (weights
    named ``model.<key>``, the rest anonymous): every pose weight equal, outputs equal."""
    from training.posebert.checkpoint import load_onnx_weights

    src = _tiny("causal", lag, layers=2, seed=3)
    with torch.no_grad():      # trained-like weights: no two initializers equal (the exporter merges equal ones)
        for p in src.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = export.export_temporal(src, tmp_path / "m.onnx")
    model_meta.write_metadata(path, export.temporal_metadata(src, export.DEFAULT_OPSET, 3))
    dst = _tiny("causal", lag, layers=2, seed=9)
    load_onnx_weights(dst, path)
    for k, v in src.state_dict().items():
        if not k.startswith("body."):
            assert torch.equal(v, dst.state_dict()[k]), k


def test_latency_cli_reads_the_shape_size_from_the_graph(capsys):
    """The shipped models take Anny's 6 shape values (the CLI used to feed 10 and failed on them)."""
    from pathlib import Path

    from training.posebert import latency

    shipped = Path(__file__).resolve().parents[1] / "models" / "posebert.onnx"
    r = latency.ort_latency(shipped, threads=1, runs=3, warmup=1)
    assert r["median_ms"] > 0 and r["runs"] == 3
    assert latency.main([str(shipped), "--runs", "3"]) == 0
    assert "median" in capsys.readouterr().out
