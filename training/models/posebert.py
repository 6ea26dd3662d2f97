"""PoseBERT (Baradel et al., "PoseBERT: A Generic Transformer Module for Temporal 3D Human Modeling",
TPAMI 2022): a transformer over a window of per-frame poses that fills in missing frames and
smooths / corrects the others.

Input poses are embedded per frame; frames marked invalid have their embedding replaced by a learned
mask token (they still take part in attention, there is no key padding); a learned positional
encoding is added; after each of the L encoder blocks one shared regressor refines the output pose,
starting from the mean pose. The ONNX interface is
``(pose6d, betas, valid) -> (pose6d_out, joints)`` (:mod:`pose_estimation_ros.perception.metadata`), with
``joints = body.joints(rot6d_to_rotmat(pose6d_out), betas)`` through a
:class:`~training.body.base.BodyModel` (default: the skeleton body, 10 shape parameters; its
joints-only forward is ONNX-exportable for every backend). ``betas`` must be the shape of that body
(``num_betas = body.num_shape``), i.e. the per-frame model must use the same body.

The attention block is written out explicitly (rather than ``nn.TransformerEncoderLayer``) so that
the traced graph has no fast-path / nested-tensor branches and exports to plain ONNX ops.

Streaming modes (``attention``):

* ``"full"``: every frame attends to every frame (the original, offline PoseBERT).
* ``"causal"`` with ``lag=0``: output frame ``i`` depends only on input frames ``<= i``; the runtime
  puts the newest frame last and reads index ``T-1`` (the estimate for the newest frame).
* ``"causal"`` with ``lag=k``: output frame ``i`` depends only on frames ``<= i + k`` (k frames of
  look-ahead); the runtime reads index ``T-1-k``. Look-ahead composes over layers (a frame that sees
  ``i+1`` in layer 1 and whose neighbour saw ``i+2`` sees ``i+2`` in layer 2), so the k frames are
  distributed over the layers (:func:`layer_lookaheads`) and every layer's mask allows ``j <= i + k_l``
  with ``sum(k_l) = k``: the receptive field of output ``i`` is exactly frames ``<= i + k``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from pose_estimation_ros import skeleton
from training.body.base import BodyModel
from training.geometry.rotations import rot6d_to_rotmat
from training.models.spin import attach_body, mean_pose6d, resolve_body

__all__ = ["PoseBERT", "SelfAttention", "EncoderBlock", "ATTENTION_MODES", "layer_lookaheads", "lookahead_mask"]

ATTENTION_MODES = ("full", "causal")
# Additive attention bias of a forbidden (query, key) pair: finite so softmax never sees a row of -inf.
MASKED = -1e9


def layer_lookaheads(lag: int, num_layers: int, schedule: str = "first") -> list[int]:
    """Per-layer look-ahead ``k_l`` (frames) with ``sum(k_l) == lag``.

    Args:
        lag: total look-ahead k >= 0.
        num_layers: L.
        schedule: ``"first"``: all k frames in the first layer (later layers are strictly causal, so
            every layer processes features that already saw the future frames); ``"spread"``: as evenly
            as possible over the layers, earlier layers first.
    """
    if lag < 0:
        raise ValueError(f"lag must be >= 0, got {lag}")
    if schedule == "first":
        return [lag] + [0] * (num_layers - 1)
    if schedule == "spread":
        return [lag // num_layers + (1 if i < lag % num_layers else 0) for i in range(num_layers)]
    raise ValueError(f"unknown look-ahead schedule '{schedule}' (first | spread)")


def lookahead_mask(window: int, lookahead: int) -> torch.Tensor:
    """Additive (T, T) attention bias: 0 where key ``j <= i + lookahead``, :data:`MASKED` elsewhere."""
    i = torch.arange(window).unsqueeze(1)
    j = torch.arange(window).unsqueeze(0)
    return torch.where(j <= i + lookahead, 0.0, MASKED).to(torch.float32)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the frames, with an optional additive (T, T) mask.

    Args:
        dim: model width D.
        heads: number of heads (D must be divisible by it).
        dropout: dropout on the attention weights (training only).
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Args: x (B, T, D); mask: None or (T, T) additive bias (query rows, key columns).
        Returns (B, T, D)."""
        t, d = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape(-1, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                                   # (B, H, T, dh)
        scores = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        if mask is not None:
            scores = scores + mask
        attn = torch.softmax(scores, dim=-1)
        out = torch.matmul(self.drop(attn), v)                             # (B, H, T, dh)
        return self.proj(out.transpose(1, 2).reshape(-1, t, d))


class EncoderBlock(nn.Module):
    """Post-norm transformer encoder block (as in BERT): attention then feed-forward.

    Args:
        dim: model width D.
        heads: attention heads.
        ffn_dim: hidden width of the feed-forward network.
        dropout: residual / feed-forward dropout (training only).
    """

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.attn = SelfAttention(dim, heads, dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, ffn_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_dim, dim))
        self.norm2 = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Args: x (B, T, D); mask: None or (T, T) additive attention bias. Returns (B, T, D)."""
        x = self.norm1(x + self.drop(self.attn(x, mask)))
        return self.norm2(x + self.drop(self.ffn(x)))


class PoseBERT(nn.Module):
    """Temporal pose transformer with a shared iterative regressor.

    Args:
        window: window length T (the learned positional encoding has T entries; inputs must have T).
        num_layers: L encoder blocks.
        dim: model width D.
        heads: attention heads.
        ffn_dim: feed-forward hidden width.
        num_betas: shape parameters passed through to the body model; None = ``body.num_shape``
            (10 for the default skeleton body); if given it must equal ``body.num_shape``.
        dropout: dropout (training only).
        attention: ``"full"`` (bidirectional) or ``"causal"`` (see the module docstring).
        lag: look-ahead k of a causal model (0 = strictly causal); must be 0 for ``"full"``.
        lookahead_schedule: how the lag is split over the layers (:func:`layer_lookaheads`).
        regressor_iters: applications of the shared regressor after each block (>= 1).
        init: where the iterative regressor starts: ``"mean"`` (the paper: the mean pose for every
            frame) or ``"input"`` (the frame's own input pose when valid, else the mean pose; the
            regressor then learns a correction, which generalises better from little mocap).
    """

    def __init__(self, window: int = 16, num_layers: int = 4, dim: int = 512, heads: int = 8,
                 ffn_dim: int = 1024, num_betas: int | None = None, dropout: float = 0.1, attention: str = "full",
                 lag: int = 0, lookahead_schedule: str = "first", regressor_iters: int = 1,
                 init: str = "mean", body: BodyModel | None = None) -> None:
        super().__init__()
        body = resolve_body(body, num_betas)
        if init not in ("mean", "input"):
            raise ValueError(f"unknown init '{init}' (mean | input)")
        if attention not in ATTENTION_MODES:
            raise ValueError(f"unknown attention '{attention}', choose from {ATTENTION_MODES}")
        if attention == "full" and lag:
            raise ValueError("lag applies to causal attention only")
        if not 0 <= lag < window:
            raise ValueError(f"lag must be in [0, window-1={window - 1}], got {lag}")
        if regressor_iters < 1:
            raise ValueError(f"regressor_iters must be >= 1, got {regressor_iters}")
        self.window = window
        self.attention = attention
        self.lag = lag
        self.lookahead_schedule = lookahead_schedule
        self.regressor_iters = regressor_iters
        self.init = init
        self.num_layers = num_layers
        self.dim = dim
        self.heads = heads
        self.ffn_dim = ffn_dim
        self.num_betas = body.num_shape
        self.num_joints = skeleton.NUM_JOINTS
        npose = self.num_joints * 6
        self.embed = nn.Linear(npose, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, window, dim))
        self.mask_token = nn.Parameter(torch.zeros(dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.blocks = nn.ModuleList(EncoderBlock(dim, heads, ffn_dim, dropout) for _ in range(num_layers))
        self.regressor = nn.Sequential(nn.Linear(dim + npose, dim), nn.GELU(), nn.Linear(dim, npose))
        nn.init.xavier_uniform_(self.regressor[-1].weight, gain=0.01)
        nn.init.zeros_(self.regressor[-1].bias)
        self.register_buffer("init_pose", mean_pose6d(self.num_joints).reshape(1, 1, npose))
        # Per-layer attention masks; not persistent, so one checkpoint loads into any mode.
        self.lookaheads: list[int] | None = None
        if attention == "causal":
            self.lookaheads = layer_lookaheads(lag, num_layers, lookahead_schedule)
            for i, k in enumerate(self.lookaheads):
                self.register_buffer(f"attn_mask{i}", lookahead_mask(window, k), persistent=False)
        attach_body(self, body)

    @property
    def mode(self) -> str:
        """``"full"``, ``"causal"`` or ``"lag{k}"``."""
        if self.attention == "full":
            return "full"
        return "causal" if self.lag == 0 else f"lag{self.lag}"

    @property
    def readout_index(self) -> int:
        """Window index the streaming runtime reads: ``T-1-lag`` (``T-1`` for full attention)."""
        return self.window - 1 - self.lag

    def layer_mask(self, i: int) -> torch.Tensor | None:
        return getattr(self, f"attn_mask{i}") if self.lookaheads is not None else None

    def forward(self, pose6d: torch.Tensor, betas: torch.Tensor,
                valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Refine a window of poses.

        Args:
            pose6d: (B, T, 24, 6) per-frame poses (joint 0 = global orientation), 6D.
            betas: (B, T, NB) per-frame shape; only used by the body model for ``joints``.
            valid: (B, T) bool; False frames are replaced by the mask token (their pose is ignored).
        Returns:
            pose6d_out: (B, T, 24, 6) refined poses.
            joints: (B, T, 24, 3) root-relative joints of ``pose6d_out`` with ``betas``
                (``body.joints`` on the B*T frames).
        """
        pose6d_out = self.regress(pose6d, valid)
        t, nj = self.window, self.num_joints
        # BodyModel.joints takes (N, 24, 3, 3) / (N, S): fold the window into the batch.
        rotmats = rot6d_to_rotmat(pose6d_out).reshape(-1, nj, 3, 3)
        joints = self.body.joints(rotmats, betas.reshape(-1, self.num_betas)).reshape(-1, t, nj, 3)
        return pose6d_out, joints

    def regress(self, pose6d: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """The pose part of :meth:`forward` (no body model): (B,T,24,6), (B,T) -> (B,T,24,6)."""
        t = self.window  # static (the positional encoding fixes T); keeps ONNX shapes static
        if not torch.onnx.is_in_onnx_export() and pose6d.shape[1] != t:
            raise ValueError(f"PoseBERT window is {t} frames, got {pose6d.shape[1]}")
        flat = pose6d.reshape(-1, t, self.num_joints * 6)
        tokens = self.embed(flat)                                                 # (B, T, D)
        tokens = torch.where(valid.unsqueeze(-1), tokens, self.mask_token)
        h = tokens + self.pos_embed
        pose = self.init_pose + 0.0 * h[..., :1]                                  # (B, T, 144)
        if self.init == "input":
            pose = torch.where(valid.unsqueeze(-1), flat, pose)
        for i, block in enumerate(self.blocks):
            h = block(h, self.layer_mask(i))
            for _ in range(self.regressor_iters):
                pose = pose + self.regressor(torch.cat((h, pose), dim=-1))
        return pose.reshape(-1, t, self.num_joints, 6)
