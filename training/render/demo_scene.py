"""Pre-render the demo scene: a textured Anny person walking toward the camera and back.

    python -m training.render.demo_scene [--out .cache/demo_scene] [--width 640 --height 480]
        [--hfov-deg 60] [--fps 15] [--period-s 12] [--two-people] [--textures DIR] [--seed 0]

The walk is the one of the built-in synthetic scene (:class:`pose_estimation_ros.synthetic_scene.
SyntheticScene`: same depth profile, heading, gait and camera), the body is Anny posed with the
scene's canonical rotations, standing on the floor (``y = camera height`` in the optical frame), in a
ray-cast room whose back wall is at the scene's wall depth. One period is rendered; the runtime
(:class:`~pose_estimation_ros.synthetic_scene.RenderedClip`) plays it in a loop, torch- and GL-free.

Output folder: ``frames/%06d.jpg`` (RGB, JPEG q92), ``background.jpg``, ``ground_truth.npz``
(``t`` (T,), ``joints_cam`` (T, 24, 3) metres in the camera optical frame, ``joints_2d`` (T, 24, 2),
``bbox`` (T, 4), ``local_rotmats`` (T, 24, 3, 3), ``depth``, ``heading``, ``gait_phase``,
``gait_amplitude`` (T,), and with ``--two-people`` ``others_joints_cam`` (T, P-1, 24, 3)),
``meta.json`` (size, intrinsics, fps, period, frame count, format version). Ground truth uses the
canonical 24-joint skeleton, joints of the rendered body.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

__all__ = ["render_demo_scene", "main", "CLIP_FORMAT"]

CLIP_FORMAT = "pose_estimation_ros.demo_clip.v1"


def render_demo_scene(out_dir: str | Path, width: int = 640, height: int = 480, hfov_deg: float = 60.0,
                      fps: float = 15.0, period_s: float = 12.0, two_people: bool = False,
                      textures_dir: str | None = None, seed: int = 0, supersample: int = 2) -> Path:
    """Render one period of the demo walk into ``out_dir`` (see the module docstring)."""
    import torch
    from tqdm import tqdm

    from pose_estimation_ros.synthetic_scene import SyntheticScene
    from training.render.appearance import AppearanceSampler
    from training.render.backgrounds import RoomSpec, render_room
    from training.render.backgrounds import _material as material
    from training.render.cameras import camera_rotation
    from training.render.images import ImageLibrary
    from training.render.rasterizer import Light, composite
    from training.render.renderer import PersonState, get_renderer

    torch.set_num_threads(1)
    if width <= 0 or height <= 0 or fps <= 0 or period_s <= 0:
        raise ValueError(f"bad demo scene size/fps/period: {width}x{height}, {fps} fps, {period_s} s")
    f = 0.5 * width / math.tan(math.radians(hfov_deg) / 2)
    scene = SyntheticScene(width, height, fx=f, fy=f, cx=width / 2.0, cy=height / 2.0, period_s=period_s, seed=seed)
    K = np.array([[scene.fx, 0, scene.cx], [0, scene.fy, scene.cy], [0, 0, 1]])
    cam_h = scene.camera_height_m
    r = get_renderer("anny", 512)
    rng = np.random.default_rng(seed)
    lib = ImageLibrary(textures_dir, name="texture") if textures_dir else None
    app = AppearanceSampler(r.layout, lib, "all")
    n_people = 2 if two_people else 1
    outfits = [app.sample(rng) for _ in range(n_people)]
    outfits[0].sleeves, outfits[0].legs = "short", "long"
    textures = [app.paint(o, rng) for o in outfits]
    shapes = [np.zeros(r.num_shape, np.float32), np.array([0.3, 0, 0.1, 0.1, 0.1, 0], np.float32)][:n_people]
    # Room in a y-up world whose camera is at height cam_h looking along +z (optical = R world + t).
    Rw = camera_rotation(0.0, 0.0, 0.0)
    tw = -Rw @ np.array([0.0, cam_h, 0.0])
    if lib is not None:
        floor, fid = material(rng, lib, ("wood", "tile", "carpet"), "all")
        wall, wid = material(rng, lib, ("plaster", "brick", "paper"), "all")
    else:               # procedural: light/dark floor tiles, a mottled pale wall
        from training.render.appearance import _pattern
        floor, fid = _pattern("checks", (150, 138, 118), (112, 100, 86), 128, 128, rng), "procedural:tiles"
        wall, wid = _pattern("noise", (190, 194, 200), (165, 170, 178), 32, 128, rng), "procedural:plaster"
    room = RoomSpec((-4.5, 4.5), (-1.0, scene.wall_m), 3.0, floor, wall, np.full((4, 4, 3), 235, np.uint8),
                    0.6, 1.2, meta={"floor": fid, "wall": wid})
    bg = render_room(room, Rw, tw, K, width, height)
    light = Light((0.55, 0.54, 0.52), (0.25, 0.7, 0.65), (0.6, 0.58, 0.55), 0.05)
    out = Path(out_dir)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out / "background.jpg"), bg[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    n = int(round(period_s * fps))
    gt: dict[str, list] = {k: [] for k in ("t", "joints_cam", "joints_2d", "bbox", "local_rotmats", "depth",
                                           "heading", "gait_phase", "gait_amplitude", "others_joints_cam")}
    from pose_estimation_ros.synthetic_scene import STRIDE_M
    for i in tqdm(range(n), desc="demo scene", unit="frame"):
        t = i / fps
        p = scene.pose(t)
        rots = [p["local_rotmats"].astype(np.float32)]
        transl = [np.array([scene.lateral_m, 0.0, p["depth"]], np.float32)]
        if two_people:      # a second person crossing left <-> right at 3.5 m
            ph = 2 * math.pi * t / period_s
            x = 2.6 * math.cos(ph)
            heading = -math.pi / 2 if math.sin(ph) > 0 else math.pi / 2
            travelled = 2.6 * (1 - math.cos(ph)) if ph <= math.pi else 2.6 * (3 + math.cos(ph))
            rots.append(scene.local_rotations(2 * math.pi * travelled / STRIDE_M, 1.0, heading).astype(np.float32))
            transl.append(np.array([x, 0.0, 3.5], np.float32))
        posed = r.pose([PersonState(rr, s, tt, tex) for rr, s, tt, tex in zip(rots, shapes, transl, textures)])
        for k in range(n_people):           # feet on the floor: lowest vertex at y = camera height
            dy = cam_h - float(posed.vertices[k][:, 1].max())
            posed.vertices[k][:, 1] += dy
            posed.joints[k][:, 1] += dy
        layers = r.draw(posed, textures, K, width, height, light, supersample)
        img = composite(layers, bg)
        cv2.imwrite(str(out / "frames" / f"{i:06d}.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        j = posed.joints[0].astype(np.float64)
        uv = j[:, :2] / j[:, 2:3] * np.array([scene.fx, scene.fy]) + np.array([scene.cx, scene.cy])
        ys, xs = np.nonzero((layers.alpha > 0.5) & (layers.person == 0))
        box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] if xs.size else [0, 0, 0, 0]
        gt["t"].append(t)
        gt["joints_cam"].append(j)
        gt["joints_2d"].append(uv)
        gt["bbox"].append(np.asarray(box, np.float64))
        gt["local_rotmats"].append(rots[0])
        for k in ("depth", "heading", "gait_phase", "gait_amplitude"):
            gt[k].append(p[k])
        gt["others_joints_cam"].append(posed.joints[1:].astype(np.float64))
    np.savez_compressed(out / "ground_truth.npz", **{k: np.asarray(v) for k, v in gt.items()})
    meta = {"format": CLIP_FORMAT, "width": width, "height": height, "fx": scene.fx, "fy": scene.fy,
            "cx": scene.cx, "cy": scene.cy, "fps": fps, "period_s": period_s, "frames": n, "people": n_people,
            "camera_height_m": cam_h, "near_m": scene.near_m, "far_m": scene.far_m, "body": "anny",
            "outfits": [o.meta() for o in outfits], "room": room.meta, "seed": seed}
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.render.demo_scene", description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=".cache/demo_scene")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--hfov-deg", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--period-s", type=float, default=12.0)
    ap.add_argument("--two-people", action="store_true", help="a second person crossing")
    ap.add_argument("--textures", default=None, help="fabric/material folder (default: procedural)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--if-missing", action="store_true", help="do nothing when OUT already holds a clip")
    a = ap.parse_args(argv)
    if a.if_missing and (Path(a.out) / "meta.json").is_file():
        print(f"demo scene: {a.out} exists")
        return 0
    try:
        out = render_demo_scene(a.out, a.width, a.height, a.hfov_deg, a.fps, a.period_s, a.two_people, a.textures,
                                a.seed)
    except (ValueError, RuntimeError) as e:
        print(f"demo_scene: {e}", file=sys.stderr)
        return 2
    print(f"demo scene -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
