"""Evaluate an exported per-frame model (onnxruntime), per frame and as video with PoseBERT.

    python -m training.spin.evaluate --model models/mocap_spin.onnx [--posebert models/posebert.onnx]
        [--shards NAME=DIR ...] [--benchmark render|standin|stick] [--frames 256] [--clips 8 --clip-len 48]
        [--real FORMAT:PATH[:IMAGE_ROOT] ...] [--out runs/spin_eval.json]

Metrics (mm; root-relative joints, as in SPIN / PoseBERT tables): MPJPE, PA-MPJPE (Procrustes), MPVPE
(mesh vertices of the model's body, root-aligned; where the ground truth has pose and shape of that
body), accel error (mm/frame^2, video clips only), and on 2D-only data PCK@0.1 of the crop (projected
joints vs visible keypoints). Benchmarks: ``render`` = the test subjects' motions rendered with the
held-out textures/backgrounds (``training.render``), ``standin`` = the stand-in "real" appearance
domain, ``stick`` = stick figures (smoke). Video: consecutive frames of held-out clips, the per-frame
model on every frame, then PoseBERT streamed causally as the runtime does
(:func:`training.posebert.stream.stream_estimates`).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from pose_estimation_ros.perception import metadata as model_meta
from training.geometry.rotations import rot6d_to_rotmat
from training.posebert.metrics import accel_error, mpjpe, pa_mpjpe
from training.spin.data import images_to_input

__all__ = ["PerFrameRunner", "frame_metrics", "source_split_metrics", "video_metrics", "video_predictions", "pck",
           "main"]


class PerFrameRunner:
    """An exported per-frame model in onnxruntime: (N, S, S, 3) uint8 RGB crops -> output dict."""

    def __init__(self, path: str | Path, threads: int = 2) -> None:
        import onnxruntime as ort

        self.meta = model_meta.load_metadata(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        self.size = int(self.meta.input_size[0])
        self.withhold_keypoints = False     # a keypoint-input model gets none (its image-only fallback)
        self.flip_test = False              # also the mirrored crops, averaged (the runtime's flip_test)

    def _run(self, x: np.ndarray, kp: np.ndarray | None) -> list[np.ndarray]:
        """One onnxruntime call: (N, 3, S, S) normalised crops [+ (N, 17, 3) keypoint input] -> the outputs."""
        feeds = {model_meta.PER_FRAME_INPUT: x}
        if kp is not None:
            feeds[model_meta.PER_FRAME_KEYPOINTS] = kp
        return self.sess.run(list(model_meta.PER_FRAME_OUTPUTS), feeds)

    @property
    def keypoint_input(self) -> str:
        return self.meta.keypoint_input

    def source_keypoints(self, images: torch.Tensor) -> np.ndarray:
        """``(N, 17, 3)`` crop px + confidence of the 2D source the runtime uses (BlazePose's landmark model,
        the whole crop as its ROI), for a keypoint-input model."""
        from training.spin.shard_keypoints import landmark_keypoints

        if getattr(self, "_source", None) is None:
            from pose_estimation_ros.perception.detectors.blazepose import BlazePoseDetector
            self._source = BlazePoseDetector(tiles=1)
        return np.stack([landmark_keypoints(self._source, im) for im in images.numpy()])

    def __call__(self, images: torch.Tensor, keypoints: torch.Tensor | np.ndarray | None = None,
                 batch: int = 16) -> dict[str, torch.Tensor]:
        """Outputs for ``images`` (N, S, S, 3) uint8; a keypoint-input model also gets ``keypoints`` (N, 17, 3)
        crop px + confidence, by default those of :meth:`source_keypoints`."""
        from training.spin.keypoints import normalize_keypoints_px

        if images.shape[1:3] != (self.size, self.size):
            raise ValueError(f"the model takes {self.size}x{self.size} crops, got {tuple(images.shape[1:3])}")
        kp = None
        if self.keypoint_input != "none":
            if self.withhold_keypoints:
                kp = np.zeros((images.shape[0], 17, 3), np.float32)
            else:
                kp = normalize_keypoints_px(self.source_keypoints(images) if keypoints is None
                                            else np.asarray(keypoints), self.size)
        outs: list[list[np.ndarray]] = []
        for s in range(0, images.shape[0], batch):
            x = images_to_input(images[s:s + batch]).numpy()
            k = None if kp is None else np.asarray(kp[s:s + batch], np.float32)
            outs.append(self._run(x, k))
            if self.flip_test:
                from pose_estimation_ros.perception.flip_test import average_outputs, mirror_inputs, mirror_outputs

                mirrored = mirror_outputs(*self._run(*mirror_inputs(x, k, self.size)), self.size)
                outs[-1] = list(average_outputs(tuple(outs[-1]), mirrored))
        res = {n: torch.as_tensor(np.concatenate([o[i] for o in outs])) for i, n in
               enumerate(model_meta.PER_FRAME_OUTPUTS)}
        # As the runtime does before its temporal model: orthonormal 6D (the rotations the model's body reads).
        from pose_estimation_ros.kinematics import orthonormal_rot6d
        res["pose6d"] = torch.as_tensor(orthonormal_rot6d(res["pose6d"].numpy()), dtype=res["pose6d"].dtype)
        return res


def _root(j: torch.Tensor) -> torch.Tensor:
    return j - j[:, :1]


def mpvpe(body, pred_rot: torch.Tensor, pred_shape: torch.Tensor, gt_rot: torch.Tensor,
          gt_shape: torch.Tensor) -> torch.Tensor:
    """(N,) mean vertex error in mm of two posed meshes of ``body``, each translated so its pelvis
    joint is at the origin."""
    with torch.no_grad():
        p = body(pred_rot, pred_shape, with_mesh=True)
        g = body(gt_rot, gt_shape, with_mesh=True)
    pv = p.vertices - p.joints[:, :1]
    gv = g.vertices - g.joints[:, :1]
    return 1000.0 * torch.linalg.vector_norm(pv.double() - gv.double(), dim=-1).mean(-1)


def pck(pred2d: torch.Tensor, gt2d: torch.Tensor, vis: torch.Tensor, size: int, thr: float = 0.1) -> float:
    """Fraction of visible keypoints within ``thr * size`` px (crop pixels)."""
    d = torch.linalg.vector_norm(pred2d - gt2d, dim=-1)
    v = vis > 0
    return float(((d < thr * size) & v).sum() / v.sum().clamp_min(1))


def frame_metrics(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], body=None) -> dict[str, float]:
    """Per-frame metrics of runner outputs against standardised samples (see module docstring)."""
    from training.spin.losses import project_weak

    res: dict[str, float] = {"n": int(out["joints"].shape[0])}
    has3d = batch["has_3d"].bool()
    if bool(has3d.any()):
        pr, gt = _root(out["joints"][has3d]), _root(batch["joints3d"][has3d])
        res["mpjpe"] = float(mpjpe(pr, gt).mean())
        res["pa_mpjpe"] = float(pa_mpjpe(pr, gt).mean())
    size = batch["image"].shape[1]
    uv = (project_weak(out["joints"] - out["joints"][:, :1], out["cam"]) + 1) * size / 2
    res["pck@0.1"] = pck(uv, batch["joints2d"], batch["visibility"], size)
    ok = batch["has_pose"].bool() & batch["has_shape"].bool()
    if body is not None and bool(ok.any()) and out["betas"].shape[-1] == batch["shape"].shape[-1]:
        try:
            res["mpvpe"] = float(mpvpe(body, rot6d_to_rotmat(out["pose6d"][ok]), out["betas"][ok],
                                       batch["rotmats"][ok], batch["shape"][ok]).mean())
        except (NotImplementedError, AttributeError, TypeError):
            pass
    return res


def keypoint_fit_outputs(out: dict[str, torch.Tensor], keypoints_px: np.ndarray, size: int,
                         camera: bool = False) -> dict[str, torch.Tensor]:
    """The runtime's keypoint fit (``pose_estimation_ros.perception.keypoint_fit``: limbs; with ``camera`` the camera
    refit first, ``keypoint_fit: camera_limbs``) applied to runner outputs on crops: ``keypoints_px`` (N, 17, 3) crop
    px + confidence, the model's input.

    In the crop's weak-perspective frame a keypoint's viewing ray is parallel to the optical axis through
    ``(X, Y) = (u / s - tx, v / s - ty)`` (root-relative metres), which is what the perspective rays of the runtime
    become for a crop. Returns a copy of ``out`` with ``joints`` (root-relative) and ``cam`` fitted; ``pose6d`` and
    ``betas`` are the model's (so MPVPE is not affected and not meaningful for these rows).
    """
    from pose_estimation_ros.perception.keypoint_fit import CameraFit, confident_limbs, fit_limbs, fit_weak_camera
    from training.spin.keypoints import normalize_keypoints_px

    settings = CameraFit()
    kpn = normalize_keypoints_px(np.asarray(keypoints_px), size)
    joints = (out["joints"] - out["joints"][:, :1]).double().numpy()
    cams = out["cam"].double().numpy()
    fj, fc = np.empty_like(joints), np.empty_like(cams)
    for i in range(len(joints)):
        c = fit_weak_camera(joints[i], cams[i], kpn[i], settings)[0] if camera else cams[i]
        rays = np.full((joints.shape[1], 3), np.nan)
        org = np.zeros((joints.shape[1], 3))
        for j, u, v in confident_limbs(kpn[i]):
            rays[j] = (0.0, 0.0, 1.0)
            org[j] = (u / c[0] - c[1], v / c[0] - c[2], 0.0)
        fj[i], fc[i] = fit_limbs(joints[i], rays, org), c
    res = dict(out)
    res["joints"] = torch.as_tensor(fj, dtype=out["joints"].dtype)
    res["cam"] = torch.as_tensor(fc, dtype=out["cam"].dtype)
    return res


def _subset(d: dict[str, torch.Tensor], m: torch.Tensor) -> dict[str, torch.Tensor]:
    """Rows ``m`` (N,) bool of every (N, ...) tensor of an output or batch dict."""
    n = m.shape[0]
    return {k: (v[m] if torch.is_tensor(v) and v.ndim > 0 and v.shape[0] == n else v) for k, v in d.items()}


def source_split_metrics(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], keypoints: torch.Tensor,
                         body=None) -> dict[str, dict[str, float]]:
    """:func:`frame_metrics` of the crops where the 2D source found the person (any keypoint with confidence > 0
    in ``keypoints`` (N, 17, 3): what the runtime feeds the model) and of those where it did not (the model's
    image-only fallback; at run time such a person is not followed). Empty subsets are left out."""
    found = torch.as_tensor(keypoints)[..., 2].amax(dim=1) > 0
    res = {}
    for name, m in (("source found", found), ("source missed", ~found)):
        if bool(m.any()):
            res[name] = frame_metrics(_subset(out, m), _subset(batch, m), body)
    return res


def video_metrics(clips: list[dict[str, torch.Tensor]], runner: PerFrameRunner, body,
                  posebert: str | Path | None = None, outputs: list[dict[str, torch.Tensor]] | None = None
                  ) -> dict[str, dict[str, float]]:
    """Per-frame vs per-frame + PoseBERT (causal streaming) on consecutive-frame clips.

    Each clip: ``image`` (N, S, S, 3), ``joints3d`` (N, 24, 3). ``outputs``: the runner's outputs per clip when
    already computed. Returns {method: {mpjpe, pa_mpjpe, accel_err}}.
    """
    from training.posebert.stream import onnx_runner, stream_estimates

    methods: dict[str, list[dict[str, torch.Tensor]]] = {"per-frame": []}
    run_t = window = lag = None
    if posebert:
        meta = model_meta.load_metadata(posebert)
        window, lag = int(meta.window), int(meta.architecture.get("lag", 0))
        run_t = onnx_runner(posebert)
        methods[f"+ PoseBERT ({Path(posebert).stem})"] = []
    for k, clip in enumerate(clips):
        out = runner(clip["image"]) if outputs is None else outputs[k]
        gt = _root(clip["joints3d"])
        methods["per-frame"].append({"pred": _root(out["joints"]), "gt": gt})
        if run_t is not None:
            valid = torch.isfinite(out["joints"]).all(-1).all(-1)
            pose = stream_estimates(run_t, out["pose6d"], out["betas"], valid, window, lag)
            with torch.no_grad():
                joints = body.joints(rot6d_to_rotmat(pose), out["betas"][:pose.shape[0]])
            methods[list(methods)[1]].append({"pred": _root(joints), "gt": gt[:pose.shape[0]]})
    res = {}
    for name, items in methods.items():
        e = torch.cat([mpjpe(i["pred"], i["gt"]) for i in items])
        pa = torch.cat([pa_mpjpe(i["pred"], i["gt"]) for i in items])
        acc = torch.cat([accel_error(i["pred"], i["gt"]) for i in items if len(i["gt"]) > 2])
        res[name] = {"mpjpe": float(e.mean()), "pa_mpjpe": float(pa.mean()), "accel_err": float(acc.mean()),
                     "frames": int(e.numel())}
    return res


def video_predictions(clips: list[dict[str, torch.Tensor]], runner: PerFrameRunner,
                      outputs: list[dict[str, torch.Tensor]] | None = None) -> dict[str, np.ndarray]:
    """The per-frame model's estimates on consecutive-frame clips, in the format of
    ``training.posebert.evaluate --per-frame-preds`` and ``training.posebert.noise_model fit --residuals``.

    Each clip: ``image`` (N, S, S, 3), ``rotmats`` (N, 24, 3, 3) (joint 0 in the camera frame), ``shape`` (NB,),
    ``sequence``. Returns ``pred_pose6d`` (M, 24, 6), ``pred_betas`` (M, NB), ``gt_rotmats`` (M, 24, 3, 3),
    ``gt_betas`` (M, NB), ``valid`` (M,) and ``sequence`` (M,) (one id per clip, frames in time order).
    ``outputs``: the runner's outputs per clip when already computed.
    """
    keys = ("pred_pose6d", "pred_betas", "gt_rotmats", "gt_betas", "valid", "sequence")
    out: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for c, clip in enumerate(clips):
        if "rotmats" not in clip or "shape" not in clip:
            raise KeyError("video_predictions needs clips with 'rotmats' and 'shape' (make_render_clips)")
        res = runner(clip["image"]) if outputs is None else outputs[c]
        n = res["pose6d"].shape[0]
        out["pred_pose6d"].append(res["pose6d"].numpy().astype(np.float32))
        out["pred_betas"].append(res["betas"].numpy().astype(np.float32))
        out["gt_rotmats"].append(clip["rotmats"].numpy().astype(np.float32))
        out["gt_betas"].append(np.broadcast_to(clip["shape"].numpy().astype(np.float32), (n, clip["shape"].shape[-1])))
        out["valid"].append(np.isfinite(out["pred_pose6d"][-1]).all(axis=(1, 2)))
        out["sequence"].append(np.full(n, f"{clip['sequence']}#{c}"))
    return {k: np.concatenate(v) for k, v in out.items()}


def _collate_all(ds, n: int) -> dict[str, torch.Tensor]:
    from training.spin.data import collate

    return collate([ds[i] for i in range(min(n, len(ds)))])


def _table(rows: dict[str, dict[str, float]]) -> str:
    keys = [k for k in ("mpjpe", "pa_mpjpe", "mpvpe", "accel_err", "pck@0.1", "n", "frames")
            if any(k in r for r in rows.values())]
    lines = ["| set / method | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(
            (f"{r[k]:.1f}" if k not in ("pck@0.1",) else f"{r[k]:.3f}") if isinstance(r.get(k), float)
            else str(r.get(k, "–")) for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.spin.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--model", default="models/mocap_spin.onnx")
    p.add_argument("--posebert", default=None, help="temporal ONNX for the video rows (same body)")
    p.add_argument("--config", default="training/configs/spin_default.yaml",
                   help="run config giving the data (subjects, render settings)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--benchmark", nargs="*", default=[], choices=["render", "standin", "stick"],
                   help="render these benchmark sets on the fly (--frames samples each)")
    p.add_argument("--frames", type=int, default=256)
    p.add_argument("--clips", type=int, default=0, help="video clips (0 = no video rows)")
    p.add_argument("--clip-len", type=int, default=48)
    p.add_argument("--shards", nargs="*", default=[], metavar="NAME=DIR",
                   help="pre-rendered shard folders to evaluate on (training.spin.render_shards), e.g. "
                        "render-test=runs/spin/shards/test")
    p.add_argument("--shift", default="none", choices=["none", "site_camera"],
                   help="pass the --shards images through this fixed camera (training.spin.domain_shift)")
    p.add_argument("--real", nargs="*", default=[], metavar="FORMAT:PATH[:IMAGE_ROOT]",
                   help="user datasets (spin_npz / coco / 3dpw) to evaluate on")
    p.add_argument("--no-keypoints", action="store_true",
                   help="a keypoint-input model gets no keypoints (what it does when the detector gives none)")
    p.add_argument("--flip-test", action="store_true",
                   help="run every crop and its mirror image and average (the runtime's flip_test)")
    p.add_argument("--keypoint-fit", action="store_true",
                   help="--shards with keypoints: also rows with the runtime's keypoint fit (limbs and camera_limbs, "
                        "perception.keypoint_fit) applied to the outputs, what the perception node publishes")
    p.add_argument("--video-preds", default=None, metavar="NPZ",
                   help="with --clips: also write the per-frame estimates of the clips here (the input of "
                        "training.posebert.evaluate --per-frame-preds and training.posebert.noise_model fit)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=None, help="write the results JSON here")
    a = p.parse_args(argv)
    if a.video_preds and not a.clips:
        p.error("--video-preds needs --clips N (the video clips whose estimates it writes)")
    from training.spin.checkpoint import build_body
    from training.spin.config import apply_overrides, load_config
    from training.spin import data as spin_data

    torch.set_num_threads(a.threads)
    runner = PerFrameRunner(a.model, a.threads)
    runner.withhold_keypoints = a.no_keypoints
    runner.flip_test = a.flip_test
    body_name = model_meta.body_model_of(runner.meta)
    cfg = apply_overrides(load_config(a.config), a.set + [f"model.input_size={runner.size}",
                                                          f"model.body_model={body_name}"])
    body = build_body(cfg.model)
    rows: dict[str, dict[str, float]] = {}
    for bench in a.benchmark:
        c = apply_overrides(cfg, ["data.source=stick"]) if bench == "stick" else cfg
        ds = (spin_data.make_real(c, body, "test", length=a.frames) if bench == "standin"
              else spin_data.make_synthetic(c, body, "test", length=a.frames))
        batch = _collate_all(ds, a.frames)
        rows[f"{bench} test (per frame)"] = frame_metrics(runner(batch["image"]), batch, body)
    for spec in a.shards:
        name, _, folder = spec.rpartition("=")
        shards = spin_data.ShardDataset([folder], size=runner.size)
        ds = spin_data._Standardized(shards, body.num_shape, real=False)
        batch = _collate_all(ds, a.frames)
        # the keypoints labelled beside the shards (training.spin.shard_keypoints) are the source's on these images
        kp = batch["keypoints"] if "keypoints" in shards.data else None
        if a.shift != "none":
            from training.spin.domain_shift import apply_shift
            batch["image"] = torch.from_numpy(apply_shift(batch["image"].numpy(), a.shift, seed=1))
            name, kp = f"{name or folder}, {a.shift}", None
        out = runner(batch["image"], kp)
        rows[f"{name or folder} (per frame)"] = frame_metrics(out, batch, body)
        if kp is not None and runner.keypoint_input != "none" and not a.no_keypoints:
            for sub, r in source_split_metrics(out, batch, kp, body).items():
                rows[f"{name or folder} (per frame, {sub})"] = r
            if a.keypoint_fit:
                for mode, cam_fit in (("limbs", False), ("camera_limbs", True)):
                    fitted = keypoint_fit_outputs(out, np.asarray(kp), runner.size, camera=cam_fit)
                    rows[f"{name or folder} (per frame + keypoint fit {mode})"] = frame_metrics(fitted, batch, None)
                    for sub, r in source_split_metrics(fitted, batch, kp, None).items():
                        rows[f"{name or folder} (per frame + keypoint fit {mode}, {sub})"] = r
    for spec in a.real:
        fmt, _, rest = spec.partition(":")
        path, _, root = rest.partition(":")
        from training.data.real import RealCropDataset, load_real

        ds = spin_data._Standardized(RealCropDataset(load_real(fmt, path, root or None), runner.size),
                                     body.num_shape, real=True)
        batch = _collate_all(ds, a.frames)
        rows[f"{fmt}:{Path(path).name}"] = frame_metrics(runner(batch["image"]), batch, body)
    if a.clips:
        from training.spin.render_source import make_render_clips

        clips = make_render_clips(cfg, cfg.data.test_subjects, a.clips, a.clip_len, seed=cfg.train.seed + 31)
        outs = [runner(c["image"]) for c in clips]
        for name, r in video_metrics(clips, runner, body, a.posebert, outs).items():
            rows[f"video: {name}"] = r
        if a.video_preds:
            Path(a.video_preds).parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(a.video_preds, **video_predictions(clips, runner, outs))
            print(f"[spin.evaluate] per-frame estimates of {len(clips)} clips -> {a.video_preds}")
    print(_table(rows))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({"model": a.model, "meta_training_data": runner.meta.training_data,
                                           "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
