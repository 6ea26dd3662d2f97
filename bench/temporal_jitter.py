"""Root-position jitter of the perception output with and without the temporal path, on a rendered sequence.

    python -m bench.temporal_jitter [--sequence walk] [--crops detector|truth] [--per-frame-model PATH]

The sequence (``bench/sequences.py``, rendered once by ``python -m training.render.make_sequence`` when missing:
one textured person walking 7.2 m -> 2.8 m towards a static camera, 150 frames at 30 fps, exact ground truth) runs
through the whole pipeline three times: per-frame only (``temporal_model none``), temporal causal, temporal with
4 frames of look-ahead. For each published frame the pelvis (joint 0, the root) in the camera frame is compared
with the ground truth:

  jitter        mean |second difference| of the estimate, mm/frame^2 (what the issue measured: 381.7 vs 381.5)
  accel. error  mean |d2(estimate) - d2(truth)|, mm/frame^2 (jitter that the true motion does not explain)
  pelvis error  mean |estimate - truth|, mm;  depth error: mean |z - z_true|, mm
  reduction     per-frame-only value / this path's value

``--crops detector`` (default): the default detector finds and follows the person (the full path);
``--crops truth``: crops from the rendered visible box every frame (isolates the models from the detector).
"""
from __future__ import annotations

import argparse
import os
import platform
from dataclasses import dataclass

import numpy as np

PATHS = (("per-frame only", "none", 0), ("temporal, causal", "", 0), ("temporal, lag 4", "", 4))


@dataclass
class JitterRow:
    """One path's numbers (mm, mm/frame^2) over ``frames`` published frames (``triples`` second differences)."""

    path: str
    jitter: float
    accel_error: float
    pelvis_error: float
    depth_error: float
    frames: int
    triples: int


class TruthBoxes:
    """Stand-in detector: the rendered person's visible box of the current frame (set ``box``)."""

    name = "rendered boxes"
    box = None

    def detect(self, rgb):
        from pose_estimation_ros.perception.detectors import Detection
        return [Detection(np.asarray(self.box, np.float32), 0.9)]


def jitter_row(path: str, est: dict[int, np.ndarray], truth: np.ndarray) -> JitterRow:
    """Metrics of estimated root positions ``est`` {frame index: (3,) m} against ``truth`` (T, 3) m.

    Second differences use runs of three consecutive published frames only.
    """
    frames = sorted(est)
    trip = [f for f in frames if f + 1 in est and f + 2 in est]
    if not trip:
        raise ValueError(f"{path}: fewer than 3 consecutive frames published")
    e = np.stack([[est[f], est[f + 1], est[f + 2]] for f in trip])          # (K, 3, 3)
    t = np.stack([[truth[f], truth[f + 1], truth[f + 2]] for f in trip])
    d2e = e[:, 2] - 2 * e[:, 1] + e[:, 0]
    d2t = t[:, 2] - 2 * t[:, 1] + t[:, 0]
    pos = np.stack([est[f] for f in frames])
    tru = truth[frames]
    return JitterRow(path, float(np.linalg.norm(d2e, axis=1).mean() * 1e3),
                     float(np.linalg.norm(d2e - d2t, axis=1).mean() * 1e3),
                     float(np.linalg.norm(pos - tru, axis=1).mean() * 1e3),
                     float(np.abs(pos[:, 2] - tru[:, 2]).mean() * 1e3), len(frames), len(trip))


def floor_mount(seq) -> dict[str, float]:
    """``body_scale floor`` parameters of the sequence's (static) camera: its tilt from the first frame's extrinsics
    (world y up) and its height above the plane the person walks on.

    ``make_sequence`` puts the motion's lowest joint 4 cm above ``y = 0`` but draws no floor (the background is a
    photo), and the rendered body's foot joints sit higher than the mocap skeleton's toes (0.09-0.16 m above
    ``y = 0`` on ``walk``), so the walked plane is taken from the truth: the lowest foot joint of the clip minus
    the runtime's ``FLOOR_SOLE_HEIGHT`` (what a robot's mount would measure from the real floor)."""
    from pose_estimation_ros.perception.floor import FOOT_JOINTS, pitch_roll_from_up
    from pose_estimation_ros.perception.pipeline import FLOOR_SOLE_HEIGHT

    if seq.camera_R is None:
        raise SystemExit(f"body_scale floor: sequence '{seq.name}' has no camera extrinsics (camera_R, camera_t)")
    up = np.asarray(seq.camera_R[0], np.float64) @ np.array([0.0, 1.0, 0.0])
    pitch, roll = pitch_roll_from_up(up)
    lowest = float((np.asarray(seq.joints3d[:, 0], np.float64)[:, list(FOOT_JOINTS)] @ up).min())   # camera frame
    return {"floor_camera_height": FLOOR_SOLE_HEIGHT - lowest, "floor_camera_pitch_deg": pitch,
            "floor_camera_roll_deg": roll}


def run_path(seq, label: str, temporal: str, lag: int, crops: str, per_frame_model: str, threads: int,
             body_scale: str = "model") -> JitterRow:
    """The sequence through one pipeline configuration; the root of the (only / best-scored) person per frame."""
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

    period = int(round(1e9 / seq.fps))
    det = TruthBoxes() if crops == "truth" else None
    floor = floor_mount(seq) if body_scale == "floor" else {}
    cfg = PerceptionConfig(per_frame_model=per_frame_model, temporal_model=temporal, temporal_lag=lag, threads=threads,
                           frame_period_ns=period, detect_every=1, body_scale=body_scale, **floor)
    pipe = PerceptionPipeline(cfg, detector=det)
    h, w = seq.frames.shape[1:3]
    intr = Intrinsics(w, h, seq.K[0, 0], seq.K[1, 1], seq.K[0, 2], seq.K[1, 2])
    est: dict[int, np.ndarray] = {}
    for i, rgb in enumerate(seq.frames):
        if det is not None:
            det.box = seq.boxes[i, 0]
        res = pipe.process(rgb, (i + 1) * period, intr)
        if res.estimates:
            best = max(res.estimates, key=lambda e: e.score)
            est[int(round(res.stamp_ns / period)) - 1] = best.joints_cam[0].astype(np.float64)
    return jitter_row(label, est, seq.joints3d[:, 0, 0].astype(np.float64))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sequence", default="walk", help="a bench/sequences.py name, or a make_sequence output folder")
    ap.add_argument("--crops", choices=("detector", "truth"), default="detector")
    ap.add_argument("--per-frame-model", default="", help="'' = packaged mocap_spin.onnx")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--body-scale", default="model", choices=("model", "neutral", "floor"),
                    help="the pipeline's body_scale (floor: the sequence camera's height and tilt)")
    args = ap.parse_args(argv)

    from bench.sequences import SEQUENCES, ensure_sequence, load_sequence

    folder = ensure_sequence(args.sequence) if args.sequence in SEQUENCES else args.sequence
    seq = load_sequence(folder)
    rows = [run_path(seq, label, temporal, lag, args.crops, args.per_frame_model, args.threads, args.body_scale)
            for label, temporal, lag in PATHS]
    base = rows[0]
    print(f"\nroot (pelvis) position in the camera frame, rendered sequence '{seq.name}' ({len(seq.frames)} frames, "
          f"{seq.fps:g} fps, 1 person, depth {seq.joints3d[0, 0, 0, 2]:.1f} m -> {seq.joints3d[-1, 0, 0, 2]:.1f} m), "
          f"crops from the {'default detector (full path)' if args.crops == 'detector' else 'rendered boxes'}; "
          f"{platform.machine()}, {os.cpu_count()} cores\n")
    print("| path | jitter mm/frame^2 | reduction | acceleration error mm/frame^2 | reduction | pelvis error mm | "
          "depth error mm | frames published |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.path} | {r.jitter:.1f} | {base.jitter / r.jitter:.1f}x | {r.accel_error:.1f} | "
              f"{base.accel_error / r.accel_error:.1f}x | {r.pelvis_error:.0f} | {r.depth_error:.0f} | {r.frames} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
