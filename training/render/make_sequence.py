"""Render motion clips as a video + ground truth (PoseBERT video evaluation, tracking, demos).

    python -m training.render.make_sequence --out runs/render/seq_131_01 [--motion runs/render_motion]
        [--clips 131_01[,131_02]] [--camera static|orbit|follow] [--width 640 --height 480]
        [--hfov-deg 60] [--distance 4.5] [--camera-height 1.3] [--fps 30] [--max-frames 300]
        [--format mp4|jpg] [--shared] [--seed 0]

Each clip is one person (several clips: side by side, 1.5 m apart); the root trajectory comes from
the motion capture (y-up world, feet put on the floor). Camera ``static``: fixed, looking at the
clips' mean position; ``orbit``: circles the mean position once over the sequence; ``follow``: fixed
height, turns to keep the first person centred. Output: see
:func:`training.render.scenes.write_sequence` (``video.mp4`` or ``frames/``, ``ground_truth.npz``,
``meta.json`` with the clips, camera mode and appearance).
"""
from __future__ import annotations

import argparse
import math
import sys

import numpy as np

__all__ = ["main", "place_clips", "camera_path"]


def place_clips(clips: list[tuple[np.ndarray, np.ndarray]], body_joints, spacing: float = 1.5):
    """Put clips on the floor side by side: returns [(rotmats (T, 24, 3, 3), pelvis_world (T, 3))].

    ``body_joints(rotmats (T, 24, 3, 3)) -> (T, 24, 3)`` root-relative joints of the rendering body;
    each clip is lifted so that its lowest joint over the clip sits 4 cm above ``y = 0``, and
    shifted so its first frame is at ``x = k * spacing``, ``z = 0``.
    """
    out = []
    for k, (rot, tr) in enumerate(clips):
        j = body_joints(rot)
        low = float((j[..., 1] + tr[:, None, 1]).min())
        p = tr.astype(np.float64).copy()
        p[:, 1] += 0.04 - low
        p[:, [0, 2]] -= p[0, [0, 2]]
        p[:, 0] += (k - (len(clips) - 1) / 2) * spacing
        out.append((rot, p))
    return out


def camera_path(mode: str, centre: np.ndarray, first: np.ndarray, distance: float, height: float, n: int,
                yaw0: float = 0.0):
    """Callable frame -> (R, t) for ``static`` / ``orbit`` / ``follow`` cameras around ``centre`` (3,)."""
    from training.render.cameras import camera_rotation

    def look(c: np.ndarray, target: np.ndarray):
        d = target - c
        yaw = math.atan2(d[0], d[2])
        pitch = math.atan2(-d[1], math.hypot(d[0], d[2]))
        R = camera_rotation(yaw, pitch, 0.0)
        return R, -R @ c

    base = centre + distance * np.array([math.sin(yaw0), 0.0, math.cos(yaw0)])
    base[1] = height
    target = centre.copy()
    target[1] = 1.0
    if mode == "static":
        R, t = look(base, target)
        return lambda f: (R, t)
    if mode == "orbit":
        def orbit(f):
            a = yaw0 + 2 * math.pi * f / max(n, 1)
            c = centre + distance * np.array([math.sin(a), 0.0, math.cos(a)])
            c[1] = height
            return look(c, target)
        return orbit
    if mode == "follow":
        def follow(f):
            tg = first[min(f, len(first) - 1)].copy()
            tg[1] = 1.0
            return look(base, tg)
        return follow
    raise ValueError(f"unknown camera mode {mode!r}; expected static, orbit or follow")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.render.make_sequence", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--motion", default=None, help="canonical motion folder (default runs/render_motion)")
    ap.add_argument("--clips", default=None, help="comma-separated sequence names (default: the first clip)")
    ap.add_argument("--camera", default="static", choices=("static", "orbit", "follow"))
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--hfov-deg", type=float, default=60.0)
    ap.add_argument("--distance", type=float, default=4.5, help="camera distance from the clips' centre (m)")
    ap.add_argument("--camera-height", type=float, default=1.3)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--max-frames", type=int, default=300)
    ap.add_argument("--format", default="mp4", choices=("mp4", "jpg"))
    ap.add_argument("--shared", action="store_true", help="textures from the shared data folder")
    ap.add_argument("--textures", default=None)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from training.render.make_shards import shared_data_dir
    from training.render.poses import MotionPoses, make_pose_source
    from training.render.sampler import RenderConfig, SampleGenerator
    from training.render.scenes import SceneRenderer, write_sequence

    tex = a.textures or (str(shared_data_dir() / "textures") if a.shared and shared_data_dir() else None)
    try:
        src = make_pose_source(a.motion, split="all")
        if not isinstance(src, MotionPoses):
            raise ValueError("sequences need motion capture (--motion)")
        src = MotionPoses(src.folder, "all", fps=a.fps)
        names = [s.sequence for s in src.seqs]
        want = a.clips.split(",") if a.clips else names[:1]
        missing = [w for w in want if w not in names]
        if missing:
            raise ValueError(f"clips {missing} not in {src.folder} (have {names[:8]}...)")
        gen = SampleGenerator(RenderConfig(random_poses=True, textures_dir=tex, split="all"), a.seed)
        raw = []
        for w in want:
            rot, tr, _, _ = src.clip(names.index(w))
            raw.append((rot[:a.max_frames], tr[:a.max_frames]))
        from pose_estimation_ros.kinematics import forward_kinematics

        def body_joints(rot):
            return forward_kinematics(rot.astype(np.float64), gen.rest_offsets(np.zeros(gen.renderer.num_shape)))

        clips = place_clips(raw, body_joints)
        n = min(len(c[0]) for c in clips)
        centre = np.mean([c[1][:n].mean(0) for c in clips], axis=0)
        f = 0.5 * a.width / math.tan(math.radians(a.hfov_deg) / 2)
        K = np.array([[f, 0, (a.width - 1) / 2], [0, f, (a.height - 1) / 2], [0, 0, 1]])
        path = camera_path(a.camera, centre, clips[0][1], a.distance, a.camera_height, n)
        frames = SceneRenderer(gen).sequence(clips, path, a.width, a.height, K, np.random.default_rng(a.seed))
        out = write_sequence(frames, a.out, a.fps, a.format,
                             {"clips": want, "camera": a.camera, "motion": src.folder, "seed": a.seed,
                              "distance_m": a.distance, "camera_height_m": a.camera_height})
    except ValueError as e:
        print(f"make_sequence: {e}", file=sys.stderr)
        return 2
    print(f"sequence -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
