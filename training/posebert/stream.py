"""Streaming inference offline: run a temporal model over a sequence exactly as the runtime does.

The runtime (:class:`pose_estimation_ros.perception.window.PoseWindow`) keeps the last T frame slots, newest
LAST, a missing estimate as a masked slot (zeros, ``valid=False``), and slots before the stream
started masked too. At frame ``n`` it runs the model on that window and reads index ``T-1-lag``: the
estimate for frame ``n - lag``. :func:`stream_windows` builds all those windows of a sequence at once
and :func:`stream_estimates` runs a torch model or an ONNX file over them in batches.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from pose_estimation_ros.perception import metadata as model_meta

__all__ = ["stream_windows", "stream_estimates", "torch_runner", "onnx_runner", "hold_last_valid"]

Runner = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def stream_windows(pose6d: torch.Tensor, betas: torch.Tensor, valid: torch.Tensor,
                   window: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Window ``n`` holds frames ``n-T+1 .. n`` (newest last); slots before frame 0 are masked zeros.

    Args:
        pose6d: (N, 24, 6); betas: (N, NB); valid: (N,) bool.
    Returns:
        (N, T, 24, 6), (N, T, NB), (N, T) bool.
    """
    pad = window - 1
    v = valid.bool()
    p = torch.cat((pose6d.new_zeros(pad, *pose6d.shape[1:]), pose6d * v[:, None, None]))
    b = torch.cat((betas.new_zeros(pad, betas.shape[1]), betas * v[:, None]))
    vv = torch.cat((torch.zeros(pad, dtype=torch.bool), v))
    idx = torch.arange(pose6d.shape[0])[:, None] + torch.arange(window)[None]
    return p[idx], b[idx], vv[idx]


def torch_runner(model: torch.nn.Module) -> Runner:
    """Batched (pose6d, betas, valid) -> pose6d_out with a PoseBERT in eval mode, no grad."""
    def run(pose6d, betas, valid):
        with torch.no_grad():
            return model.regress(pose6d, valid) if hasattr(model, "regress") else model(pose6d, betas, valid)[0]
    return run


def onnx_runner(path: str | Path, threads: int = 1) -> Runner:
    """Runner over an exported temporal ONNX file (onnxruntime CPU)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = model_meta.TEMPORAL_INPUTS

    def run(pose6d, betas, valid):
        out = sess.run([model_meta.TEMPORAL_OUTPUTS[0]], {names[0]: pose6d.numpy().astype(np.float32),
                                                        names[1]: betas.numpy().astype(np.float32),
                                                        names[2]: valid.numpy().astype(bool)})[0]
        return torch.as_tensor(out)
    return run


def stream_estimates(run: Runner, pose6d: torch.Tensor, betas: torch.Tensor, valid: torch.Tensor,
                     window: int, lag: int = 0, batch: int = 512) -> torch.Tensor:
    """Per-frame streaming estimates of a sequence.

    Returns:
        (N - lag, 24, 6): row ``i`` is the estimate for frame ``i``, produced when frame ``i + lag``
        arrived (the window ending at ``i + lag``, read at index ``T-1-lag``). The last ``lag`` frames
        have no estimate yet when the sequence ends.
    """
    wp, wb, wv = stream_windows(pose6d, betas, valid, window)
    outs = []
    for s in range(lag, wp.shape[0], batch):
        e = min(s + batch, wp.shape[0])
        outs.append(run(wp[s:e], wb[s:e], wv[s:e])[:, window - 1 - lag])
    return torch.cat(outs) if outs else pose6d.new_zeros(0, *pose6d.shape[1:])


def hold_last_valid(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per-frame baseline over gaps: each invalid frame repeats the last valid one (the first valid
    frame before the first one)."""
    idx = torch.where(valid.bool(), torch.arange(len(valid)), torch.full((len(valid),), -1))
    idx = torch.cummax(idx, 0).values
    first = int(torch.nonzero(valid)[0]) if valid.any() else 0
    idx = torch.where(idx < 0, first, idx)
    return x[idx]
