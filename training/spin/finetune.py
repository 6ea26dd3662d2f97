"""Which parameters a stage trains: everything, or only the batch-norm layers (the seed's fine-tune).

=========================  =====================================  ===================================
``train.trainable``        parameters with gradients              BN running statistics
=========================  =====================================  ===================================
``all``                    all                                    updated (train mode)
``bn``                     BN affine (weight, bias) only          updated (train mode)
``bn_affine_frozen_stats`` BN affine only                         frozen (BN layers in eval mode)
``none``                   none                                   updated (site adaptation: statistics
                                                                  only, no optimiser)
=========================  =====================================  ===================================

Only parameters with ``requires_grad`` go to the optimiser, so a ``bn`` step leaves every other
parameter bit-identical (no weight decay touches them either).
"""
from __future__ import annotations

from torch import nn

__all__ = ["BN_TYPES", "bn_modules", "set_trainable", "apply_bn_mode", "trainable_parameters"]

BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
MODES = ("all", "bn", "bn_affine_frozen_stats", "none")


def bn_modules(model: nn.Module) -> list[nn.Module]:
    """Every batch-norm layer of ``model``."""
    return [m for m in model.modules() if isinstance(m, BN_TYPES)]


def set_trainable(model: nn.Module, mode: str) -> int:
    """Set ``requires_grad`` for ``mode`` (table above); returns the number of trainable scalars.

    Raises:
        ValueError: unknown mode, or a BN mode on a model without batch norm.
    """
    if mode not in MODES:
        raise ValueError(f"unknown trainable mode '{mode}'; expected one of {list(MODES)}")
    if mode == "all":
        model.requires_grad_(True)
        body = getattr(model, "body", None)
        if body is not None:
            body.requires_grad_(False)          # the body model is fixed
    else:
        model.requires_grad_(False)
        bns = bn_modules(model)
        if not bns and mode != "none":
            raise ValueError(f"trainable mode '{mode}' needs batch-norm layers; the model has none")
        if mode in ("bn", "bn_affine_frozen_stats"):
            for m in bns:
                for p in m.parameters(recurse=False):
                    p.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def apply_bn_mode(model: nn.Module, mode: str) -> None:
    """Call after ``model.train()``: puts BN layers in eval mode (frozen statistics) for
    ``bn_affine_frozen_stats``; other modes leave train mode (statistics follow the batches)."""
    if mode == "bn_affine_frozen_stats":
        for m in bn_modules(model):
            m.eval()


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
