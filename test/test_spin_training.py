"""MoCap-SPIN training: BN-only fine-tune, batch mixing, losses, pseudo labels, checkpoints, DDP, export."""
from __future__ import annotations

import os
import socket

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pose_estimation_ros.perception import metadata as model_meta
from training import export
from training.body.base import SkeletonBody
from training.spin import data as spin_data
from training.spin.checkpoint import CheckpointMismatch, check_compatible, load_model
from training.spin.config import SpinConfig, apply_overrides, config_from_dict
from training.spin.finetune import bn_modules, set_trainable, trainable_parameters
from training.spin.losses import SpinLoss, project_weak
from training.spin.train import pseudo_label, train, training_step

pytestmark = pytest.mark.usefixtures("torch_one_thread")
SIZE = 64


def _cfg(**train_kw) -> SpinConfig:
    cfg = config_from_dict({"name": "t", "model": {"backbone": "mobilenet_v3_small", "input_size": SIZE, "hidden": 64,
                                                   "dropout": 0.0, "body_model": "skeleton"},
                            "data": {"source": "stick", "val_samples": 0},
                            "train": {"batch_size": 4, "threads": 1, "warmup_steps": 1, "log_every": 1, **train_kw}})
    return cfg


def _model(cfg: SpinConfig, seed: int = 0):
    from training.spin.checkpoint import build_model

    torch.manual_seed(seed)
    return build_model(cfg.model, SkeletonBody(10))


def _batch(n: int = 4, real: int = 0, seed: int = 0) -> dict[str, torch.Tensor]:
    ds = spin_data.StickFigureDataset(SkeletonBody(10), SIZE, n, seed=seed)
    items = [spin_data.standardize(ds[i], 10, real=i < real) for i in range(n)]
    return spin_data.collate(items)


def test_bn_only_step_leaves_every_other_parameter_bit_identical():
    cfg = _cfg(trainable="bn")
    model = _model(cfg)
    assert all(m.momentum == cfg.model.bn_momentum == 0.1 for m in bn_modules(model))  # torchvision MobileNetV3: 0.01
    n = set_trainable(model, "bn")
    assert 0 < n < sum(p.numel() for p in model.parameters()) // 10
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    bn_names = {f"{name}.{p}" for name, m in model.named_modules() if m in bn_modules(model)
                for p in ("weight", "bias")}
    opt = torch.optim.AdamW(trainable_parameters(model), lr=1e-2, weight_decay=0.1)
    model.train()
    loss, _ = training_step(model, SpinLoss(cfg.loss, SIZE), _batch(), cfg)
    loss.backward()
    opt.step()
    changed = {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}
    assert changed and changed <= bn_names, sorted(changed - bn_names)[:5]
    assert len(changed) > len(bn_names) // 2          # the BN affine parameters did move
    for k, v in model.named_parameters():
        if k not in bn_names:
            assert torch.equal(v, before[k]), k


@pytest.mark.parametrize("ratio,batch", [(0.5, 8), (0.25, 8), (0.0, 4), (1.0, 4), (0.3, 10)])
def test_batch_mix_ratio_holds(ratio, batch):
    blank = {"image": np.zeros((4, 4, 3), np.uint8), "joints2d": np.zeros((24, 2))}
    syn = [spin_data.standardize(blank, 10, False)] * 7
    real = [spin_data.standardize(blank, 10, True)] * 5
    sampler = spin_data.MixedBatchSampler(len(syn), len(real), batch, ratio, steps=6, seed=1)
    loader = DataLoader(spin_data.concat(syn, real), batch_sampler=sampler, collate_fn=spin_data.collate)
    for b in loader:
        assert b["image"].shape[0] == batch
        assert int((~b["real"]).sum()) == round(ratio * batch)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "half"])
def test_ratio_outside_unit_interval_is_rejected(bad):
    with pytest.raises(ValueError, match="synthetic_ratio"):
        config_from_dict({"data": {"synthetic_ratio": bad}})
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        spin_data.MixedBatchSampler(4, 4, 8, bad if not isinstance(bad, str) else 2.0, steps=1)
    with pytest.raises(ValueError, match="unknown config key"):
        apply_overrides(SpinConfig(), ["data.ratio=0.5"])


def test_losses_decrease_on_a_fixed_small_batch():
    cfg = _cfg()
    model = _model(cfg).train()
    loss_fn = SpinLoss(cfg.loss, SIZE)
    batch = _batch(4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(25):
        loss, parts = training_step(model, loss_fn, batch, cfg)
        first = first or {k: float(v.detach()) for k, v in parts.items()}
        opt.zero_grad()
        loss.backward()
        opt.step()
    for k in ("kp2d", "kp3d", "pose"):
        assert float(parts[k].detach()) < 0.6 * first[k], (k, first[k], float(parts[k].detach()))


def test_weak_perspective_projection_by_hand():
    joints = torch.tensor([[[0.0, 0.0, 0.0], [0.5, -0.25, 3.0]]])
    cam = torch.tensor([[0.8, 0.1, -0.2]])
    np.testing.assert_allclose(project_weak(joints, cam)[0].numpy(), [[0.08, -0.16], [0.48, -0.36]], atol=1e-6)


def test_pseudo_labels_replace_only_real_samples():
    cfg = _cfg()
    teacher = _model(cfg, seed=3).eval()
    batch = _batch(4, real=2)
    images = spin_data.images_to_input(batch["image"])
    out = pseudo_label(teacher, images, batch, "replace", SIZE)
    with torch.no_grad():
        _, _, cam, joints = teacher(images[:2])
    torch.testing.assert_close(out["joints3d"][:2], joints)
    torch.testing.assert_close(out["joints2d"][:2], (project_weak(joints, cam) + 1) * SIZE / 2)
    for k in ("joints3d", "joints2d", "rotmats"):
        torch.testing.assert_close(out[k][2:], batch[k][2:])          # synthetic: ground truth kept


def test_train_resumes_and_checkpoint_mismatch_is_named(tmp_path):
    cfg = _cfg(steps=4, ckpt_every=2)
    summary = train(cfg, tmp_path / "run", progress=False, stop_after=2)
    assert summary["steps"] == 2
    summary = train(cfg, tmp_path / "run", progress=False)
    assert summary["steps"] == 4 and (tmp_path / "run" / "losses.png").is_file()
    assert any((tmp_path / "run" / "tb").iterdir())
    model, ck = load_model(tmp_path / "run" / "ckpt_last.pt", cfg.model)
    assert ck["body_model"] == "skeleton" and ck["step"] == 4
    other = apply_overrides(cfg, ["model.backbone=resnet18"])
    with pytest.raises(CheckpointMismatch, match="backbone: checkpoint 'mobilenet_v3_small' vs config 'resnet18'"):
        check_compatible(ck, other.model)
    with pytest.raises(CheckpointMismatch, match="body_model: checkpoint 'skeleton' vs config 'anny'"):
        check_compatible(ck, apply_overrides(cfg, ["model.body_model=anny"]).model)
    # Stage 2 from it: BN only, every non-BN weight of the stage-1 checkpoint unchanged.
    ft = apply_overrides(cfg, ["train.stage=finetune", "train.trainable=bn", "train.steps=2",
                               f"train.init_ckpt={tmp_path / 'run' / 'ckpt_last.pt'}"])
    train(ft, tmp_path / "ft", progress=False)
    tuned, _ = load_model(tmp_path / "ft" / "ckpt_last.pt", cfg.model)
    bn = {f"{n}.{p}" for n, m in tuned.named_modules() if m in bn_modules(tuned) for p in ("weight", "bias")}
    ref = dict(model.named_parameters())
    for k, v in tuned.named_parameters():
        assert torch.equal(v, ref[k]) or k in bn, k

    # Export agreement: the checkpoint through training.export, fp32 and fp16 files vs torch.
    out = tmp_path / "models"
    rc = export.main(["--out", str(out), "--per-frame-ckpt", str(tmp_path / "ft" / "ckpt_last.pt"), "--fp16",
                      "--window", "8", "--temporal-layers", "1", "--temporal-dim", "32", "--temporal-ffn", "32"])
    assert rc == 0
    meta = model_meta.load_metadata(out / export.PER_FRAME_FILE)
    assert meta.trained and meta.input_size == [SIZE, SIZE] and meta.architecture["backbone"] == "mobilenet_v3_small"
    assert "stick figures" in meta.training_data and meta.architecture["body_model"] == "skeleton"
    assert (out / export.PER_FRAME_FILE).stat().st_size < 0.6 * (out / "mocap_spin_fp32.onnx").stat().st_size
    images = torch.randn(2, 3, SIZE, SIZE)
    diffs = export.compare_onnx(tuned, out / "mocap_spin_fp32.onnx", {model_meta.PER_FRAME_INPUT: images},
                                model_meta.PER_FRAME_OUTPUTS)
    assert max(diffs.values()) < 1e-4, diffs
    diffs16 = export.compare_onnx(tuned, out / export.PER_FRAME_FILE, {model_meta.PER_FRAME_INPUT: images},
                                  model_meta.PER_FRAME_OUTPUTS)
    assert diffs16["joints"] < 5e-3, diffs16
    # --missing-only (what set-up runs) keeps the trained per-frame model; missing models follow its body.
    sha = model_meta.load_metadata(out / export.PER_FRAME_FILE).onnx_sha256
    (out / export.TEMPORAL_FILE).unlink()
    assert export.main(["--out", str(out), "--missing-only", "--window", "8", "--temporal-layers", "1",
                        "--temporal-dim", "32", "--temporal-ffn", "32"]) == 0
    assert model_meta.load_metadata(out / export.PER_FRAME_FILE).onnx_sha256 == sha
    assert model_meta.body_model_of(model_meta.load_metadata(out / export.TEMPORAL_FILE)) == "skeleton"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_ranks_stay_in_sync(tmp_path):
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_ddp_rank, args=(r, 2, port, str(tmp_path / "ddp"), q)) for r in range(2)]
    for p in procs:
        p.start()
    import queue
    import time

    got, deadline = {}, time.monotonic() + 240
    while len(got) < len(procs):            # a rank that dies fails the test at once, not after the timeout
        try:
            r, res = q.get(timeout=1.0)
            got[r] = res
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            assert not dead and time.monotonic() < deadline, f"DDP ranks failed (exit codes {dead}) or timed out"
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert got[0]["world"] == 2 == got[1]["world"]
    np.testing.assert_array_equal(got[0]["params"], got[1]["params"])
    assert not np.array_equal(got[0]["params"], got[0]["init"])     # it did train
    assert not np.array_equal(got[0]["first_image"], got[1]["first_image"])  # ranks saw different samples


def _ddp_rank(rank: int, world: int, port: int, out: str, q) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    import torch.distributed as dist
    from training.spin import train as train_mod

    cfg = _cfg(steps=3, ckpt_every=3)
    seen = {}
    orig = train_mod.training_step

    def spy(model, loss_fn, batch, cfg_, *args, **kw):
        seen.setdefault("first_image", batch["image"].numpy().copy())
        seen["model"] = model.module if hasattr(model, "module") else model
        seen.setdefault("init", torch.cat([p.detach().reshape(-1) for p in seen["model"].parameters()]).numpy().copy())
        return orig(model, loss_fn, batch, cfg_, *args, **kw)

    train_mod.training_step = spy
    summary = train_mod.train(cfg, out, resume=False, progress=False)
    params = torch.cat([p.detach().reshape(-1) for p in seen["model"].parameters()]).numpy()
    q.put((rank, {"params": params, "init": seen["init"], "first_image": seen["first_image"],
                  "world": summary["world_size"]}))
    dist.barrier()
    dist.destroy_process_group()


def test_slim_checkpoint_continues_training(tmp_path):
    from training.spin.checkpoint import slim_checkpoint

    cfg = _cfg(steps=1)
    train(cfg, tmp_path / "a", progress=False)
    slim = slim_checkpoint(tmp_path / "a" / "ckpt_last.pt", tmp_path / "slim.pt")
    ck = torch.load(slim, weights_only=True)
    assert "optimizer" not in ck and all(v.dtype != torch.float32 for v in ck["model"].values())
    full, _ = load_model(tmp_path / "a" / "ckpt_last.pt")
    half, _ = load_model(slim)
    for (k, a), (_, b) in zip(full.state_dict().items(), half.state_dict().items()):
        torch.testing.assert_close(a, b, atol=2e-3, rtol=1e-3)
    more = apply_overrides(cfg, [f"train.init_ckpt={slim}"])
    summary = train(more, tmp_path / "b", progress=False)
    assert summary["steps"] == 1 and "from slim.pt" in summary["training_data"]


def test_average_checkpoints_is_the_elementwise_mean_and_refuses_another_architecture(tmp_path):
    from training.spin.checkpoint import CheckpointMismatch, average_checkpoints, main as ckpt_main

    cfg = _cfg(steps=1)
    train(cfg, tmp_path / "a", progress=False)
    train(apply_overrides(cfg, ["train.seed=5", "train.lr=0.01"]), tmp_path / "b", progress=False)
    a, b = (torch.load(tmp_path / d / "ckpt_last.pt", weights_only=True) for d in "ab")
    out = average_checkpoints([tmp_path / "a" / "ckpt_last.pt", tmp_path / "b" / "ckpt_last.pt"], tmp_path / "m.pt")
    m = torch.load(out, weights_only=True)
    differ = 0
    for k, v in m["model"].items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (a["model"][k].double() + b["model"][k].double()).div(2).float())
            differ += int(not torch.equal(a["model"][k], b["model"][k]))
        else:
            assert torch.equal(v, b["model"][k])
    assert differ > 0 and "optimizer" not in m and "mean of 2 checkpoints" in m["training_data"]
    model, _ = load_model(out)                              # loads as a normal checkpoint
    assert sum(p.numel() for p in model.parameters()) > 0
    train(apply_overrides(cfg, ["model.hidden=32"]), tmp_path / "c", progress=False)
    with pytest.raises(CheckpointMismatch, match="hidden"):
        average_checkpoints([tmp_path / "c" / "ckpt_last.pt", tmp_path / "a" / "ckpt_last.pt"], tmp_path / "x.pt")
    assert ckpt_main(["average", "--out", str(tmp_path / "y.pt"), str(tmp_path / "a" / "ckpt_last.pt")]) == 2
    assert not (tmp_path / "y.pt").exists()
