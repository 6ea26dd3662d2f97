"""Backbone benchmark for CPU robots: training images/s and ONNX Runtime latency of the per-frame model.

    python -m training.spin.bench_backbones [--backbones mobilenet_v3_large resnet18 ...]
        [--sizes 160 224] [--batch 32] [--train-threads 2] [--ort-threads 1 2] [--runs 30] [--body skeleton]
    python -m training.spin.bench_backbones --onnx models/mocap_spin.onnx      # time exported files only

For every backbone and input size: the whole :class:`~training.models.spin.PerFrameRegressor`
(backbone + 3-iteration regressor + body joints) is timed for one training step (forward, backward,
AdamW step; batch ``--batch``, median of ``--train-steps`` after a warm-up), then exported to ONNX and
timed in onnxruntime (CPUExecutionProvider, batch 1, ``--ort-threads`` intra-op threads, p50 / p90 of
``--runs`` runs, and the median process CPU ms per run). Prints a Markdown table (and writes it to
``--out`` if given). The machine's load average is printed with it: on a shared CPU the wall times move
with it; the CPU time is what the model costs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from training.models.backbones import BACKBONES

__all__ = ["train_images_per_s", "ort_latency_ms", "main"]


def _model(backbone: str, body_name: str):
    from training.export import make_body
    from training.models.spin import PerFrameRegressor

    torch.manual_seed(0)
    return PerFrameRegressor(backbone, body=make_body(body_name))


def train_images_per_s(model: torch.nn.Module, size: int, batch: int, steps: int) -> float:
    """Median training throughput (images/s) over ``steps`` steps after one warm-up step."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size)
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        out = model(x)
        loss = sum(o.square().mean() for o in out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i:
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def ort_latency_ms(path: Path, size: int, threads: int, runs: int) -> tuple[float, float, float]:
    """(p50, p90) wall ms of one batch-1 onnxruntime run of the exported model, after 3 warm-up runs, and the
    median process CPU ms per run (all threads; on a shared, overloaded CPU the wall time mostly measures
    waiting for a core, the CPU time what the model costs)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {}
    for inp in sess.get_inputs():     # the image, and the keypoints of a keypoint-input model
        shape = [1 if not isinstance(d, int) else d for d in inp.shape]
        feeds[inp.name] = rng.standard_normal(shape, dtype=np.float32) if inp.name != "keypoints" else \
            rng.uniform(0, 1, shape).astype(np.float32)
    for _ in range(3):
        sess.run(None, feeds)
    t, c = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        sess.run(None, feeds)
        t.append(1000 * (time.perf_counter() - t0))
        c.append(1000 * (time.process_time() - c0))
    return float(np.percentile(t, 50)), float(np.percentile(t, 90)), float(np.median(c))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.spin.bench_backbones", description=__doc__.splitlines()[0])
    p.add_argument("--backbones", nargs="*", default=list(BACKBONES))
    p.add_argument("--sizes", type=int, nargs="*", default=[160, 224])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--train-steps", type=int, default=2)
    p.add_argument("--train-threads", type=int, default=2)
    p.add_argument("--ort-threads", type=int, nargs="*", default=[1, 2])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--body", default="anny", choices=["skeleton", "anny"])
    p.add_argument("--no-train", action="store_true", help="latency only")
    p.add_argument("--onnx", nargs="*", default=[], help="only time these exported per-frame ONNX files")
    p.add_argument("--out", default=None, help="also write the table here")
    a = p.parse_args(argv)
    if a.onnx:
        from pose_estimation_ros.perception import metadata as model_meta

        print("| file | backbone | input | MB | "
              + " | ".join(f"ORT p50 / p90 / CPU ms ({t} thr)" for t in a.ort_threads) + " |")
        print("|---|---|---|---|" + "---|" * len(a.ort_threads))
        for f in a.onnx:
            meta = model_meta.load_metadata(f)
            size = int(meta.input_size[0])
            lat = [ort_latency_ms(Path(f), size, t, a.runs) for t in a.ort_threads]
            mb = Path(f).stat().st_size / 1e6
            print(f"| {Path(f).name} | {meta.architecture.get('backbone')} | {size} | {mb:.1f} | "
                  + " | ".join(f"{p50:.1f} / {p90:.1f} / {cpu:.1f}" for p50, p90, cpu in lat) + " |")
        return 0
    for b in a.backbones:
        if b not in BACKBONES:
            p.error(f"unknown backbone '{b}'; expected one of {sorted(BACKBONES)}")
    from training.export import export_per_frame

    torch.set_num_threads(a.train_threads)
    head = (f"| backbone | input | params (M) | ONNX MB | train img/s (batch {a.batch}, {a.train_threads} thr) | "
            + " | ".join(f"ORT p50 / p90 / CPU ms ({t} thr)" for t in a.ort_threads) + " |")
    rows = [head, "|" + "---|" * (5 + len(a.ort_threads))]
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for b in a.backbones:
            model = _model(b, a.body)
            nparams = sum(q.numel() for q in model.parameters()) / 1e6
            for size in a.sizes:
                ips = float("nan") if a.no_train else train_images_per_s(model, size, a.batch, a.train_steps)
                path = export_per_frame(model.eval(), Path(tmp) / f"{b}_{size}.onnx", input_size=size)
                lat = [ort_latency_ms(path, size, t, a.runs) for t in a.ort_threads]
                row = (f"| {b} | {size} | {nparams:.1f} | {path.stat().st_size / 1e6:.1f} | {ips:.1f} | "
                       + " | ".join(f"{p50:.1f} / {p90:.1f} / {cpu:.1f}" for p50, p90, cpu in lat) + " |")
                rows.append(row)
                print(row, flush=True)
    print(f"load average after: {os.getloadavg()}")
    table = "\n".join(rows)
    print(table)
    if a.out:
        Path(a.out).write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
