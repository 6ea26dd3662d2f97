"""Masking-ratio ablation (the PoseBERT paper's Table 3): train one small model per (mask ratio, training
noise) and score each on held-out motion, with every detection present and with missing detections.

    python -m training.posebert.ablation --config training/configs/posebert_ablation.yaml \\
        --runs runs/ablation --md docs/posebert_ablation.md --plot docs/posebert_ablation.png

Each variant is a normal training run in ``runs/ablation/<variant>`` (resumable; a finished run is
reused). The evaluation streams the causal model exactly like the runtime (read-out frame T-1), with
the config's evaluation noise (``eval.noise_std_deg``) on the per-frame input.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from training.posebert.checkpoint import load_model
from training.posebert.config import apply_overrides, load_config
from training.posebert.evaluate import Method, body_joints_fn, evaluate_clips, synthetic_clips
from training.posebert.checkpoint import build_body
from training.posebert.noise_model import GaussianNoise
from training.posebert.stream import torch_runner
from training.posebert.train import load_data, train

__all__ = ["run_ablation", "ablation_table", "ablation_plot"]


def _variant(ratio: float, noise: str) -> str:
    return f"mask{100 * ratio:g}_{noise}"


def _head(seqs: list, frames: int) -> list:
    """The first ``frames`` frames of each sequence (all when ``frames`` <= 0)."""
    if frames <= 0:
        return seqs
    from training.data.motion import MotionSequence
    return [MotionSequence(s.rotmats[:frames], s.transl[:frames], s.shape, s.body_model, s.fps, s.subject, s.sequence,
                           s.source) for s in seqs]


def run_ablation(cfg_path: str, runs: Path, ratios: list[float], noises: list[str], missing: float,
                 progress: bool = True, overrides: list[str] | None = None, clip_frames: int = 0) -> dict:
    base = apply_overrides(load_config(cfg_path), overrides or [])
    torch.set_num_threads(max(base.train.threads, 1))
    data = load_data(base)
    test = _head(data[2] or data[1], clip_frames)
    clips = {m: synthetic_clips(test, GaussianNoise(base.eval.noise_std_deg), m, base.eval.seed, base.model.num_betas,
                                base.data.max_pitch_deg) for m in (0.0, missing)}
    w, lag = base.model.window, base.model.lag
    fk = body_joints_fn(build_body(base.model))
    results = {"_input": {m: evaluate_clips(c, [Method("in", None, lag, w)], fk)["in"] for m, c in clips.items()},
               "_meta": {"eval_noise_deg": base.eval.noise_std_deg, "missing": missing,
                         "test_subjects": sorted({s.subject for s in test}, key=lambda x: (len(x), x)),
                         "steps": base.train.steps, "init_from": base.train.init_from, "clip_frames": clip_frames,
                         "frames": evaluate_clips(clips[0.0], [Method("in", None, lag, w)], fk)["_gt"]["frames"]}}
    for noise in noises:
        for r in ratios:
            name = _variant(r, noise)
            cfg = apply_overrides(base, [f"corruption.mask_ratio={r}", f"corruption.noise={noise}", f"name={name}"])
            out = runs / name
            summ = out / "summary.json"
            done = summ.is_file() and json.loads(summ.read_text()).get("steps") == cfg.train.steps
            if not done:
                train(cfg, out, resume=True, progress=progress, data=data)
            model, _ = load_model(out / "ckpt_last.pt")
            meth = [Method(name, torch_runner(model), model.lag, model.window)]
            results[name] = {"mask_ratio": r, "noise": noise,
                             **{m: evaluate_clips(c, meth, fk)[name] for m, c in clips.items()}}
            print(f"[ablation] {name}: " + json.dumps({m: {k: round(v, 1) for k, v in results[name][m].items()}
                                                       for m in clips}), flush=True)
    return results


def ablation_table(results: dict) -> str:
    meta = results["_meta"]
    miss = meta["missing"]
    hdr = (f"| mask ratio | training noise | MPJPE | PA-MPJPE | accel err | MPJPE, {100 * miss:g}% missing | "
           f"PA-MPJPE, {100 * miss:g}% missing | accel err, {100 * miss:g}% missing |")
    lines = [hdr, "|---|---|---|---|---|---|---|---|"]
    inp = results["_input"]
    a, b = inp[0.0], inp[miss]
    lines.append(f"| per-frame input | — | {a['mpjpe']:.1f} | {a['pa_mpjpe']:.1f} | {a['accel_err']:.1f} "
                 f"| {b['mpjpe']:.1f} | {b['pa_mpjpe']:.1f} | {b['accel_err']:.1f} |")
    for name, r in results.items():
        if name.startswith("_"):
            continue
        a, b = r[0.0], r[miss]
        lines.append(f"| {100 * r['mask_ratio']:g}% | {'Gaussian' if r['noise'] == 'gaussian' else 'none'} | "
                     f"{a['mpjpe']:.1f} | {a['pa_mpjpe']:.1f} | {a['accel_err']:.1f} | {b['mpjpe']:.1f} | "
                     f"{b['pa_mpjpe']:.1f} | {b['accel_err']:.1f} |")
    return "\n".join(lines)


def ablation_plot(results: dict, path: str | Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta = results["_meta"]
    miss = meta["missing"]
    rows = [r for k, r in results.items() if not k.startswith("_")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    panels = [("pa_mpjpe", 0.0, "PA-MPJPE (mm), all detections"),
              ("mpjpe", miss, f"MPJPE (mm), {100 * miss:g}% missing"),
              ("accel_err", 0.0, "accel error (mm/frame²), all detections")]
    for ax, (key, m, title) in zip(axes, panels):
        for noise, style in (("gaussian", "o-"), ("none", "s--")):
            pts = sorted((r["mask_ratio"], r[m][key]) for r in rows if r["noise"] == noise)
            if pts:
                ax.plot([100 * x for x, _ in pts], [y for _, y in pts], style,
                        label=f"trained with {'Gaussian noise' if noise == 'gaussian' else 'no noise'}")
        ax.axhline(results["_input"][m][key], color="gray", ls=":", label="per-frame input")
        ax.set_xlabel("training mask ratio (%)")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"PoseBERT causal, masking ablation (held-out subjects {','.join(meta['test_subjects'])}, "
                 f"input noise {meta['eval_noise_deg']:g} deg)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.posebert.ablation", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--runs", default="runs/ablation")
    p.add_argument("--ratios", type=float, nargs="+", default=[0.0, 0.125, 0.25, 0.375])
    p.add_argument("--noise", nargs="+", default=["gaussian", "none"], choices=["gaussian", "none"])
    p.add_argument("--missing", type=float, default=0.25, help="fraction of missing detections in the 2nd scenario")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--md", default=None)
    p.add_argument("--plot", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--clip-frames", type=int, default=0, help="score only the first N frames of each held-out clip")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    res = run_ablation(a.config, Path(a.runs), a.ratios, a.noise, a.missing, not a.no_progress, a.set, a.clip_frames)
    table = ablation_table(res)
    print(table)
    if a.md:
        Path(a.md).parent.mkdir(parents=True, exist_ok=True)
        meta = res["_meta"]
        Path(a.md).write_text(
            f"Masking ablation: causal PoseBERT per (training mask ratio, training noise), {meta['steps']} steps each"
            + (f" from {Path(meta['init_from']).name}" if meta.get("init_from") else "") + "; "
            f"held-out subjects {','.join(meta['test_subjects'])} ({meta['frames']} frames"
            + (f", the first {meta['clip_frames']} of each clip" if meta.get("clip_frames") else "") + "), per-frame input = "
            f"ground truth + Gaussian {meta['eval_noise_deg']:g} deg; errors in mm, accel in mm/frame².\n\n{table}\n")
    if a.plot:
        ablation_plot(res, a.plot)
    if a.json:
        Path(a.json).write_text(json.dumps({k: v for k, v in res.items()}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
