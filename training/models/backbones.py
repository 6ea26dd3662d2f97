"""Image backbones of the per-frame model: a name -> constructor table over torchvision (no weights).

Every entry builds a torchvision classification network with ``weights=None`` (nothing is ever
downloaded) and removes its classifier, so the module maps ``(N, 3, H, W) -> (N, C)`` global-pooled
features. All of them use BatchNorm (the stage-2 / site-adaptation fine-tunes adapt only BN layers).

=====================  =====  ==========================================================
name                   C      note
=====================  =====  ==========================================================
mobilenet_v3_small     576    lightest
mobilenet_v3_large     960
regnet_y_400mf         440
efficientnet_b0        1280
resnet18               512
resnet34               512
resnet50               2048   the seed's backbone
=====================  =====  ==========================================================

The CPU default (:data:`DEFAULT_BACKBONE`) was chosen by measurement
(``python -m training.spin.bench_backbones``; table in the README).

ImageNet weights: :func:`load_backbone_weights` loads a torchvision state dict (e.g. the file
torchvision caches as ``~/.cache/torch/hub/checkpoints/resnet50-0676ba61.pth`` on a machine with
internet access) into a backbone, ignoring the classifier keys.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
import torchvision
from torch import nn

__all__ = ["BACKBONES", "DEFAULT_BACKBONE", "build_backbone", "load_backbone_weights", "CLASSIFIER_PREFIXES"]


def _resnet(ctor: Callable[..., nn.Module]) -> Callable[[], tuple[nn.Module, int]]:
    def build() -> tuple[nn.Module, int]:
        net = ctor(weights=None)
        dim = net.fc.in_features
        net.fc = nn.Identity()
        return net, dim
    return build


def _classifier_net(ctor: Callable[..., nn.Module]) -> Callable[[], tuple[nn.Module, int]]:
    """MobileNet / EfficientNet: ``features -> avgpool -> classifier``; the classifier's first Linear
    gives the pooled width."""
    def build() -> tuple[nn.Module, int]:
        net = ctor(weights=None)
        dim = next(m for m in net.classifier.modules() if isinstance(m, nn.Linear)).in_features
        net.classifier = nn.Identity()
        return net, dim
    return build


# name -> constructor returning (module (N,3,H,W)->(N,C), C)
BACKBONES: dict[str, Callable[[], tuple[nn.Module, int]]] = {
    "mobilenet_v3_small": _classifier_net(torchvision.models.mobilenet_v3_small),
    "mobilenet_v3_large": _classifier_net(torchvision.models.mobilenet_v3_large),
    "regnet_y_400mf": _resnet(torchvision.models.regnet_y_400mf),
    "efficientnet_b0": _classifier_net(torchvision.models.efficientnet_b0),
    "resnet18": _resnet(torchvision.models.resnet18),
    "resnet34": _resnet(torchvision.models.resnet34),
    "resnet50": _resnet(torchvision.models.resnet50),
}
DEFAULT_BACKBONE = "mobilenet_v3_small"
# State-dict prefixes of the removed classifiers (ignored when loading ImageNet weights).
CLASSIFIER_PREFIXES: tuple[str, ...] = ("fc.", "classifier.")


def build_backbone(name: str) -> tuple[nn.Module, int]:
    """Backbone ``name`` without its classifier, random init.

    Returns:
        (module mapping (N, 3, H, W) float32 -> (N, C), C).
    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone '{name}'; expected one of {sorted(BACKBONES)}")
    return BACKBONES[name]()


def load_backbone_weights(backbone: nn.Module, path: str | Path, name: str = "") -> list[str]:
    """Load a torchvision-format state dict (raw, or under ``state_dict`` / ``model``) into ``backbone``.

    Classifier keys (:data:`CLASSIFIER_PREFIXES`) are dropped; every other backbone tensor must be
    present with the right shape.

    Returns:
        the names of the ignored classifier keys.
    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a state dict for this backbone (names the missing / mismatched keys).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"backbone weights {path}: no such file")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise ValueError(f"backbone weights {path}: not a state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    ignored = sorted(k for k in state if k.startswith(CLASSIFIER_PREFIXES))
    state = {k: v for k, v in state.items() if k not in ignored}
    own = backbone.state_dict()
    missing = sorted(set(own) - set(state))
    bad = sorted(k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape))
    if missing or bad:
        what = f"'{name}' backbone" if name else "backbone"
        raise ValueError(f"backbone weights {path} do not fit the {what}: "
                         f"{len(missing)} missing keys {missing[:4]}, {len(bad)} shape mismatches {bad[:4]}")
    backbone.load_state_dict(state, strict=False)
    return ignored
