"""The seed's Table 1 and Fig. 11 on our benchmark: stage-1 only vs fine-tuning variants, synthetic-ratio sweep.

    python -m training.spin.ablation --config training/configs/spin_ablation.yaml --out runs/spin_ablation
        [--ratios 0 0.25 0.5 0.75 1] [--rows stage1 ft_all ft_bn ft_bn_rerender ft_bn_rerender_mocap]
        [--ft-steps 50] [--plot docs/mocap_spin_ratio.png] [--table docs/mocap_spin_ablation.md]

Data (all renders; the "real" set is the stand-in appearance domain, not photos):
``real`` = ``data.real_shards`` (stand-in domain: procedural rooms and fabrics, random standing poses);
``mocap`` = ``data.shard_dirs`` (mocap renderings: train subjects' motions, photo backgrounds/fabrics);
``rerender`` = ``--rerender-shards`` (the stand-in set's poses rendered in the mocap appearance: the seed's
"renderings of real data"). Test: the held-out subjects' motions in the stand-in "real" appearance
(``<real_shards>/test``) and in the mocap appearance (``<shard_dirs>/test``).

Rows: ``stage1`` (trained on the real set only), ``ft_all`` (all parameters, real + mocap at the
ratio), ``ft_bn`` (BN affine only + statistics: the seed's recipe), ``ft_bn_rerender`` (BN only, synthetic =
re-renderings of real), ``ft_bn_rerender_mocap`` (BN only, synthetic = re-renderings + mocap renderings).
The sweep repeats ``ft_bn`` at every ``--ratios`` value. Every run is resumable (``training.spin.train``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from training.spin import data as spin_data
from training.spin.checkpoint import build_body, load_model
from training.spin.config import SpinConfig, apply_overrides, load_config
from training.spin.train import evaluate_loader, train

__all__ = ["ROWS", "run_ablation", "main"]

ROWS: dict[str, str] = {
    "stage1": "stage 1 only (real set)",
    "ft_all": "+ fine-tune all parameters (real + mocap renderings)",
    "ft_bn": "+ fine-tune BN only (real + mocap renderings; the seed's recipe)",
    "ft_bn_rerender": "BN only, synthetic = renderings of real data",
    "ft_bn_rerender_mocap": "BN only, synthetic = renderings of real data + of mocap",
}


def _test_loader(dirs: list[str], body, cfg: SpinConfig) -> DataLoader | None:
    dirs = [str(Path(d) / "test") for d in dirs if (Path(d) / "test").is_dir()]
    if not dirs:
        return None
    ds = spin_data._Standardized(spin_data.ShardDataset(dirs, size=cfg.model.input_size), body.num_shape, real=True)
    return DataLoader(ds, batch_size=32, collate_fn=spin_data.collate)


def _run_cfg(base: SpinConfig, row: str, ratio: float, stage1: Path, rerender: list[str],
             ft_steps: int | None = None) -> SpinConfig:
    ft = ["train.stage=finetune", f"train.init_ckpt={stage1}", f"train.steps={ft_steps or base.train.steps // 2}",
          f"data.synthetic_ratio={ratio}", "train.warmup_steps=10"]
    if row == "ft_all":
        return apply_overrides(base, ft + ["train.trainable=all", f"train.lr={base.train.lr / 5}"])
    if row == "ft_bn":
        return apply_overrides(base, ft + ["train.trainable=bn"])
    if row == "ft_bn_rerender":
        return apply_overrides(base, ft + ["train.trainable=bn", f"data.shard_dirs={json.dumps(rerender)}"])
    if row == "ft_bn_rerender_mocap":
        return apply_overrides(base, ft + ["train.trainable=bn",
                                           f"data.shard_dirs={json.dumps(rerender + base.data.shard_dirs)}"])
    raise ValueError(f"unknown ablation row '{row}'; expected one of {list(ROWS)}")


def _evaluate(ckpt: Path, loaders: dict[str, DataLoader | None], body) -> dict[str, float]:
    model, _ = load_model(ckpt, body=body)
    res: dict[str, float] = {}
    for name, loader in loaders.items():
        if loader is not None:
            r = evaluate_loader(model, loader)
            res.update({f"{name}_{k}": v for k, v in r.items() if k != "n"})
    return res


def run_ablation(base: SpinConfig, out: Path, rows: list[str], ratios: list[float], rerender: list[str],
                 progress: bool = False, ft_steps: int | None = None) -> dict[str, Any]:
    """Train / resume every run and evaluate it; returns {"rows": {...}, "sweep": {ratio: {...}}}."""
    body = build_body(base.model)
    loaders = {"real": _test_loader(base.data.real_shards, body, base),
               "mocap": _test_loader(base.data.shard_dirs, body, base)}
    s1 = apply_overrides(base, ["data.synthetic_ratio=0.0", "train.stage=pretrain", "train.trainable=all"])
    train(s1, out / "stage1", progress=progress)
    stage1 = out / "stage1" / "ckpt_last.pt"
    results: dict[str, Any] = {"rows": {}, "sweep": {}, "base": base.name}
    ratio = base.data.synthetic_ratio
    for row in rows:
        if row == "stage1":
            results["rows"][row] = _evaluate(stage1, loaders, body)
            continue
        cfg = _run_cfg(base, row, ratio, stage1, rerender, ft_steps)
        train(cfg, out / row, progress=progress)
        results["rows"][row] = _evaluate(out / row / "ckpt_last.pt", loaders, body)
    for r in ratios:
        run = out / f"ft_bn_ratio{r:g}"
        if r == ratio and "ft_bn" in rows:
            results["sweep"][r] = results["rows"]["ft_bn"]
            continue
        train(_run_cfg(base, "ft_bn", r, stage1, rerender, ft_steps), run, progress=progress)
        results["sweep"][r] = _evaluate(run / "ckpt_last.pt", loaders, body)
    (out / "results.json").write_text(json.dumps(results, indent=1))
    return results


def table(results: dict[str, Any]) -> str:
    cols = [("real_mpjpe", "stand-in real MPJPE"), ("real_pa_mpjpe", "stand-in real PA-MPJPE"),
            ("mocap_mpjpe", "mocap-render MPJPE"), ("mocap_pa_mpjpe", "mocap-render PA-MPJPE")]
    lines = ["| row | " + " | ".join(c[1] for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for row, r in results["rows"].items():
        lines.append(f"| {ROWS[row]} | " + " | ".join(f"{r[c]:.1f}" if c in r else "–" for c, _ in cols) + " |")
    lines += ["", "| synthetic ratio (BN only) | " + " | ".join(c[1] for c in cols) + " |",
              "|---|" + "---|" * len(cols)]
    for ratio, r in sorted(results["sweep"].items(), key=lambda kv: float(kv[0])):
        lines.append(f"| {float(ratio):g} | " + " | ".join(f"{r[c]:.1f}" if c in r else "–" for c, _ in cols) + " |")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(results["sweep"].items(), key=lambda kv: float(kv[0]))
    x = [float(k) for k, _ in items]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for key, label in (("real_pa_mpjpe", "stand-in real PA-MPJPE"), ("real_mpjpe", "stand-in real MPJPE")):
        ax.plot(x, [v.get(key, float("nan")) for _, v in items], "o-", label=label)
    ax.set_xlabel("synthetic fraction of each fine-tuning batch")
    ax.set_ylabel("mm (held-out subjects)")
    ax.set_title("BN-only fine-tune: synthetic-ratio sweep")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.spin.ablation", description=__doc__.splitlines()[0])
    p.add_argument("--config", default="training/configs/spin_ablation.yaml")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default="runs/spin_ablation")
    p.add_argument("--rows", nargs="*", default=list(ROWS), choices=list(ROWS))
    p.add_argument("--ratios", type=float, nargs="*", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    p.add_argument("--rerender-shards", nargs="*", default=["runs/spin/shards_rerender"])
    p.add_argument("--ft-steps", type=int, default=None, help="fine-tuning steps per run (default train.steps / 2)")
    p.add_argument("--plot", default=None)
    p.add_argument("--table", default=None)
    a = p.parse_args(argv)
    base = apply_overrides(load_config(a.config), a.set)
    for r in a.ratios:
        if not 0.0 <= r <= 1.0:
            p.error(f"--ratios: {r:g} is outside [0, 1]")
    results = run_ablation(base, Path(a.out), a.rows, a.ratios, a.rerender_shards, ft_steps=a.ft_steps)
    text = table(results)
    print(text)
    if a.table:
        Path(a.table).write_text(text + "\n")
    if a.plot:
        plot(results, Path(a.plot))
    return 0


if __name__ == "__main__":
    sys.exit(main())
