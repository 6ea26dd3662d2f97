"""MoCap-SPIN run configuration: nested dataclasses, YAML load / save, ``section.key=value`` overrides.

One YAML file per run (``training/configs/spin_*.yaml``); the trainer writes the resolved config into
the run directory and into every checkpoint. Choices are ``Literal`` types checked at load time.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal


from training.config_io import apply_overrides_to_dict, load_yaml, save_yaml

__all__ = ["ModelConfig", "DataConfig", "LossConfig", "TrainConfig", "SpinConfig", "load_config", "save_config",
           "apply_overrides", "config_from_dict", "check_ratio"]

Stage = Literal["pretrain", "finetune"]
Trainable = Literal["all", "bn", "bn_affine_frozen_stats", "none"]
Source = Literal["render", "stick", "shards"]


@dataclass
class ModelConfig:
    """The per-frame model (:class:`~training.models.spin.PerFrameRegressor`)."""

    backbone: str = "mobilenet_v3_small"
    input_size: int = 160
    iterations: int = 3
    hidden: int = 1024
    dropout: float = 0.5
    body_model: Literal["skeleton", "anny", "smpl"] = "anny"
    smpl_model_path: str = ""
    backbone_weights: str = ""       # torchvision state dict (e.g. ImageNet) loaded into the backbone at start
    # BN running-statistics momentum for every BN layer (torchvision's MobileNetV3 uses 0.01, which leaves eval-mode
    # statistics far behind the weights for thousands of steps when training from scratch)
    bn_momentum: float = 0.1
    # second input: the COCO-17 keypoints of a real-trained 2D source in the crop (training.spin.keypoints)
    keypoint_input: Literal["none", "coco17"] = "none"
    keypoint_hidden: int = 256


@dataclass
class DataConfig:
    """Where samples come from.

    ``synthetic``: the mocap renderings (``source``: ``render`` = ``training.render``'s on-the-fly
    dataset, ``shards`` = pre-rendered shards in ``shard_dirs``, ``stick`` = procedural stick figures for
    tests / smoke runs). ``real``: user datasets (``{format, path, image_root}`` entries for
    :func:`training.data.real.load_real`); with none, ``standin_real`` makes the "real" set renders of a
    separate appearance domain (``standin_*`` textures/backgrounds/lighting, ``standin_subjects``' poses).
    """

    source: Source = "render"
    shard_dirs: list[str] = field(default_factory=list)
    motion_dirs: list[str] = field(default_factory=lambda: ["runs/render_motion"])
    train_subjects: list[str] = field(default_factory=lambda: ["001", "005", "006", "010", "012", "013", "014",
                                                               "016", "094"])
    val_subjects: list[str] = field(default_factory=lambda: ["003"])
    test_subjects: list[str] = field(default_factory=lambda: ["131", "035", "135"])
    render: dict[str, Any] = field(default_factory=dict)      # extra RenderDataset keyword arguments
    real: list[dict[str, str]] = field(default_factory=list)
    real_shards: list[str] = field(default_factory=list)      # pre-rendered stand-in "real" shards (split subdirs)
    standin_real: bool = True
    standin_subjects: list[str] = field(default_factory=lambda: ["001"])
    standin_render: dict[str, Any] = field(default_factory=dict)   # RenderDataset kwargs of the stand-in domain
    synthetic_ratio: float = 0.5     # fraction of every mixed (stage-2) batch taken from the mocap renderings
    rerender_real: bool = False      # stage 2: add re-renderings of the real images' (pseudo-)poses
    samples_per_epoch: int = 100000
    val_samples: int = 64
    workers: int = 0
    # keypoint-input models (model.keypoint_input): extra Gaussian noise (crop px) on every keypoint input; the
    # fraction of image samples trained without keypoints (the source missed them: the model still has the image);
    # the source's fitted noise model (training.spin.shard_keypoints --fit-noise) and a lifting table
    # (training.spin.lifting) with lifting_per_batch image-less samples added to every batch
    keypoint_noise_px: float = 0.0
    keypoint_dropout: float = 0.15
    keypoint_noise: str = ""
    lifting_table: str = ""
    lifting_per_batch: int = 0
    # the first lifting_only_steps steps train on image-less samples only (lifting_only_batch of them): the regressor
    # learns the pose prior from keypoints cheaply (no backbone pass) before the images join
    lifting_only_steps: int = 0
    lifting_only_batch: int = 256


@dataclass
class LossConfig:
    """SPIN losses; each applies where its label exists (``visibility``, ``has_3d``, ``has_pose``, shape)."""

    w_kp2d: float = 1.0              # L1 on crop-normalised [-1, 1] 2D keypoints (weak-perspective projection)
    w_kp3d: float = 2.0              # L1 on root-relative 3D joints (metres)
    w_pose: float = 1.0              # MSE on local rotation matrices
    w_shape: float = 0.01            # MSE on the body's shape parameters (same body only)
    w_cam: float = 0.1               # keeps the camera scale positive: relu(s_min - s)
    cam_scale_min: float = 0.2


@dataclass
class TrainConfig:
    stage: Stage = "pretrain"
    trainable: Trainable = "all"     # finetune: "bn" = BN affine only, running stats updated (the seed)
    init_ckpt: str = ""              # finetune: the stage-1 checkpoint (also the pseudo-label teacher)
    # finetune: real samples' targets from the stage-1 model's own outputs: replace (the seed) every real label,
    # fill only the labels a real sample lacks, or off (real labels only)
    pseudo_labels: Literal["replace", "fill", "off"] = "replace"
    steps: int = 2000
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    grad_clip: float = 5.0
    seed: int = 0
    threads: int = 2
    log_every: int = 10
    val_every: int = 200
    ckpt_every: int = 50
    hours_budget: float = 0.0        # stop (with a checkpoint) after this many hours of this session; 0 = off


@dataclass
class SpinConfig:
    name: str = "spin"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "loss": LossConfig, "train": TrainConfig}


def check_ratio(value: float, name: str = "data.synthetic_ratio") -> float:
    """``value`` as a float in [0, 1], else ``ValueError`` naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {v:g}")
    return v


def _check_literals(sec: str, obj: Any) -> None:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        if typing.get_origin(hints[f.name]) is Literal:
            allowed = typing.get_args(hints[f.name])
            if getattr(obj, f.name) not in allowed:
                raise ValueError(f"{sec}.{f.name} must be one of {list(allowed)}, got {getattr(obj, f.name)!r}")


def config_from_dict(d: dict[str, Any]) -> SpinConfig:
    """Build a config from a (possibly partial) nested dict.

    Raises:
        ValueError: unknown section or key, a choice outside its ``Literal``, a ratio outside [0, 1].
    """
    d = dict(d or {})
    unknown = set(d) - set(_SECTIONS) - {"name"}
    if unknown:
        raise ValueError(f"unknown config sections {sorted(unknown)}")
    kw: dict[str, Any] = {"name": str(d["name"])} if "name" in d else {}
    for sec, cls in _SECTIONS.items():
        sub = dict(d.get(sec) or {})
        bad = set(sub) - {f.name for f in dataclasses.fields(cls)}
        if bad:
            raise ValueError(f"unknown keys in '{sec}': {sorted(bad)}")
        kw[sec] = cls(**sub)
        _check_literals(sec, kw[sec])
    cfg = SpinConfig(**kw)
    cfg.data.synthetic_ratio = check_ratio(cfg.data.synthetic_ratio)
    from training.models.backbones import BACKBONES
    if cfg.model.backbone not in BACKBONES:
        raise ValueError(f"model.backbone: unknown backbone '{cfg.model.backbone}'; "
                         f"expected one of {sorted(BACKBONES)}")
    return cfg


def load_config(path: str | Path) -> SpinConfig:
    return config_from_dict(load_yaml(path))


def save_config(cfg: SpinConfig, path: str | Path) -> Path:
    return save_yaml(cfg.to_dict(), path)


def apply_overrides(cfg: SpinConfig, overrides: list[str]) -> SpinConfig:
    """Apply ``section.key=value`` strings (:func:`training.config_io.apply_overrides_to_dict`)."""
    def open_key(parts: list[str]) -> bool:     # render sections are free-form dicts of renderer options
        return len(parts) == 3 and parts[1] in ("render", "standin_render")
    return config_from_dict(apply_overrides_to_dict(cfg.to_dict(), overrides, open_key))
