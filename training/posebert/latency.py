"""Per-window latency of an exported temporal model in onnxruntime (CPU), as the perception node runs it.

    python -m training.posebert.latency models/posebert.onnx [--threads 1] [--runs 500]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from pose_estimation_ros.perception import metadata as model_meta


def ort_latency(path: str | Path, threads: int = 1, runs: int = 300, warmup: int = 30,
                window: int | None = None, num_betas: int | None = None) -> dict[str, float]:
    """Median / p90 / mean milliseconds of one (1, T) window through ``path`` on the CPU provider.

    Args:
        threads: onnxruntime intra-op threads (0 = onnxruntime's default, all cores).
    """
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    if window is None:
        window = int(sess.get_inputs()[0].shape[1])
    if num_betas is None:      # the graph's shape input (10 for the skeleton body, 6 for Anny)
        num_betas = int(sess.get_inputs()[1].shape[2])
    rng = np.random.default_rng(0)
    names = model_meta.TEMPORAL_INPUTS
    feeds = {names[0]: rng.normal(size=(1, window, 24, 6)).astype(np.float32),
             names[1]: rng.normal(size=(1, window, num_betas)).astype(np.float32),
             names[2]: rng.random((1, window)) > 0.2}
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    t = np.asarray(times)
    return {"median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90)), "mean_ms": float(t.mean()),
            "threads": threads, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.posebert.latency", description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--threads", type=int, nargs="+", default=[1])
    p.add_argument("--runs", type=int, default=500)
    a = p.parse_args(argv)
    for m in a.models:
        for th in a.threads:
            r = ort_latency(m, th, a.runs)
            print(f"{m}: threads={th} median {r['median_ms']:.3f} ms  p90 {r['p90_ms']:.3f} ms  "
                  f"({Path(m).stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
