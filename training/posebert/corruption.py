"""Corrupt ground-truth pose windows the way a per-frame estimator errs (PoseBERT training inputs).

Per window of T frames (all counts exact per window; a fractional ``ratio * T`` is rounded
stochastically so the expectation is exact):

1. **random replacement**: ``replace_ratio * T`` frames take the pose of a random frame of another
   sequence / time (global orientation re-expressed in this window's camera view); they stay *valid*
   (the model must learn to spot and ignore such outliers, like a per-frame model's failures).
2. **masking**: ``mask_ratio * T`` other frames are replaced by the learned mask token (``valid=False``),
   as in BERT / the PoseBERT paper (12.5% by default).
3. **rotation noise** on every frame: ``R @ exp(e)`` with ``e`` from the noise model
   (:mod:`.noise_model`: Gaussian by default, or fitted to the per-frame model), the std scaled by a
   per-window factor ``U(1 - jitter, 1 + jitter)``.
4. **dropouts** of whole detections: with ``dropout_prob`` one burst of ``U{1..dropout_max_len}``
   consecutive frames is missing, and with ``start_pad_prob`` the window is the start of a stream
   (its first ``U{1..T-1}`` slots are empty), exactly as the runtime window looks. Dropped frames are
   ``valid=False`` (an input slot the runtime never filled).

Invalid frames carry zeros (as the runtime's window does); the model never reads them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from training.geometry.rotations import rotmat_to_rot6d
from training.posebert.config import CorruptionConfig
from training.posebert.noise_model import NoiseModel, apply_rotation_noise

__all__ = ["Corrupted", "corrupt", "exact_counts"]


@dataclass
class Corrupted:
    pose6d: torch.Tensor     # (B, T, 24, 6) model input
    betas: torch.Tensor      # (B, T, NB) model input
    valid: torch.Tensor      # (B, T) bool
    masked: torch.Tensor     # (B, T) bool: mask-token frames
    replaced: torch.Tensor   # (B, T) bool: random replacement (still valid unless dropped)
    dropped: torch.Tensor    # (B, T) bool: missed detections (bursts, stream start)


def exact_counts(batch: int, frames: int, ratio: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B,) integer counts with ``E[count] = ratio * frames``: floor plus a Bernoulli of the fraction."""
    x = ratio * frames
    base = int(x)
    frac = x - base
    if frac <= 1e-9:
        return torch.full((batch,), min(base, frames), dtype=torch.long)
    extra = (torch.rand(batch, generator=generator) < frac).long()
    return torch.clamp(base + extra, 0, frames)


def corrupt(gt_rotmats: torch.Tensor, betas: torch.Tensor, cfg: CorruptionConfig,
            noise: NoiseModel | None, generator: torch.Generator | None = None,
            replacement_pool=None, view: torch.Tensor | None = None,
            noise_scale: torch.Tensor | None = None) -> Corrupted:
    """Corrupt a batch of ground-truth windows.

    Args:
        gt_rotmats: (B, T, 24, 3, 3) ground truth, global orientation already in the camera view.
        betas: (B, T, NB) ground-truth shape.
        cfg: ratios / probabilities.
        noise: rotation noise model, or None for no noise.
        replacement_pool: callable ``n -> (n, 24, 3, 3)`` random world-frame poses (e.g.
            :meth:`training.posebert.data.MotionBank.random_frames`), or None to draw replacements from
            other windows of the batch.
        view: (B, 3, 3) camera-from-world rotations of the windows (applied to replacement poses).
        noise_scale: optional (B,) per-window multiplier of the noise std (the trainer's noise
            curriculum; 0 = a clean window). Replaces the ``noise_std_jitter`` factor when given.
    """
    b, t = gt_rotmats.shape[:2]
    dev = gt_rotmats.device
    rot = gt_rotmats.clone()
    order = torch.rand(b, t, generator=generator).argsort(dim=1)            # random frame order per window
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(t).expand(b, t).contiguous())      # rank of each frame in the order
    n_rep = exact_counts(b, t, cfg.replace_ratio, generator)
    n_mask = exact_counts(b, t, cfg.mask_ratio, generator)
    n_mask = torch.minimum(n_mask, t - n_rep)
    replaced = rank < n_rep[:, None]
    masked = (rank >= n_rep[:, None]) & (rank < (n_rep + n_mask)[:, None])

    if replaced.any():
        n = int(replaced.sum())
        if replacement_pool is not None:
            src = replacement_pool(n).to(rot)
            if view is not None:
                bi = replaced.nonzero()[:, 0]
                src = src.clone()
                src[:, 0] = view[bi] @ src[:, 0]
        else:  # frames of other windows of this batch (already in their own views)
            flat = gt_rotmats.reshape(b * t, *gt_rotmats.shape[2:])
            src = flat[torch.randint(b * t, (n,), generator=generator)]
        rot[replaced] = src

    if noise is not None:
        if noise_scale is not None:
            scale = noise_scale.to(torch.float32)
        else:
            j = getattr(cfg, "noise_std_jitter", 0.0)
            scale = 1 + (torch.rand(b, generator=generator) * 2 - 1) * j
        rot = apply_rotation_noise(rot, noise.sample(b, t, generator, scale).to(rot))

    dropped = torch.zeros(b, t, dtype=torch.bool, device=dev)
    if cfg.dropout_prob > 0 and cfg.dropout_max_len > 0:
        has = torch.rand(b, generator=generator) < cfg.dropout_prob
        length = torch.randint(1, cfg.dropout_max_len + 1, (b,), generator=generator)
        start = (torch.rand(b, generator=generator) * (t - length + 1)).long()
        ar = torch.arange(t)[None]
        dropped |= has[:, None] & (ar >= start[:, None]) & (ar < (start + length)[:, None])
    if cfg.start_pad_prob > 0 and t > 1:
        has = torch.rand(b, generator=generator) < cfg.start_pad_prob
        n0 = torch.randint(1, t, (b,), generator=generator)
        dropped |= has[:, None] & (torch.arange(t)[None] < n0[:, None])

    valid = ~(masked | dropped)
    pose6d = rotmat_to_rot6d(rot) * valid[..., None, None]
    bn = betas + getattr(cfg, "betas_noise_std", 0.0) * torch.randn(betas.shape, generator=generator)
    return Corrupted(pose6d=pose6d, betas=bn, valid=valid, masked=masked & ~dropped,
                     replaced=replaced & ~dropped, dropped=dropped)
