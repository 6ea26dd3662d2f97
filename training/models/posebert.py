"""PoseBERT (Baradel et al., "PoseBERT: A Generic Transformer Module for Temporal 3D Human Modeling",
TPAMI 2022): a transformer over a window of per-frame poses that fills in missing frames and
smooths / corrects the others.

Input poses are embedded per frame; frames marked invalid have their embedding replaced by a learned
mask token (they still take part in attention, there is no key padding); a learned positional
encoding is added; after each of the L encoder blocks one shared regressor refines the output pose,
starting from the mean pose. The ONNX interface is
``(pose6d, betas, valid) -> (pose6d_out, joints)`` (:mod:`pose_estimation_ros.model_meta`).

The attention block is written out explicitly (rather than ``nn.TransformerEncoderLayer``) so that
the traced graph has no fast-path / nested-tensor branches and exports to plain ONNX ops.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from pose_estimation_ros import skeleton
from training.body.skeleton_fk import SkeletonFK
from training.geometry.rotations import rot6d_to_rotmat
from training.models.spin import mean_pose6d

__all__ = ["PoseBERT", "SelfAttention", "EncoderBlock"]


class SelfAttention(nn.Module):
    """Multi-head self-attention over all frames (no masking).

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x (B, T, D). Returns (B, T, D)."""
        t, d = x.shape[1], x.shape[2]
        qkv = self.qkv(x).reshape(-1, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                                   # (B, H, T, dh)
        attn = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) * self.scale, dim=-1)
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x (B, T, D). Returns (B, T, D)."""
        x = self.norm1(x + self.drop(self.attn(x)))
        return self.norm2(x + self.drop(self.ffn(x)))


class PoseBERT(nn.Module):
    """Temporal pose transformer with a shared iterative regressor.

    Args:
        window: window length T (the learned positional encoding has T entries; inputs must have T).
        num_layers: L encoder blocks.
        dim: model width D.
        heads: attention heads.
        ffn_dim: feed-forward hidden width.
        num_betas: shape parameters passed through to the body model.
        dropout: dropout (training only).
    """

    def __init__(self, window: int = 16, num_layers: int = 4, dim: int = 512, heads: int = 8,
                 ffn_dim: int = 1024, num_betas: int = 10, dropout: float = 0.1) -> None:
        super().__init__()
        self.window = window
        self.num_layers = num_layers
        self.dim = dim
        self.heads = heads
        self.ffn_dim = ffn_dim
        self.num_betas = num_betas
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
        self.fk = SkeletonFK()

    def forward(self, pose6d: torch.Tensor, betas: torch.Tensor,
                valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Refine a window of poses.

        Args:
            pose6d: (B, T, 24, 6) per-frame poses (joint 0 = global orientation), 6D.
            betas: (B, T, NB) per-frame shape; only used by the body model for ``joints``.
            valid: (B, T) bool; False frames are replaced by the mask token (their pose is ignored).
        Returns:
            pose6d_out: (B, T, 24, 6) refined poses.
            joints: (B, T, 24, 3) root-relative joints of ``pose6d_out`` with ``betas``.
        """
        t = self.window  # static (the positional encoding fixes T); keeps ONNX shapes static
        if not torch.onnx.is_in_onnx_export() and pose6d.shape[1] != t:
            raise ValueError(f"PoseBERT window is {t} frames, got {pose6d.shape[1]}")
        tokens = self.embed(pose6d.reshape(-1, t, self.num_joints * 6))          # (B, T, D)
        tokens = torch.where(valid.unsqueeze(-1), tokens, self.mask_token)
        h = tokens + self.pos_embed
        pose = self.init_pose + 0.0 * h[..., :1]                                  # (B, T, 144)
        for block in self.blocks:
            h = block(h)
            pose = pose + self.regressor(torch.cat((h, pose), dim=-1))
        pose6d_out = pose.reshape(-1, t, self.num_joints, 6)
        joints = self.fk(rot6d_to_rotmat(pose6d_out), betas)
        return pose6d_out, joints
