"""PoseBERT run configuration: nested dataclasses, YAML load / save, ``key=value`` overrides.

One YAML file per run (``training/configs/posebert_*.yaml``); the trainer writes the resolved config
into the run directory (``runs/<name>/config.yaml``) and into every checkpoint.
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


from training.config_io import apply_overrides_to_dict, load_yaml, save_yaml

__all__ = ["ModelConfig", "CorruptionConfig", "DataConfig", "TrainConfig", "EvalConfig", "PoseBERTConfig",
           "load_config", "save_config", "apply_overrides", "config_from_dict"]


@dataclass
class ModelConfig:
    """Architecture (the seed's ablation knobs: L, D, T, regressor iterations) and streaming mode."""

    window: int = 16                 # T
    num_layers: int = 4              # L
    dim: int = 128                   # D (exported default; 512 in the paper, ~2.5 ms/window on CPU here)
    heads: int = 4
    ffn_dim: int = 256
    dropout: float = 0.1
    attention: str = "causal"        # full | causal
    lag: int = 0                     # look-ahead k of a causal model; the runtime reads index T-1-k
    lookahead_schedule: str = "first"  # first | spread (how k is split over the layers)
    regressor_iters: int = 1         # shared-regressor applications after each block
    init: str = "mean"               # regressor start: mean (paper) | input (the frame's own input pose)
    num_betas: int = 10              # shape size; must equal the body's (skeleton: any, anny: 6, smpl: the file's)
    body_model: str = "skeleton"     # body computing the joints output / keypoint loss: skeleton | anny | smpl
    smpl_model_path: str = ""        # smpl only: .pkl or folder ("" = $SMPL_MODEL_PATH)


@dataclass
class CorruptionConfig:
    """How ground-truth poses are corrupted into per-frame-estimator-like inputs (:mod:`.corruption`)."""

    noise: str = "gaussian"          # gaussian | fitted | none
    noise_std_deg: float = 5.0       # gaussian: std of the axis-angle perturbation per axis, per joint
    noise_std_jitter: float = 0.5    # per-window std = noise_std_deg * U(1 - j, 1 + j)
    noise_model: str = ""            # fitted: JSON written by ``python -m training.posebert.noise_model fit``
    mask_ratio: float = 0.125        # fraction of frames replaced by the mask token (exact count per window)
    replace_ratio: float = 0.0625    # fraction of frames replaced by poses of other sequences / frames
    dropout_prob: float = 0.25       # probability of one burst of missed detections per window
    dropout_max_len: int = 4         # burst length ~ U{1..max}
    start_pad_prob: float = 0.1      # probability the window starts a stream (first U{1..T-1} slots empty)
    betas_noise_std: float = 0.1     # noise on the input shape (the per-frame betas are noisy too)
    # noise curriculum (gaussian): per-window std ~ U(noise_std_min_deg, s_max(step)) where s_max grows
    # linearly from curriculum_start_deg to noise_std_max_deg over curriculum_steps; 0 = off (fixed
    # noise_std_deg with noise_std_jitter). clean_prob: windows with no rotation noise at all.
    noise_std_min_deg: float = 0.0
    noise_std_max_deg: float = 0.0
    curriculum_start_deg: float = 2.0
    curriculum_steps: int = 0
    clean_prob: float = 0.0
    # how the per-window std is drawn below s_max: "uniform" U(min, s_max) or "loguniform"
    # exp(U(log(max(min, log_min)), log s_max)) (as many windows between 1 and 2 deg as between 6 and 12 deg:
    # enough low-noise windows that the model learns to leave a good input alone)
    noise_sampling: str = "uniform"
    noise_log_min_deg: float = 0.5
    # with noise 'gaussian': this fraction of windows takes its rotation noise from the fitted per-frame error
    # model ``fitted_model`` (JSON of ``noise_model fit``) instead, scaled per window by U(fitted_scale_min,
    # fitted_scale_max) -- the real per-frame model's errors (bias, temporal correlation, flips) next to the
    # curriculum's white noise. 0 = off.
    fitted_prob: float = 0.0
    fitted_model: str = ""
    fitted_scale_min: float = 0.5
    fitted_scale_max: float = 1.25


@dataclass
class DataConfig:
    """Motion data: canonical ``.npz`` MotionSequences (``python -m training.mocap_cli import-mocap``)."""

    motion_dirs: list[str] = field(default_factory=lambda: ["runs/motion"])
    fps: float = 30.0
    train_subjects: list[str] = field(default_factory=lambda: ["001", "005", "006"])
    val_subjects: list[str] = field(default_factory=lambda: ["003"])
    test_subjects: list[str] = field(default_factory=lambda: ["131"])
    synthetic: bool = False          # generate smooth random motions instead (tests / smoke runs)
    synthetic_sequences: int = 24
    synthetic_frames: int = 240
    random_view: bool = True         # random camera yaw / small pitch+roll applied to the global orientation
    max_pitch_deg: float = 15.0
    mirror_prob: float = 0.5         # left-right mirrored windows
    pose_offset_deg: float = 0.0     # per-window constant per-joint rotation offsets (pose-space augmentation)
    splits_file: str = ""            # splits.json of import-mocap: replaces the three subject lists when set
    global_rot_prob: float = 0.0     # windows whose whole body gets a uniformly random rotation (inverted, lying)
    crouch_prob: float = 0.0         # windows with extra hip + knee flexion (crouching, kneeling)


@dataclass
class TrainConfig:
    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    grad_clip: float = 1.0
    w_rot: float = 1.0               # rotation-matrix L2 loss
    w_kp: float = 1.0                # 3D keypoint loss (metres, through the body model FK)
    w_accel: float = 0.0             # acceleration loss on the in-window joint error (metres/frame^2)
    readout_weight: float = 1.0      # extra loss weight on the frame the runtime reads (T-1-lag)
    seed: int = 0
    threads: int = 1                 # torch intra-op threads (the CPU is shared)
    log_every: int = 25
    val_every: int = 250
    ckpt_every: int = 250
    init_from: str = ""              # start (not resume) from an exported PoseBERT ONNX's weights (same architecture)
    # > 0: per-window loss weight 1 / (noise std + this, deg), normalised to mean 1 over the batch: the loss
    # approximates the error relative to the input's (the acceptance is "better than the input at every level"),
    # so a few mm added to a clean window costs as much as many mm left in a heavy-noise one. 0 = off.
    relative_weight_deg: float = 0.0


@dataclass
class EvalConfig:
    """Synthetic per-frame errors the evaluation (and validation) applies to held-out motion."""

    noise_std_deg: float = 5.0
    missing_ratio: float = 0.0       # extra scenario: fraction of frames with no per-frame estimate
    seed: int = 123
    # validation noise levels (deg); empty = noise_std_deg only, best checkpoint by MPJPE. With levels the
    # best checkpoint minimises the mean over levels of (MPJPE / input MPJPE + PA-MPJPE / input PA-MPJPE) / 2:
    # a model that degrades a good (low-noise) input scores > 1 there, whatever it gains at heavy noise.
    val_noise_levels: list[float] = field(default_factory=list)
    # with levels: + this x the mean over levels of (accel error / input accel error), so that a model that
    # stops smoothing is not picked for its small gain in PA-MPJPE at the low levels (0 = off)
    val_accel_weight: float = 0.0


@dataclass
class PoseBERTConfig:
    name: str = "posebert"
    model: ModelConfig = field(default_factory=ModelConfig)
    corruption: CorruptionConfig = field(default_factory=CorruptionConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_SECTIONS = {"model": ModelConfig, "corruption": CorruptionConfig, "data": DataConfig, "train": TrainConfig,
             "eval": EvalConfig}


def config_from_dict(d: dict[str, Any]) -> PoseBERTConfig:
    """Build a config from a (possibly partial) nested dict; unknown keys raise ``ValueError``."""
    d = dict(d or {})
    unknown = set(d) - set(_SECTIONS) - {"name"}
    if unknown:
        raise ValueError(f"unknown config sections {sorted(unknown)}")
    kw: dict[str, Any] = {}
    if "name" in d:
        kw["name"] = str(d["name"])
    for sec, cls in _SECTIONS.items():
        sub = dict(d.get(sec) or {})
        fields = {f.name for f in dataclasses.fields(cls)}
        bad = set(sub) - fields
        if bad:
            raise ValueError(f"unknown keys in '{sec}': {sorted(bad)}")
        kw[sec] = cls(**sub)
    return PoseBERTConfig(**kw)


def load_config(path: str | Path) -> PoseBERTConfig:
    return config_from_dict(load_yaml(path))


def save_config(cfg: PoseBERTConfig, path: str | Path) -> Path:
    return save_yaml(cfg.to_dict(), path)


def apply_overrides(cfg: PoseBERTConfig, overrides: list[str]) -> PoseBERTConfig:
    """Apply ``section.key=value`` strings (:func:`training.config_io.apply_overrides_to_dict`)."""
    return config_from_dict(apply_overrides_to_dict(cfg.to_dict(), overrides))
