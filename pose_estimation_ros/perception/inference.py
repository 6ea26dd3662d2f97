"""ONNX Runtime sessions for the exported models, with metadata checks and provider fallback."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .metadata import (JOINTS_READOUT, KIND_PER_FRAME, KIND_TEMPORAL, PER_FRAME_INPUT, PER_FRAME_KEYPOINTS,
                       PER_FRAME_OUTPUTS, TEMPORAL_INPUTS, TEMPORAL_OUTPUTS, ModelMetadata, ModelMetadataError,
                       check_metadata, load_metadata, temporal_joints_frames)

log = logging.getLogger(__name__)

PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


# Options passed with a GPU provider when it is used: TensorRT builds fp16 engines (cached between runs, the
# first start takes minutes), CUDA picks convolution algorithms heuristically (no start-up search). All
# people of a frame run as one batch either way (the exported graphs have a dynamic batch axis).
PROVIDER_OPTIONS: dict[str, dict[str, str]] = {
    "TensorrtExecutionProvider": {"trt_fp16_enable": "True", "trt_engine_cache_enable": "True",
                                  "trt_engine_cache_path": str(Path("~/.cache/pose_estimation_ros/trt").expanduser())},
    "CUDAExecutionProvider": {"cudnn_conv_algo_search": "HEURISTIC"},
}


def select_providers(name: str) -> tuple[list[str], str | None]:
    """Map a provider parameter to the ONNX Runtime providers available here.

    Returns:
        (providers, warning): warning is None when the request is fully available, else a message
        saying what was requested and what is used instead (CPU in the end).
    Raises:
        ValueError: unknown provider name.
    """
    key = name.strip().lower()
    if key not in PROVIDERS:
        raise ValueError(f"unknown execution provider '{name}' (valid: {', '.join(PROVIDERS)})")
    available = set(ort.get_available_providers())
    wanted = PROVIDERS[key]
    chosen = [p for p in wanted if p in available] or ["CPUExecutionProvider"]
    warning = None
    if chosen[0] != wanted[0]:
        warning = (f"execution provider '{name}' ({wanted[0]}) is not available in this onnxruntime "
                   f"(available: {sorted(available)}); falling back to {chosen[0]}")
    return chosen, warning


class OnnxModel:
    """One exported model: its checked metadata and an inference session.

    Args:
        path: the ``.onnx`` file (metadata JSON beside it).
        kind: expected kind; joint_names / input_size / window: what the caller is configured for.
        provider: 'cpu' | 'cuda' | 'tensorrt'.
        threads: intra-op threads (0 = onnxruntime default).
    Raises:
        ModelMetadataError: missing files, metadata mismatch, or a graph whose tensors differ from
            its metadata.
    """

    def __init__(self, path: str | Path, *, kind: str, joint_names, input_size=None, window=None, lag=None,
                 provider: str = "cpu", threads: int = 0) -> None:
        self.path = Path(path)
        self.meta: ModelMetadata = load_metadata(self.path)
        check_metadata(self.meta, kind=kind, joint_names=joint_names, input_size=input_size, window=window,
                       lag=lag, source=str(self.path))
        providers, self.provider_warning = select_providers(provider)
        if self.provider_warning:
            log.warning(self.provider_warning)
        opts = ort.SessionOptions()
        if threads > 0:
            opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        try:
            with_options = [(p, PROVIDER_OPTIONS[p]) if p in PROVIDER_OPTIONS else p for p in providers]
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=with_options)
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelMetadataError(f"{self.path}: onnxruntime cannot load the model: {e}") from e
        self.providers = self.session.get_providers()
        self._check_graph(kind)
        first = self.session.get_inputs()[0].shape[0]
        # A symbolic (or -1/None) first axis: all people of a frame run as one batch; else one run per person.
        self.dynamic_batch: bool = not isinstance(first, int) or first < 1

    def _check_graph(self, kind: str) -> None:
        ins = {i.name: i for i in self.session.get_inputs()}
        outs = [o.name for o in self.session.get_outputs()]
        want_in = self.per_frame_inputs if kind == KIND_PER_FRAME else TEMPORAL_INPUTS
        want_out = PER_FRAME_OUTPUTS if kind == KIND_PER_FRAME else TEMPORAL_OUTPUTS
        if set(ins) != set(want_in) or list(outs) != list(want_out):
            raise ModelMetadataError(
                f"{self.path}: graph tensors {sorted(ins)} -> {outs} differ from the {kind} interface "
                f"{list(want_in)} -> {list(want_out)}")
        if kind == KIND_PER_FRAME:
            shape = ins[PER_FRAME_INPUT].shape
            if list(shape[2:]) != list(self.meta.input_size):
                raise ModelMetadataError(
                    f"{self.path}: graph input size {shape[2:]} differs from its metadata {self.meta.input_size}")
        if kind == KIND_TEMPORAL:
            shape = ins[TEMPORAL_INPUTS[0]].shape
            if shape[1] != self.meta.window:
                raise ModelMetadataError(
                    f"{self.path}: graph window {shape[1]} differs from its metadata window {self.meta.window}")
            jf = temporal_joints_frames(self.meta)
            frames = 1 if jf == JOINTS_READOUT else self.meta.window
            jshape = self.session.get_outputs()[1].shape
            if len(jshape) != 4 or jshape[1] != frames:
                raise ModelMetadataError(f"{self.path}: graph joints output {jshape} does not hold the {frames} "
                                         f"slot(s) its metadata says (architecture.joints_frames = {jf})")

    @property
    def per_frame_inputs(self) -> tuple[str, ...]:
        """The graph inputs a per-frame model's metadata promises: the image (and the keypoints)."""
        return (PER_FRAME_INPUT,) + ((PER_FRAME_KEYPOINTS,) if self.meta.keypoint_input != "none" else ())

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run the session; returns outputs in interface order."""
        return self.session.run(None, feeds)


def load_per_frame(path, *, joint_names, input_size=None, provider="cpu", threads=0) -> OnnxModel:
    return OnnxModel(path, kind=KIND_PER_FRAME, joint_names=joint_names, input_size=input_size,
                     provider=provider, threads=threads)


def load_temporal(path, *, joint_names, window=None, lag=None, provider="cpu", threads=0) -> OnnxModel:
    return OnnxModel(path, kind=KIND_TEMPORAL, joint_names=joint_names, window=window, lag=lag, provider=provider,
                     threads=threads)


__all__ = ["OnnxModel", "ModelMetadataError", "select_providers", "load_per_frame", "load_temporal"]
