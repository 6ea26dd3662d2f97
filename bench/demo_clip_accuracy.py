"""3D accuracy of the perception pipeline on every frame of the demo clip, offline (no ROS, no dropped frames).

    python -m bench.demo_clip_accuracy [--per-frame-model PATH] [--keypoint-fit off limbs camera_limbs]
        [--body-scale model neutral floor] [--flip-test] [--threads 1]

`make demo` scores the frames the nodes happened to process in 20 s on a shared CPU (which frames varies with the
load); this runs the same `PerceptionPipeline` (default detector, the packaged models) on all frames of one period of
the pre-rendered demo clip (`.cache/demo_scene`, made by `make setup`; 180 frames at 15 fps, a textured Anny person
walking 6 m -> 1.5 m -> 6 m) and scores the best-scored person of every frame against the clip's exact ground truth,
for each path (per-frame only; causal PoseBERT), each ``body_scale`` and each ``keypoint_fit`` setting:

  MPJPE / PA-MPJPE   root-relative joints, mm (PA: Procrustes-aligned)
  accel. error       mean |d2(estimate) - d2(truth)| of the root-relative joints over consecutive frames, mm/frame^2
  root error         |root position error| in the camera frame, mm; depth: signed mean (+ = estimated too far)
  body size          mean joint distance from the root, estimate / truth (the scale-depth ambiguity: a body
                     estimated small is placed close)
"""
from __future__ import annotations

import argparse
import os
import platform
from dataclasses import dataclass

import numpy as np

PATHS = (("per-frame only", "none"), ("causal PoseBERT", ""))


@dataclass
class ClipRow:
    """One configuration's numbers over ``frames`` scored frames."""

    path: str
    keypoint_fit: str
    body_scale: str
    mpjpe: float
    pa_mpjpe: float
    accel_error: float
    root_error: float
    depth_bias: float
    size_ratio: float
    frames: int


def procrustes_error(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean joint error after the similarity transform that best aligns ``pred`` (J, 3) to ``gt`` (J, 3)."""
    mp, mg = pred.mean(0), gt.mean(0)
    p0, g0 = pred - mp, gt - mg
    u, s, vt = np.linalg.svd(p0.T @ g0)
    d = np.sign(np.linalg.det(u @ vt))
    dm = np.diag([1.0, 1.0, d])
    rot = (u @ dm @ vt).T
    scale = float((s * np.diag(dm)).sum() / (p0 ** 2).sum())
    return float(np.linalg.norm(scale * p0 @ rot.T + mg - gt, axis=1).mean())


def score(path: str, fit: str, frames: list[int], est: list[np.ndarray], truth: list[np.ndarray],
          body_scale: str = "model") -> ClipRow:
    """Metrics of estimated joints ``est`` [(J, 3) m, camera frame] of clip frames ``frames`` against ``truth``."""
    if not est:
        raise ValueError(f"{path}, keypoint_fit {fit}: no frame was estimated")
    e, t = np.stack(est), np.stack(truth)
    er, tr = e - e[:, :1], t - t[:, :1]
    cons = [i for i in range(len(frames) - 2) if frames[i + 2] - frames[i] == 2]
    acc = [np.linalg.norm((er[i + 2] - 2 * er[i + 1] + er[i]) - (tr[i + 2] - 2 * tr[i + 1] + tr[i]), axis=1).mean()
           for i in cons]
    size = np.linalg.norm(er, axis=2).mean(1) / np.linalg.norm(tr, axis=2).mean(1)
    return ClipRow(path, fit, body_scale, float(np.linalg.norm(er - tr, axis=2).mean() * 1e3),
                   float(np.mean([procrustes_error(a, b) for a, b in zip(er, tr)]) * 1e3),
                   float(np.mean(acc) * 1e3) if acc else float("nan"),
                   float(np.linalg.norm(e[:, 0] - t[:, 0], axis=1).mean() * 1e3),
                   float((e[:, 0, 2] - t[:, 0, 2]).mean() * 1e3), float(size.mean()), len(frames))


def run(scene, temporal: str, fit: str, per_frame_model: str, threads: int,
        body_scale: str = "model", flip_test: bool = False) -> tuple[list[int], list, list]:
    """The clip's frames through one pipeline configuration: (frame indices, estimates, truths) of estimated frames."""
    from pose_estimation_ros.camera_model import Intrinsics
    from pose_estimation_ros.perception.pipeline import PerceptionConfig, PerceptionPipeline

    fps = float(scene.clip.meta["fps"])
    period = int(round(1e9 / fps))
    # body_scale floor: the clip's camera is level, camera_height_m above the floor
    floor = {"floor_camera_height": scene.camera_height_m} if body_scale == "floor" else {}
    pipe = PerceptionPipeline(PerceptionConfig(per_frame_model=per_frame_model, temporal_model=temporal,
                                               keypoint_fit=fit, body_scale=body_scale, frame_period_ns=period,
                                               threads=threads, flip_test=flip_test, **floor))
    intr = Intrinsics(scene.width, scene.height, scene.fx, scene.fy, scene.cx, scene.cy)
    frames, est, truth = [], [], []
    try:
        for k in range(int(round(scene.period_s * fps))):
            rgb, gt = scene.render(k / fps)
            res = pipe.process(rgb, (k + 1) * period, intr)
            if res.estimates:
                frames.append(k)
                est.append(max(res.estimates, key=lambda e: e.score).joints_cam.astype(np.float64))
                truth.append(np.asarray(gt["joints_cam"], np.float64))
    finally:
        pipe.close()
    return frames, est, truth


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-frame-model", default="", help="'' = packaged mocap_spin.onnx")
    ap.add_argument("--keypoint-fit", nargs="+", default=["off", "limbs", "camera_limbs"],
                    choices=("off", "limbs", "camera_limbs"))
    ap.add_argument("--body-scale", nargs="+", default=["model"], choices=("model", "neutral", "floor"))
    ap.add_argument("--flip-test", action="store_true", help="the pipeline's flip_test on (every row)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    from pose_estimation_ros.synthetic_scene import SyntheticScene

    scene = SyntheticScene(640, 480, clip="auto")
    if scene.clip is None:
        raise SystemExit("the pre-rendered demo clip is missing: `make setup` renders .cache/demo_scene "
                         "(python -m training.render.demo_scene)")
    rows = [score(label, fit, *run(scene, temporal, fit, args.per_frame_model, args.threads, body, args.flip_test),
                  body_scale=body)
            for body in args.body_scale for label, temporal in PATHS for fit in args.keypoint_fit]
    print(f"\ndemo clip ({len(scene.clip.gt['joints_cam'])} frames, {scene.clip.meta['fps']:g} fps, walk 6 m -> 1.5 m "
          f"-> 6 m), per-frame model {args.per_frame_model or 'packaged'}{', flip test' if args.flip_test else ''}; "
          f"{platform.machine()}, {os.cpu_count()} cores\n")
    print("| path | body_scale | keypoint_fit | MPJPE mm | PA-MPJPE mm | accel. error mm/frame^2 | root error mm "
          "| depth bias mm | body size est/true | frames |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.path} | {r.body_scale} | {r.keypoint_fit} | {r.mpjpe:.1f} | {r.pa_mpjpe:.1f} | "
              f"{r.accel_error:.1f} | "
              f"{r.root_error:.0f} | {r.depth_bias:+.0f} | {r.size_ratio:.3f} | {r.frames} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
