"""Built-in synthetic camera scene: a person walking toward the camera and back (no files needed).

The camera looks horizontally from ``camera_height_m`` above a tiled floor towards a textured wall.
A person, posed with :func:`kinematics.forward_kinematics` from ``skeleton.REST_JOINTS`` with a
simple walk cycle, walks along the optical axis between ``far_m`` and ``near_m`` and back
(cosine depth profile of period ``period_s``; the person turns around at both ends and faces the
camera while approaching). The person is drawn with OpenCV: filled capsules for limbs, a polygon
torso, an ellipse head, red shirt, blue trousers, dark shoes, skin-coloured hands and face, plus a
soft floor shadow. Everything is a deterministic function of ``t``.

Frames (camera optical frame: x right, y down, z forward; the floor is the plane y = +camera
height). The body frame of the skeleton is y up, x = body's left, z forward; a person facing the
camera has global orientation ``R_x(pi)``.

Rendered clip: with ``clip=`` a folder (or ``"auto"``: ``$POSE_DEMO_SCENE`` or ``.cache/demo_scene``
in the repository) holding a pre-rendered period of the same walk (textured Anny body, written at
set-up by ``python -m training.render.demo_scene``), :meth:`SyntheticScene.render` and
:meth:`SyntheticScene.pose` play that clip (:class:`RenderedClip`: JPEG frames + exact ground
truth of the rendered body, same 24-joint skeleton and camera frame) instead of drawing. A clip that
is missing or made for another size, intrinsics or period is not used: the scene warns once and
draws the OpenCV person. The runtime never needs torch or OpenGL for either.
"""
from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import kinematics as kin
from .skeleton import JOINT_NAMES, NUM_JOINTS, rest_offsets

_J = {name: i for i, name in enumerate(JOINT_NAMES)}

# Colours (RGB).
SHIRT = (200, 45, 40)
TROUSERS = (40, 60, 135)
SKIN = (228, 182, 150)
SHOES = (35, 30, 28)
HAIR = (55, 38, 26)

STRIDE_M = 1.4          # distance walked per gait cycle (two steps)
SOLE_M = 0.045          # shoe capsule radius: the lowest foot point sits this far above its joint


@dataclass(frozen=True)
class _Prim:
    """One drawing primitive in camera coordinates (metres)."""

    kind: str                # "capsule" | "poly" | "head"
    points: np.ndarray       # (K, 3)
    radius: float            # capsule radius (m); unused for polygons
    color: tuple[int, int, int]
    depth: float             # painter's order key (larger = drawn first)


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


def _rot(axis: str, angle: float) -> np.ndarray:
    """(3, 3) rotation about a body axis 'x', 'y' or 'z'."""
    v = np.zeros(3)
    v["xyz".index(axis)] = angle
    return kin.axis_angle_to_matrix(v)


CLIP_FORMAT = "pose_estimation_ros.demo_clip.v1"
DEMO_SCENE_ENV = "POSE_DEMO_SCENE"


def default_clip_dir() -> Path:
    """``$POSE_DEMO_SCENE``, else ``.cache/demo_scene`` in the repository root."""
    env = os.environ.get(DEMO_SCENE_ENV)
    return Path(env) if env else Path(__file__).resolve().parents[1] / ".cache" / "demo_scene"


class RenderedClip:
    """A pre-rendered period of the walk: ``frames/%06d.jpg``, ``ground_truth.npz``, ``meta.json``.

    Raises:
        ValueError: the folder is not a complete clip (naming what is missing).
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)
        mf = self.folder / "meta.json"
        if not mf.is_file():
            raise ValueError(f"no rendered clip in {self.folder} (meta.json missing)")
        self.meta = json.loads(mf.read_text())
        if self.meta.get("format") != CLIP_FORMAT:
            raise ValueError(f"{mf}: format {self.meta.get('format')!r}, expected {CLIP_FORMAT!r}")
        with np.load(self.folder / "ground_truth.npz", allow_pickle=False) as z:
            self.gt = {k: z[k] for k in z.files}
        self.n = int(self.meta["frames"])
        self.fps = float(self.meta["fps"])
        if self.n <= 0 or len(self.gt["joints_cam"]) != self.n:
            raise ValueError(f"{self.folder}: {len(self.gt['joints_cam'])} ground-truth frames for {self.n} frames")
        self.files = [self.folder / "frames" / f"{i:06d}.jpg" for i in range(self.n)]
        missing = [f.name for f in self.files if not f.is_file()]
        if missing:
            raise ValueError(f"{self.folder}: {len(missing)} frame files missing (first {missing[0]})")
        bg = cv2.imread(str(self.folder / "background.jpg"), cv2.IMREAD_COLOR)
        self.background = None if bg is None else np.ascontiguousarray(bg[..., ::-1])
        self._cache: tuple[int, np.ndarray] | None = None

    def mismatch(self, width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                 period_s: float) -> str | None:
        """Why the clip does not fit these camera/scene parameters, or None when it does."""
        m = self.meta
        want = {"width": width, "height": height, "fx": fx, "fy": fy, "cx": cx, "cy": cy, "period_s": period_s}
        bad = [f"{k} {m.get(k)} != {v}" for k, v in want.items() if abs(float(m.get(k, -1)) - float(v)) > 1e-3]
        return ", ".join(bad) or None

    def index(self, t: float) -> int:
        """Frame shown at time ``t`` (nearest frame of the looping clip)."""
        return int(round(t * self.fps)) % self.n

    def frame(self, i: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame ``i``."""
        if self._cache is not None and self._cache[0] == i:
            return self._cache[1].copy()
        img = cv2.imread(str(self.files[i]), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot read {self.files[i]}")
        rgb = np.ascontiguousarray(img[..., ::-1])
        self._cache = (i, rgb)
        return rgb.copy()

    def ground_truth(self, i: int, t: float) -> dict[str, Any]:
        """Ground truth of frame ``i`` in the keys of :meth:`SyntheticScene.render` (``t`` = asked time)."""
        g = self.gt
        rot = g["local_rotmats"][i].astype(np.float64)
        out = {"t": float(t), "joints_cam": g["joints_cam"][i].astype(np.float64),
               "joints_2d": g["joints_2d"][i].astype(np.float64), "bbox": g["bbox"][i].astype(np.float64),
               "global_orient": rot[0].copy(), "local_rotmats": rot,
               "intrinsics": (float(self.meta["fx"]), float(self.meta["fy"]), float(self.meta["cx"]),
                              float(self.meta["cy"])),
               "clip_frame": int(i)}
        for k in ("depth", "heading", "gait_phase", "gait_amplitude"):
            out[k] = float(g[k][i])
        others = g.get("others_joints_cam")
        if others is not None and others.ndim == 4 and others.shape[1] > 0:
            out["others_joints_cam"] = others[i].astype(np.float64)
        return out


class SyntheticScene:
    """Renders the walking-person scene and its ground truth.

    Args:
        width, height: image size in pixels.
        fx, fy, cx, cy: pinhole intrinsics; defaults: 60 degree horizontal field of view
            (fx = fy = width / 2 / tan(30 deg)), principal point at the image centre.
        period_s: time for one far -> near -> far walk.
        seed: seed of the background texture (the person and the walk do not depend on it).
        near_m, far_m: closest and farthest pelvis depth.
        camera_height_m: camera height above the floor (the camera looks horizontally).
        lateral_m: constant sideways offset of the walking line (camera x, metres).
        wall_m: depth of the back wall.
        clip: a rendered clip folder to play instead of drawing, ``"auto"`` (the default clip
            folder, see :func:`default_clip_dir`) or None (always draw).
    """

    def __init__(self, width: int = 640, height: int = 480, fx: float | None = None,
                 fy: float | None = None, cx: float | None = None, cy: float | None = None,
                 period_s: float = 12.0, seed: int = 0, near_m: float = 1.5, far_m: float = 6.0,
                 camera_height_m: float = 1.2, lateral_m: float = 0.0, wall_m: float = 10.0,
                 clip: str | os.PathLike[str] | None = None):
        if width <= 0 or height <= 0:
            raise ValueError(f"image size must be positive, got {width}x{height}")
        if period_s <= 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        if not 0 < near_m < far_m < wall_m:
            raise ValueError(f"need 0 < near_m < far_m < wall_m, got {near_m}, {far_m}, {wall_m}")
        self.width, self.height = int(width), int(height)
        default_f = 0.5 * self.width / math.tan(math.radians(30.0))
        self.fx = float(fx) if fx is not None else default_f
        self.fy = float(fy) if fy is not None else self.fx
        self.cx = float(cx) if cx is not None else 0.5 * self.width
        self.cy = float(cy) if cy is not None else 0.5 * self.height
        self.period_s = float(period_s)
        self.near_m, self.far_m = float(near_m), float(far_m)
        self.camera_height_m = float(camera_height_m)
        self.lateral_m = float(lateral_m)
        self.wall_m = float(wall_m)
        self.seed = int(seed)
        self._offsets = rest_offsets()
        self.clip: RenderedClip | None = self._open_clip(clip)
        self._background = self._make_background() if self.clip is None or self.clip.background is None \
            else self.clip.background.copy()

    def _open_clip(self, clip) -> RenderedClip | None:
        """The rendered clip to play, or None (with a warning when one was asked for but cannot be used)."""
        if clip is None:
            return None
        folder = default_clip_dir() if str(clip) == "auto" else Path(clip)
        hint = "render it with `python -m training.render.demo_scene` (make setup does)"
        try:
            c = RenderedClip(folder)
        except (ValueError, OSError, KeyError) as e:
            warnings.warn(f"synthetic scene: no usable rendered clip ({e}); drawing the OpenCV person; {hint}",
                          RuntimeWarning, stacklevel=3)
            return None
        why = c.mismatch(self.width, self.height, self.fx, self.fy, self.cx, self.cy, self.period_s)
        if why:
            warnings.warn(f"synthetic scene: rendered clip {folder} was made for other parameters ({why}); "
                          f"drawing the OpenCV person", RuntimeWarning, stacklevel=3)
            return None
        return c

    # ------------------------------------------------------------------ background
    def _make_background(self) -> np.ndarray:
        """(H, W, 3) uint8: a tiled floor up to the wall line, a panelled wall above it."""
        h, w = self.height, self.width
        rng = np.random.default_rng(self.seed)
        u = np.arange(w, dtype=np.float64)[None, :]
        v = np.arange(h, dtype=np.float64)[:, None]
        cam_h = self.camera_height_m
        v_wall = self.cy + self.fy * cam_h / self.wall_m        # floor/wall junction row

        # Floor: ray-plane intersection with y = cam_h.
        dv = np.maximum(v - self.cy, 1e-6)
        z = np.clip(self.fy * cam_h / dv, 0.0, self.wall_m)
        x = (u - self.cx) * z / self.fx
        tile = 0.6
        checker = ((np.floor(x / tile) + np.floor(z / tile)) % 2.0)
        footprint = z * z / (self.fy * cam_h)                   # metres of floor per pixel row
        contrast = np.clip(1.0 - footprint / (0.5 * tile), 0.0, 1.0)
        grout = ((np.abs(x / tile - np.round(x / tile)) * tile < 0.012)
                 | (np.abs(z / tile - np.round(z / tile)) * tile < 0.012)) & (contrast > 0.3)
        shade = 0.5 + (checker - 0.5) * contrast                # 0..1 blended to 0.5 far away
        floor_a, floor_b = np.array([150, 138, 118]), np.array([112, 100, 86])
        floor = floor_b + shade[..., None] * (floor_a - floor_b)
        floor = np.where(grout[..., None], floor * 0.75, floor)
        floor *= (1.0 - 0.2 * np.clip(z / self.wall_m, 0, 1))[..., None]      # nearer is brighter

        # Wall: plane z = wall_m; world height above the floor y_up.
        xw = (u - self.cx) * self.wall_m / self.fx + 0.0 * v
        y_up = cam_h - (v - self.cy) * self.wall_m / self.fy + 0.0 * u
        brick_h, brick_w = 0.25, 0.6
        row = np.floor(y_up / brick_h)
        xs = xw / brick_w + 0.5 * (row % 2)
        mortar = (np.abs(y_up / brick_h - np.round(y_up / brick_h)) * brick_h < 0.015) \
            | (np.abs(xs - np.round(xs)) * brick_w < 0.015)
        brick_tint = (np.floor(xs) * 7.0 + row * 13.0) % 5.0 / 5.0 - 0.5
        wall = np.array([178, 184, 192])[None, None, :] + 14.0 * brick_tint[..., None]
        wall = np.where(mortar[..., None], wall * 0.82, wall)
        skirting = (y_up >= 0) & (y_up < 0.12)
        wall = np.where(skirting[..., None], np.array([90, 80, 70]), wall)

        img = np.where((v >= v_wall)[..., None], floor, wall)

        # A few posters / windows on the wall (seeded).
        placed: list[tuple[float, float, float, float]] = []
        for _ in range(40):
            if len(placed) == 5:
                break
            px = rng.uniform(-5.0, 5.0)
            py = rng.uniform(1.0, 2.6)
            pw, ph = rng.uniform(0.5, 1.4), rng.uniform(0.4, 1.0)
            color = rng.uniform(40, 230, size=3)
            if any(abs(px - qx) < (pw + qw) / 2 + 0.2 and abs(py - qy) < (ph + qh) / 2 + 0.2
                   for qx, qy, qw, qh in placed):
                continue
            placed.append((px, py, pw, ph))
            u0 = int(round(self.cx + self.fx * (px - pw / 2) / self.wall_m))
            u1 = int(round(self.cx + self.fx * (px + pw / 2) / self.wall_m))
            v0 = int(round(self.cy + self.fy * (cam_h - (py + ph / 2)) / self.wall_m))
            v1 = int(round(self.cy + self.fy * (cam_h - (py - ph / 2)) / self.wall_m))
            v1 = min(v1, int(v_wall) - 1)
            if u1 > u0 and v1 > v0:
                img[max(v0, 0):max(v1, 0), max(u0, 0):max(u1, 0)] = color
                img[max(v0, 0):max(v1, 0), max(u0, 0):max(u1, 0)] *= np.linspace(
                    1.0, 0.8, max(v1, 0) - max(v0, 0))[:, None, None]

        # Horizon line (floor/wall junction), sensor noise and vignetting.
        iv = int(round(v_wall))
        if 0 <= iv < h:
            img[iv] *= 0.6
        img += rng.normal(0.0, 3.0, size=img.shape)
        r2 = ((u - self.cx) / w) ** 2 + ((v - self.cy) / h) ** 2
        img *= (1.0 - 0.35 * r2)[..., None]
        return np.clip(img, 0, 255).astype(np.uint8)

    def background(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB: the scene without the person (a copy)."""
        return self._background.copy()

    # ------------------------------------------------------------------ motion
    def walk_state(self, t: float) -> dict[str, float]:
        """Walk parameters at time ``t`` (seconds).

        Returns:
            dict with ``depth`` (pelvis z, m), ``heading`` (body yaw, rad; 0 = facing the camera,
            pi = facing away), ``gait_phase`` (rad), ``gait_amplitude`` (0..1, 0 when standing).
        """
        phi = 2.0 * math.pi * t / self.period_s
        span = self.far_m - self.near_m
        depth = self.near_m + span * 0.5 * (1.0 + math.cos(phi))
        half = math.floor(phi / math.pi)
        start = self.far_m if half % 2 == 0 else self.near_m
        travelled = half * span + abs(depth - start)
        gait_phase = 2.0 * math.pi * travelled / STRIDE_M
        amplitude = min(1.0, 1.6 * abs(math.sin(phi)))
        # Heading: facing the camera while approaching (phi in (0, pi)), away while receding,
        # turning over a window of +-w around the two ends.
        w = 0.35
        p = phi % (2.0 * math.pi)
        if p < math.pi - w and p >= w:
            g = 0.0
        elif abs(p - math.pi) <= w:
            g = _smoothstep((p - (math.pi - w)) / (2 * w))
        elif math.pi + w < p <= 2 * math.pi - w:
            g = 1.0
        else:
            g = 1.0 - _smoothstep(((p - (2 * math.pi - w)) % (2 * math.pi)) / (2 * w))
        return {"depth": depth, "heading": math.pi * g, "gait_phase": gait_phase,
                "gait_amplitude": amplitude}

    def local_rotations(self, gait_phase: float, amplitude: float, heading: float) -> np.ndarray:
        """(24, 3, 3) local joint rotations of the walk cycle; joint 0 = orientation in the camera."""
        rot = np.broadcast_to(np.eye(3), (NUM_JOINTS, 3, 3)).copy()
        s, c = math.sin(gait_phase), math.cos(gait_phase)
        a = amplitude
        rot[0] = _rot("x", math.pi) @ _rot("y", heading)
        # Legs: rotation about body x; positive swings a hanging limb backwards.
        rot[_J["left_hip"]] = _rot("x", -0.45 * a * s)
        rot[_J["right_hip"]] = _rot("x", 0.45 * a * s)
        rot[_J["left_knee"]] = _rot("x", a * (0.1 + 0.6 * max(0.0, c)))
        rot[_J["right_knee"]] = _rot("x", a * (0.1 + 0.6 * max(0.0, -c)))
        rot[_J["left_ankle"]] = _rot("x", -0.15 * a * max(0.0, c))
        rot[_J["right_ankle"]] = _rot("x", -0.15 * a * max(0.0, -c))
        # Slight torso counter-rotation.
        rot[_J["spine1"]] = _rot("y", 0.08 * a * s)
        # Arms: lower from the T-pose, then swing opposite to the same-side leg.
        rot[_J["left_shoulder"]] = _rot("x", 0.35 * a * s) @ _rot("z", -1.35)
        rot[_J["right_shoulder"]] = _rot("x", -0.35 * a * s) @ _rot("z", 1.35)
        rot[_J["left_elbow"]] = _rot("y", -(0.25 + 0.35 * a * max(0.0, -s)))
        rot[_J["right_elbow"]] = _rot("y", 0.25 + 0.35 * a * max(0.0, s))
        return rot

    def pose(self, t: float) -> dict[str, Any]:
        """Ground truth at time ``t`` without rendering (same keys as :meth:`render`'s dict)."""
        if self.clip is not None:
            return self.clip.ground_truth(self.clip.index(t), t)
        st = self.walk_state(t)
        rots = self.local_rotations(st["gait_phase"], st["gait_amplitude"], st["heading"])
        joints = kin.forward_kinematics(rots, self._offsets)            # (24, 3), root at 0
        feet = [_J["left_ankle"], _J["right_ankle"], _J["left_foot"], _J["right_foot"]]
        lowest = joints[feet, 1].max()                                   # camera y is down
        root = np.array([self.lateral_m, self.camera_height_m - SOLE_M - lowest, st["depth"]])
        joints_cam = joints + root
        joints_2d = kin.project_points(joints_cam, self.fx, self.fy, self.cx, self.cy)
        return {
            "t": float(t),
            "joints_cam": joints_cam,
            "joints_2d": joints_2d,
            "global_orient": rots[0].copy(),
            "local_rotmats": rots,
            "intrinsics": (self.fx, self.fy, self.cx, self.cy),
            **st,
        }

    # ------------------------------------------------------------------ drawing
    def _primitives(self, gt: dict[str, Any]) -> list[_Prim]:
        """Body parts in camera coordinates, sorted far to near."""
        jc = gt["joints_cam"]
        R0 = gt["global_orient"]
        left, up = R0[:, 0], R0[:, 1]           # body axes in the camera frame
        root_z = jc[0, 2]
        P: list[_Prim] = []

        def shade(color: tuple[int, int, int], z: float) -> tuple[int, int, int]:
            k = min(max(1.0 - 0.8 * (z - root_z), 0.75), 1.1)
            return tuple(int(min(255, ch * k)) for ch in color)  # type: ignore[return-value]

        def capsule(a: str | np.ndarray, b: str | np.ndarray, r: float, color) -> None:
            pa = jc[_J[a]] if isinstance(a, str) else a
            pb = jc[_J[b]] if isinstance(b, str) else b
            z = 0.5 * (pa[2] + pb[2])
            P.append(_Prim("capsule", np.stack([pa, pb]), r, shade(color, z), z))

        def poly(points: list[np.ndarray], color, bias: float = 0.0) -> None:
            pts = np.stack(points)
            z = float(pts[:, 2].mean()) + bias
            P.append(_Prim("poly", pts, 0.0, shade(color, z - bias), z))

        pelvis, _neck = jc[_J["pelvis"]], jc[_J["neck"]]
        lsh, rsh = jc[_J["left_shoulder"]], jc[_J["right_shoulder"]]
        lhip, rhip = jc[_J["left_hip"]], jc[_J["right_hip"]]
        # Torso (shirt) and hips (trousers); small positive bias so the limbs in front win.
        poly([pelvis + 0.15 * left + 0.03 * up, pelvis - 0.15 * left + 0.03 * up,
              rsh - 0.02 * left - 0.03 * up, lsh + 0.02 * left - 0.03 * up], SHIRT, 0.02)
        capsule(lsh, rsh, 0.065, SHIRT)
        poly([pelvis + 0.155 * left + 0.04 * up, pelvis - 0.155 * left + 0.04 * up,
              rhip - 0.085 * left, lhip + 0.085 * left], TROUSERS, 0.03)
        capsule(lhip, rhip, 0.085, TROUSERS)
        for side in ("left", "right"):
            capsule(f"{side}_hip", f"{side}_knee", 0.075, TROUSERS)
            capsule(f"{side}_knee", f"{side}_ankle", 0.058, TROUSERS)
            capsule(f"{side}_ankle", f"{side}_foot", SOLE_M, SHOES)
            capsule(f"{side}_shoulder", f"{side}_elbow", 0.052, SHIRT)
            capsule(f"{side}_elbow", f"{side}_wrist", 0.04, SKIN)
            capsule(f"{side}_wrist", f"{side}_hand", 0.045, SKIN)
        capsule("neck", "head", 0.05, SKIN)
        head_c = jc[_J["head"]] + 0.07 * up
        facing_away = R0[2, 2] > 0.0            # body forward has +z camera component
        # The head is drawn last: nothing in a walk cycle passes in front of it.
        P.append(_Prim("head", head_c[None], 0.0, HAIR if facing_away else SKIN, -math.inf))
        P.sort(key=lambda p: -p.depth)
        return P

    def _px(self, p: np.ndarray) -> np.ndarray:
        return kin.project_points(p, self.fx, self.fy, self.cx, self.cy)

    def _draw_person(self, img: np.ndarray, gt: dict[str, Any]) -> np.ndarray:
        """Draw the person into ``img`` (in place); returns the (4,) float bbox x0, y0, x1, y1."""
        sh = 3  # fixed-point bits for sub-pixel drawing
        mul = 1 << sh
        lo = np.array([np.inf, np.inf])
        hi = -lo
        for prim in self._primitives(gt):
            if prim.kind == "capsule":
                uv = self._px(prim.points)
                r = self.fx * prim.radius / prim.depth
                a, b = (uv * mul).round().astype(np.int32)
                cv2.line(img, tuple(a.tolist()), tuple(b.tolist()), prim.color,
                         thickness=max(1, int(round(2 * r))), lineType=cv2.LINE_AA, shift=sh)
                lo = np.minimum(lo, uv.min(0) - r)
                hi = np.maximum(hi, uv.max(0) + r)
            elif prim.kind == "poly":
                uv = self._px(prim.points)
                cv2.fillConvexPoly(img, (uv * mul).round().astype(np.int32), prim.color,
                                   lineType=cv2.LINE_AA, shift=sh)
                lo = np.minimum(lo, uv.min(0))
                hi = np.maximum(hi, uv.max(0))
            else:  # head
                c = self._px(prim.points)[0]
                z = prim.points[0, 2]
                ax = np.array([self.fx * 0.085 / z, self.fy * 0.115 / z])
                cc = tuple((c * mul).round().astype(int).tolist())
                axes = tuple((ax * mul).round().astype(int).tolist())
                cv2.ellipse(img, cc, axes, 0.0, 0.0, 360.0, prim.color, -1, cv2.LINE_AA, sh)
                if prim.color == SKIN:  # hair cap on a face seen from the front
                    cv2.ellipse(img, cc, axes, 0.0, 180.0, 360.0, HAIR, -1, cv2.LINE_AA, sh)
                    inner = tuple((np.array([ax[0] * 0.85, ax[1] * 0.55]) * mul).round()
                                  .astype(int).tolist())
                    cv2.ellipse(img, (cc[0], cc[1] + int(0.1 * ax[1] * mul)), inner, 0.0, 180.0,
                                360.0, SKIN, -1, cv2.LINE_AA, sh)
                lo = np.minimum(lo, c - ax)
                hi = np.maximum(hi, c + ax)
        lo = np.clip(lo, 0, [self.width - 1, self.height - 1])
        hi = np.clip(hi, 0, [self.width - 1, self.height - 1])
        return np.concatenate([lo, hi])

    def _draw_shadow(self, img: np.ndarray, gt: dict[str, Any]) -> None:
        """Darken a soft ellipse on the floor under the pelvis (in place)."""
        root = gt["joints_cam"][0]
        ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
        pts = np.stack([root[0] + 0.35 * np.cos(ang), np.full_like(ang, self.camera_height_m),
                        root[2] + 0.25 * np.sin(ang)], axis=-1)
        uv = self._px(pts)
        x0, y0 = np.floor(uv.min(0)).astype(int) - 2
        x1, y1 = np.ceil(uv.max(0)).astype(int) + 2
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, self.width), min(y1, self.height)
        if x1 <= x0 or y1 <= y0:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(mask, (uv - [x0, y0]).round().astype(np.int32), 255, cv2.LINE_AA)
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.02 * (x1 - x0)))
        roi = img[y0:y1, x0:x1]
        roi[:] = (roi * (1.0 - 0.35 / 255.0 * mask[..., None])).astype(np.uint8)

    def render(self, t: float, draw_person: bool = True,
               shadow: bool = True) -> tuple[np.ndarray, dict[str, Any]]:
        """Render the frame at time ``t`` (seconds).

        Returns:
            image: (H, W, 3) uint8 RGB.
            ground truth dict: ``joints_cam`` (24, 3) metres in the camera optical frame,
            ``joints_2d`` (24, 2) pixels, ``bbox`` (4,) float ``(x0, y0, x1, y1)`` pixels of the
            drawn person clipped to the image, plus ``t``, ``depth``, ``heading``, ``gait_phase``,
            ``gait_amplitude``, ``global_orient`` (3, 3), ``local_rotmats`` (24, 3, 3) and
            ``intrinsics`` (fx, fy, cx, cy). With ``draw_person=False`` the image is the bare
            background (the ground truth still describes where the person would be); with
            ``shadow=False`` the floor shadow under the person is not drawn.
        """
        if self.clip is not None:
            i = self.clip.index(t)
            gt = self.clip.ground_truth(i, t)
            return (self.clip.frame(i) if draw_person else self._background.copy()), gt
        gt = self.pose(t)
        img = self._background.copy()
        if draw_person:
            if shadow:
                self._draw_shadow(img, gt)
            gt["bbox"] = self._draw_person(img, gt)
        else:
            gt["bbox"] = self._bbox_only(gt)
        return img, gt

    def _bbox_only(self, gt: dict[str, Any]) -> np.ndarray:
        """Person bbox without touching the frame (draws into a scratch image)."""
        scratch = np.zeros((self.height, self.width, 3), np.uint8)
        return self._draw_person(scratch, gt)
