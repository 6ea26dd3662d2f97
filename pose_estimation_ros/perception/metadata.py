"""Model metadata: the JSON written beside every exported ONNX file, and the checks the runtime runs.

The metadata file is ``<model>.json`` next to ``<model>.onnx``. The exporter (``training/export.py``)
writes it with :func:`write_metadata`; the runtime loads it with :func:`load_metadata` and refuses a
model whose metadata does not match what the node is configured for (:func:`check_metadata`).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
KIND_PER_FRAME = "per_frame"
KIND_TEMPORAL = "temporal"
# Opsets this runtime's onnxruntime is known to run for our exports.
SUPPORTED_OPSETS = range(13, 22)

# Tensor names of the ONNX interface (the exporter and the runtime both use these).
PER_FRAME_INPUT = "image"                                   # (N, 3, H, W) float32, normalised
# Second input of a keypoint-input model (metadata keypoint_input "coco17"): (N, 17, 3) float32, COCO-17 keypoints of
# the 2D source in the crop, (u, v) = 2 px / S - 1 in [-1, 1] and the source's confidence in [0, 1] (0 = none).
PER_FRAME_KEYPOINTS = "keypoints"
KEYPOINT_INPUTS = ("none", "coco17")
PER_FRAME_OUTPUTS = ("pose6d", "betas", "cam", "joints")    # (N,24,6) (N,B) (N,3) (N,24,3)
TEMPORAL_INPUTS = ("pose6d", "betas", "valid")              # (1,T,24,6) (1,T,B) float32, (1,T) bool
TEMPORAL_OUTPUTS = ("pose6d_out", "joints")                 # (1,T,24,6) (1,T,24,3) or (1,1,24,3), below
# temporal ``architecture.joints_frames``: "readout" = ``joints`` holds the read-out slot T-1-lag only (B,1,24,3);
# "window" (older files, the default when absent) = every slot (B,T,24,3).
JOINTS_READOUT, JOINTS_WINDOW = "readout", "window"


def temporal_joints_frames(meta: "ModelMetadata") -> str:
    """A temporal model's ``architecture.joints_frames`` (``readout`` | ``window``, absent = ``window``).

    Raises:
        ModelMetadataError: any other value.
    """
    frames = (meta.architecture or {}).get("joints_frames", JOINTS_WINDOW)
    if frames not in (JOINTS_READOUT, JOINTS_WINDOW):
        raise ModelMetadataError(f"unknown temporal joints_frames '{frames}' (expected '{JOINTS_READOUT}' or "
                                 f"'{JOINTS_WINDOW}')")
    return frames


def temporal_joints_slot(meta: "ModelMetadata", readout: int) -> int:
    """Index into a temporal model's ``joints`` output of the read-out slot ``readout`` (T-1-lag)."""
    return 0 if temporal_joints_frames(meta) == JOINTS_READOUT else readout


class ModelMetadataError(RuntimeError):
    """A model file or its metadata is missing, corrupt or does not match the configuration."""


@dataclass
class Normalization:
    """How an image becomes the model input: ``((rgb / 255) - mean) / std``, channels first."""

    color_order: str = "rgb"
    scale: float = 1.0 / 255.0
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])


@dataclass
class ModelMetadata:
    """Everything the runtime needs to know about one exported model."""

    kind: str                       # "per_frame" | "temporal"
    name: str                       # e.g. "mocap_spin_resnet18", "posebert"
    skeleton: str                   # e.g. "smpl24"
    joint_names: list[str]
    opset: int
    trained: bool
    training_data: str              # free text: datasets / "untrained (seed 0)"
    rotation_repr: str = "6d"
    num_betas: int = 10
    input_size: list[int] | None = None        # per_frame: [H, W]
    normalization: Normalization | None = None  # per_frame
    window: int | None = None                   # temporal: T
    keypoint_input: str = "none"                # per_frame: "none" | "coco17" (a second input, PER_FRAME_KEYPOINTS)
    architecture: dict[str, Any] = field(default_factory=dict)
    onnx_sha256: str = ""
    created_by: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ModelMetadata":
        d = dict(d)
        if d.get("normalization") is not None:
            d["normalization"] = Normalization(**d["normalization"])
        known = set(ModelMetadata.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ModelMetadataError(f"unknown metadata keys {sorted(unknown)}")
        return ModelMetadata(**d)


def metadata_path(onnx_path: str | Path) -> Path:
    """``models/x.onnx`` -> ``models/x.json``."""
    return Path(onnx_path).with_suffix(".json")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_metadata(onnx_path: str | Path, meta: ModelMetadata) -> Path:
    """Write the metadata JSON beside ``onnx_path`` with the ONNX file's sha256 filled in."""
    meta.onnx_sha256 = file_sha256(onnx_path)
    out = metadata_path(onnx_path)
    out.write_text(meta.to_json() + "\n")
    return out


def load_metadata(onnx_path: str | Path) -> ModelMetadata:
    """Load and integrity-check the metadata of ``onnx_path``.

    Raises:
        ModelMetadataError: the model or its JSON is missing, the JSON is malformed, or the ONNX
            file is not the one the metadata describes (sha256 mismatch).
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ModelMetadataError(f"model file not found: {onnx_path}")
    mpath = metadata_path(onnx_path)
    if not mpath.is_file():
        raise ModelMetadataError(
            f"metadata file not found: {mpath} (every model needs its exporter-written JSON beside it)")
    try:
        meta = ModelMetadata.from_dict(json.loads(mpath.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise ModelMetadataError(f"malformed metadata {mpath}: {e}") from e
    if meta.format_version != FORMAT_VERSION:
        raise ModelMetadataError(
            f"{mpath}: metadata format_version {meta.format_version}, this runtime reads {FORMAT_VERSION}")
    sha = meta.onnx_sha256 if isinstance(meta.onnx_sha256, str) else ""
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower()):
        # An empty or malformed checksum must not switch the integrity check off.
        raise ModelMetadataError(
            f"{mpath}: onnx_sha256 must be the 64-hex-digit sha256 of {onnx_path.name}, got {meta.onnx_sha256!r} "
            "(the integrity check cannot be disabled): re-export the model")
    if sha.lower() != file_sha256(onnx_path):
        raise ModelMetadataError(
            f"{onnx_path} does not match its metadata {mpath} (sha256 differs): re-export the model "
            "or restore the matching file")
    return meta


def check_normalization(norm: Normalization, source: str = "model") -> None:
    """Refuse a normalisation that would fail (or silently mis-scale) at the first frame.

    ``mean`` and ``std`` must each be 3 finite numbers (one per colour channel), ``std`` > 0, ``scale`` finite
    and > 0, ``color_order`` 'rgb' or 'bgr'.

    Raises:
        ModelMetadataError: naming the field (``normalization.mean`` ...).
    """
    for name in ("mean", "std"):
        vals = getattr(norm, name)
        try:
            arr = [float(v) for v in vals]
        except (TypeError, ValueError):
            raise ModelMetadataError(f"{source}: normalization.{name} must be a list of 3 numbers, got {vals!r}") \
                from None
        if len(arr) != 3 or not all(math.isfinite(v) for v in arr):
            raise ModelMetadataError(
                f"{source}: normalization.{name} must be 3 finite numbers (R, G, B), got {vals!r}")
        if name == "std" and min(arr) <= 0:
            raise ModelMetadataError(f"{source}: normalization.std must be > 0, got {vals!r}")
    try:
        scale = float(norm.scale)
    except (TypeError, ValueError):
        scale = float("nan")
    if not (math.isfinite(scale) and scale > 0):
        raise ModelMetadataError(f"{source}: normalization.scale must be a finite number > 0, got {norm.scale!r}")
    if str(norm.color_order).lower() not in ("rgb", "bgr"):
        raise ModelMetadataError(f"{source}: normalization.color_order must be 'rgb' or 'bgr', got {norm.color_order!r}")


def check_metadata(meta: ModelMetadata, *, kind: str, joint_names: list[str] | tuple[str, ...],
                   input_size: tuple[int, int] | None = None, window: int | None = None,
                   lag: int | None = None, source: str = "model") -> None:
    """Refuse a model that does not match what the caller is configured for.

    Args:
        meta: loaded metadata.
        kind: expected kind (``per_frame`` or ``temporal``).
        joint_names: the joint names the consumer publishes (order matters).
        input_size: expected ``(H, W)`` for a per-frame model, or None to accept the model's.
        window: expected window length T for a temporal model, or None to accept the model's.
        lag: the output lag the consumer reads (temporal): a model exported for another look-ahead
            (``architecture["lag"]``) is refused; None accepts any.
        source: name used in error messages (usually the file path).

    Raises:
        ModelMetadataError: naming the first mismatch.
    """
    if meta.kind != kind:
        raise ModelMetadataError(f"{source}: is a '{meta.kind}' model, expected '{kind}'")
    if list(meta.joint_names) != list(joint_names):
        raise ModelMetadataError(
            f"{source}: joint names differ from the runtime skeleton "
            f"(model {len(meta.joint_names)} joints '{meta.skeleton}', runtime {len(joint_names)})")
    if meta.opset not in SUPPORTED_OPSETS:
        raise ModelMetadataError(
            f"{source}: ONNX opset {meta.opset} not supported (supported {SUPPORTED_OPSETS.start}.."
            f"{SUPPORTED_OPSETS.stop - 1})")
    if meta.rotation_repr != "6d":
        raise ModelMetadataError(f"{source}: rotation representation '{meta.rotation_repr}', expected '6d'")
    if kind == KIND_PER_FRAME:
        if meta.input_size is None or meta.normalization is None:
            raise ModelMetadataError(f"{source}: per-frame metadata lacks input_size/normalization")
        check_normalization(meta.normalization, source)
        if meta.keypoint_input not in KEYPOINT_INPUTS:
            raise ModelMetadataError(f"{source}: keypoint_input '{meta.keypoint_input}' is not one this runtime "
                                     f"feeds ({', '.join(KEYPOINT_INPUTS)})")
        if input_size is not None and tuple(meta.input_size) != tuple(input_size):
            raise ModelMetadataError(
                f"{source}: input size {tuple(meta.input_size)} differs from configured {tuple(input_size)}")
    if kind == KIND_TEMPORAL:
        if meta.window is None or meta.window < 1:
            raise ModelMetadataError(f"{source}: temporal metadata lacks a window length")
        if window is not None and meta.window != window:
            raise ModelMetadataError(
                f"{source}: window length {meta.window} differs from configured window {window}")
        model_lag = meta.architecture.get("lag")
        if lag is not None and model_lag is not None and int(model_lag) != lag:
            raise ModelMetadataError(
                f"{source}: exported for a look-ahead of {model_lag} frames but temporal_lag is {lag} "
                f"(use {'posebert.onnx' if lag == 0 else f'posebert_lag{lag}.onnx'}, or set temporal_lag to "
                f"{model_lag})")


# Body model that computes a model's ``joints`` output (metadata ``architecture["body_model"]``):
# "skeleton" | "anny" | "smpl" (training.body.registry). Exports made before the body-model interface
# wrote "skeleton_fk_linear_scale" for the skeleton body (e.g. the committed posebert*.json), and
# metadata without the key predates it too: both mean "skeleton".
BODY_MODEL_ALIASES = {"skeleton_fk_linear_scale": "skeleton"}
DEFAULT_BODY_MODEL = "skeleton"


def normalize_body_model(name: str | None) -> str:
    """Canonical body-model name: aliases resolved, lower case, None / "" -> ``"skeleton"``."""
    key = (name or DEFAULT_BODY_MODEL).strip().lower()
    return BODY_MODEL_ALIASES.get(key, key)


def body_model_of(meta: ModelMetadata) -> str:
    """The (normalised) body model named in ``meta.architecture["body_model"]``."""
    return normalize_body_model(meta.architecture.get("body_model"))


def check_same_body(per_frame: ModelMetadata, temporal: ModelMetadata, per_frame_source: str = "per-frame model",
                    temporal_source: str = "temporal model") -> None:
    """Refuse a temporal model whose joints come from another body than the per-frame model's.

    The temporal model receives the per-frame ``betas`` and computes its ``joints`` with its own body
    model: the two must agree on the body (after :func:`normalize_body_model`) and on ``num_betas``.

    Raises:
        ModelMetadataError: naming both models, bodies and shape sizes.
    """
    pb, tb = body_model_of(per_frame), body_model_of(temporal)
    if pb != tb or per_frame.num_betas != temporal.num_betas:
        raise ModelMetadataError(
            f"{temporal_source} and {per_frame_source} use different body models: the temporal model computes "
            f"joints with '{tb}' ({temporal.num_betas} shape parameters), the per-frame model with '{pb}' "
            f"({per_frame.num_betas}); their joints would come from different bodies. Export both with the same "
            f"`python -m training.export --body ...`")
