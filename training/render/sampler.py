"""One training sample = one rendered person crop (or one multi-person scene), from a seed and index.

:class:`SampleGenerator` draws everything from ``numpy.random.default_rng([seed, index])``: pose
(motion capture or random), shape, outfit, camera, crop, background, light, occluders and
degradations; renders with :class:`~training.render.renderer.BodyRenderer` and returns the sample
dict documented in :mod:`training.render.dataset`.

Person placement: the body is posed in the y-up world (feet on the floor ``y = 0``, pelvis above
the origin), the camera is drawn around it (:mod:`training.render.cameras`), and the body is
re-expressed in the camera optical frame: ``rotmats[0] <- R @ rotmats[0]``, ``transl = R @ pelvis + t``
so ``joints3d = body.joints(rotmats, shape, transl)`` holds exactly.

Crop: a square around the projected 2D joints (margin ``crop_margin``, centre jitter); with
probability ``upper_body_rate`` only the joints above the hips or the knees define it, so the crop
cuts the body there (``upper_body`` True). Only the crop is rendered (intrinsics of the crop,
``K_crop = S K`` shifted), so cost does not depend on the full image size; a person that is small
in the full image is down- and up-sampled to its real resolution (``match_resolution``).

Visibility of a joint: inside the crop, not under an occluder, and the rendered surface at its
pixel belongs to this person and lies in front of the joint by less than a tolerance that depends
on which body part the surface is (the joint centre lies inside its limb): 30 cm for the joint's own
part or an adjacent one (one bone away), 15 cm two bones away (e.g. the upper back in front of a
shoulder), 6 cm otherwise (e.g. the near arm in front of the far shoulder).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from pose_estimation_ros import skeleton
from training.render.appearance import AppearanceSampler
from training.render.augment import AugmentConfig, add_occluders, degrade, match_resolution, sample_light
from training.render.backgrounds import PhotoBackgrounds, render_room, sample_room
from training.render.cameras import CAMERA_PRESETS, Camera, CameraConfig, sample_camera
from training.render.images import ImageLibrary
from training.render.poses import make_pose_source, sample_shape
from training.render.rasterizer import Layers, composite
from training.render.body_mesh import PosedBodies
from training.render.renderer import BodyRenderer, PersonState, get_renderer

__all__ = ["RenderConfig", "SampleGenerator", "joint_visibility", "TREE_DISTANCE", "UPPER_BODY_CUTS", "crop_box"]

J = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
# Joints kept for an upper-body crop cut at the hips / knees.
UPPER_BODY_CUTS: dict[str, tuple[int, ...]] = {
    "hips": tuple(i for i, n in enumerate(skeleton.JOINT_NAMES)
                  if not any(k in n for k in ("knee", "ankle", "foot"))),
    "knees": tuple(i for i, n in enumerate(skeleton.JOINT_NAMES) if not any(k in n for k in ("ankle", "foot"))),
}


def _tree_distance() -> np.ndarray:
    """(24, 24) number of bones between two joints of the canonical skeleton."""
    n = skeleton.NUM_JOINTS
    adj = [[] for _ in range(n)]
    for j, p in enumerate(skeleton.PARENTS):
        if p >= 0:
            adj[j].append(p)
            adj[p].append(j)
    d = np.full((n, n), 99, np.int32)
    for a in range(n):
        d[a, a] = 0
        frontier = [a]
        while frontier:
            nxt = []
            for u in frontier:
                for v in adj[u]:
                    if d[a, v] > d[a, u] + 1:
                        d[a, v] = d[a, u] + 1
                        nxt.append(v)
            frontier = nxt
    return d


TREE_DISTANCE = _tree_distance()


@dataclass
class RenderConfig:
    """Everything a sample depends on besides (seed, index). Paths None = procedural built-ins."""

    size: int = 224
    body: str = "anny"                         # body-model registry name (smpl needs uv_file)
    uv_file: str | None = None                 # per-corner UVs for a body without its own
    texture_size: int | None = None            # UV atlas side; None: 256 for size <= 256 else 512
    camera: str | CameraConfig = "seed"
    upper_body_rate: float = 0.2
    crop_margin: tuple[float, float] = (1.15, 1.4)
    crop_jitter: float = 0.08                  # centre jitter, fraction of the crop side
    motion_dir: str | None = None
    random_poses: bool = False
    textures_dir: str | None = None
    backgrounds_dir: str | None = None
    split: str = "train"                       # texture/background/motion split: train | heldout | all
    heldout_fraction: float = 0.2
    room_prob: float = 0.35                    # indoor rooms vs photos
    photo_fabric_prob: float = 0.6
    match_resolution: bool = True
    supersample: int = 1
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    vis_tol_m: float = 0.06
    vis_tol_part_m: float = 0.30
    min_visible_joints: int = 8

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError(f"size must be >= 16, got {self.size}")
        if not 0.0 <= self.upper_body_rate <= 1.0:
            raise ValueError(f"upper_body_rate must lie in [0, 1], got {self.upper_body_rate}")
        if self.split not in ("train", "heldout", "all"):
            raise ValueError(f"split must be train, heldout or all, got {self.split!r}")
        if isinstance(self.camera, str) and self.camera not in CAMERA_PRESETS:
            raise ValueError(f"unknown camera preset {self.camera!r}; expected one of {tuple(CAMERA_PRESETS)}")
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**self.augment)
        if isinstance(self.camera, dict):
            self.camera = CameraConfig(**self.camera)

    @property
    def camera_config(self) -> CameraConfig:
        return CAMERA_PRESETS[self.camera] if isinstance(self.camera, str) else self.camera

    @property
    def atlas_size(self) -> int:
        return self.texture_size or (256 if self.size <= 256 else 512)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["camera"] = self.camera if isinstance(self.camera, str) else asdict(self.camera)
        return d


def joint_visibility(uv: np.ndarray, z: np.ndarray, layers: Layers, person: int, occluded: np.ndarray | None,
                     tol_m: float = 0.06, tol_part_m: float = 0.30, tol_near_m: float = 0.15) -> np.ndarray:
    """Per-joint visibility by a depth test against the rendered layers.

    Args:
        uv: (J, 2) pixel positions in the rendered image; z: (J,) camera depths of the joints.
        layers: the render (depth, person id, part label per pixel).
        person: this person's id; occluded: (H, W) bool occluder mask or None.
    Returns:
        (J,) float32: 1 visible, 0 outside the image, occluded by something else, or behind the body.
    """
    h, w = layers.depth.shape
    vis = np.zeros(len(uv), np.float32)
    for j, ((u, v), zj) in enumerate(zip(uv, z)):
        x, y = int(round(float(u))), int(round(float(v)))
        if not (0 <= x < w and 0 <= y < h) or zj <= 0:
            continue
        if occluded is not None and occluded[y, x]:
            continue
        if layers.person[y, x] != person:
            continue
        gap = zj - float(layers.depth[y, x])            # how far the surface is in front of the joint
        part = int(layers.part[y, x])
        hops = int(TREE_DISTANCE[j, part]) if 0 <= part < len(TREE_DISTANCE) and j < len(TREE_DISTANCE) else 99
        tol = tol_part_m if hops <= 1 else (tol_near_m if hops == 2 else tol_m)
        vis[j] = 1.0 if gap < tol else 0.0
    return vis


def crop_box(rng: np.random.Generator, uv: np.ndarray, cfg: RenderConfig) -> tuple[np.ndarray, str | None]:
    """Square crop (x0, y0, x1, y1) around 2D joints (24, 2), and the cut ("hips" | "knees" | None).

    With probability ``cfg.upper_body_rate`` the crop is cut: it is sized on the joints above the
    cut and its bottom edge lies 2-8% of its side below the lower of the two cut joints.
    """
    cut = None
    keep = np.arange(len(uv))
    if rng.uniform() < cfg.upper_body_rate:
        cut = str(rng.choice(["hips", "knees"]))
        keep = np.array(UPPER_BODY_CUTS[cut])
    pts = uv[keep]
    lo, hi = pts.min(0), pts.max(0)
    side = max(float(max(hi - lo) * rng.uniform(*cfg.crop_margin)), 8.0)
    c = (lo + hi) / 2 + rng.uniform(-1, 1, 2) * cfg.crop_jitter * side
    if cut is not None:
        names = ("left_hip", "right_hip") if cut == "hips" else ("left_knee", "right_knee")
        bottom = max(uv[J[n], 1] for n in names) + rng.uniform(0.02, 0.08) * side
        c[1] = bottom - side / 2
    return np.array([c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2]), cut


class SampleGenerator:
    """Renders samples; construct once per process (the renderer and libraries are cached)."""

    def __init__(self, cfg: RenderConfig, seed: int = 0, renderer: BodyRenderer | None = None) -> None:
        self.cfg = cfg
        self.seed = int(seed)
        self.renderer = renderer or get_renderer(cfg.body, cfg.atlas_size, uv_file=cfg.uv_file)
        self.textures = (ImageLibrary(cfg.textures_dir, cfg.heldout_fraction, 512, "texture")
                         if cfg.textures_dir else None)
        self.photos = (ImageLibrary(cfg.backgrounds_dir, cfg.heldout_fraction, 1024, "background")
                       if cfg.backgrounds_dir else None)
        self.appearance = AppearanceSampler(self.renderer.layout, self.textures, cfg.split, cfg.photo_fabric_prob)
        self.backgrounds = PhotoBackgrounds(self.photos, cfg.split)
        self.poses = make_pose_source(cfg.motion_dir, cfg.random_poses, cfg.split, body=cfg.body)
        self.body = self.renderer.mesh.body
        self._rest_key: bytes | None = None
        self._rest_off = np.zeros((skeleton.NUM_JOINTS, 3))

    # ------------------------------------------------------------------------------ pieces
    def split_record(self) -> dict:
        """Which textures/backgrounds are train / held-out (recorded with every dataset written)."""
        return {"textures": self.textures.splits() if self.textures else "procedural",
                "backgrounds": self.photos.splits() if self.photos else "procedural",
                "heldout_fraction": self.cfg.heldout_fraction, "split_used": self.cfg.split,
                "motion": getattr(self.poses, "folder", "random")}

    def rest_offsets(self, shape: np.ndarray) -> np.ndarray:
        """(24, 3) rest bone offsets of the body for ``shape`` (cached for the last shape)."""
        key = np.asarray(shape, np.float32).tobytes()
        if self._rest_key != key:
            import torch
            with torch.no_grad():
                rest = self.body.rest_joints(torch.as_tensor(np.asarray(shape, np.float32))[None])[0].numpy()
            off = rest.astype(np.float64).copy()
            off[1:] = rest[1:] - rest[list(skeleton.PARENTS[1:])]
            self._rest_key, self._rest_off = key, off
        return self._rest_off

    def _joints(self, rotmats: np.ndarray, shape: np.ndarray, transl: np.ndarray) -> np.ndarray:
        """(24, 3) joints by canonical FK on the body's rest joints (numpy; equal to ``body.joints``)."""
        from pose_estimation_ros.kinematics import forward_kinematics
        return forward_kinematics(np.asarray(rotmats, np.float64), self.rest_offsets(shape)) + np.asarray(transl)

    def place_in_world(self, rot_world: np.ndarray, shape: np.ndarray, xz=(0.0, 0.0)) -> np.ndarray:
        """Pelvis world position so the lowest joint sits ~4 cm above the floor (refined on the mesh later)."""
        j = self._joints(rot_world, shape, np.zeros(3))
        return np.array([xz[0], -j[:, 1].min() + 0.04, xz[1]])

    def to_camera(self, cam: Camera, rot_world: np.ndarray, pelvis_world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rotations and translation of the body in the camera optical frame."""
        r = rot_world.astype(np.float64).copy()
        r[0] = cam.R @ r[0]
        return r.astype(np.float32), (cam.R @ pelvis_world + cam.t).astype(np.float32)

    def _camera_for(self, rng, rot_world, shape, pelvis, tries: int = 20) -> tuple[Camera, np.ndarray, np.ndarray]:
        cc = self.cfg.camera_config
        cam = None
        for _ in range(tries):
            cam = sample_camera(cc, rng, pelvis)
            rc, tc = self.to_camera(cam, rot_world, pelvis)
            j = self._joints(rc, shape, tc)
            if j[:, 2].min() < 0.3:
                continue
            uv = cam.project(j)
            if (uv[:, 0].min() >= 0 and uv[:, 1].min() >= 0 and uv[:, 0].max() < cam.width
                    and uv[:, 1].max() < cam.height):
                return cam, rc, tc
        # Fall back: look straight at the pelvis from the drawn distance (always in view).
        cam = sample_camera(CameraConfig(**{**asdict(cc), "height_m": None, "look_at_jitter_m": 0.0,
                                            "pitch_deg": (max(cc.pitch_deg[0], -30), min(cc.pitch_deg[1], 30)),
                                            "distance_m": (max(cc.distance_m[0], 3.0), max(cc.distance_m[1], 3.0))}),
                            rng, pelvis)
        rc, tc = self.to_camera(cam, rot_world, pelvis)
        return cam, rc, tc

    def _crop_box(self, rng, uv: np.ndarray) -> tuple[np.ndarray, str | None]:
        return crop_box(rng, uv, self.cfg)

    def _background(self, rng, cam: Camera, K: np.ndarray, M: np.ndarray, pelvis: np.ndarray, light_rgb):
        S = self.cfg.size
        if rng.uniform() < self.cfg.room_prob:
            room = sample_room(rng, cam.center, pelvis[[0, 2]], self.textures, self.cfg.split)
            if S >= 128:     # ray-cast at half resolution (a background, blurred by the optics anyway)
                Kh = K.copy()
                Kh[:2] *= 0.5
                Kh[:2, 2] -= 0.25
                half = render_room(room, cam.R, cam.t, Kh, S // 2, S // 2, light_rgb)
                return cv2.resize(half, (S, S), interpolation=cv2.INTER_LINEAR), room.meta
            return render_room(room, cam.R, cam.t, K, S, S, light_rgb), room.meta
        return self.backgrounds.sample(rng, cam.width, cam.height, M, S, S)

    def _occluder_patch(self, rng):
        if self.photos is not None:
            return self.photos.sample(rng, self.cfg.split)[1]
        if self.textures is not None:
            return self.textures.sample(rng, self.cfg.split)[1]
        from training.render.backgrounds import procedural_photo
        return procedural_photo(rng, 128, 128)

    # ------------------------------------------------------------------------------ samples
    def sample(self, index: int) -> dict:
        """The person-crop sample ``index`` (deterministic in (seed, index)); see the dataset docstring."""
        return self.sample_many([index])[0]

    def sample_many(self, indices: list[int]) -> list[dict]:
        """Samples ``indices``, the bodies posed in one batched body-model call (~4x less posing time
        per sample); equal to ``sample(ix[k])`` up to the float rounding of the batched call (every
        random choice is the same; edge pixels can differ)."""
        plans = [self._plan(int(i)) for i in indices]
        posed = self.renderer.pose([PersonState(p["rc"], p["shape"], p["tc"], p["texture"]) for p in plans])
        out = []
        for k, p in enumerate(plans):
            one = PosedBodies(posed.joints[k:k + 1].copy(), posed.coco17[k:k + 1].copy(),
                              posed.vertices[k:k + 1].copy(),
                              None if posed.normals is None else posed.normals[k:k + 1])
            out.append(self._finish(p, one))
        return out

    def _plan(self, index: int) -> dict:
        """Everything drawn before the mesh is posed: pose, shape, camera, outfit and its texture."""
        rng = np.random.default_rng([self.seed, int(index)])
        rot_world, pose_meta = self.poses.sample(rng)
        shape = sample_shape(self.renderer.mesh.name, self.renderer.num_shape, rng)
        pelvis = self.place_in_world(rot_world, shape)
        cam, rc, tc = self._camera_for(rng, rot_world, shape, pelvis)
        outfit = self.appearance.sample(rng)
        texture = self.appearance.paint(outfit, rng)
        return {"index": index, "rng": rng, "pose_meta": pose_meta, "shape": shape, "pelvis": pelvis, "cam": cam,
                "rc": rc, "tc": tc, "outfit": outfit, "texture": texture}

    def _finish(self, plan: dict, posed: PosedBodies) -> dict:
        """Crop, background, draw, degradations and labels of a planned, posed sample."""
        cfg = self.cfg
        S = cfg.size
        index, rng, pose_meta, shape, pelvis = plan["index"], plan["rng"], plan["pose_meta"], plan["shape"], \
            plan["pelvis"]
        cam, rc, tc, outfit, texture = plan["cam"], plan["rc"], plan["tc"], plan["outfit"], plan["texture"]
        # Feet on the floor: shift along world up by the lowest vertex's height.
        vw = (posed.vertices[0].astype(np.float64) - cam.t) @ cam.R
        dy = -float(vw[:, 1].min())
        shift = (cam.R[:, 1] * dy).astype(np.float32)
        posed.vertices += shift
        posed.joints += shift
        posed.coco17 += shift
        tc = tc + shift
        pelvis = pelvis + np.array([0.0, dy, 0.0])
        j3 = posed.joints[0].astype(np.float64)
        uv_full = cam.project(j3)
        box, cut = self._crop_box(rng, uv_full)
        side = box[2] - box[0]
        s = S / side
        M = np.array([[s, 0, -box[0] * s], [0, s, -box[1] * s]], np.float64)
        K = cam.K.copy()
        K[:2] = M @ K                                   # crop intrinsics: K_crop = [M; 0 0 1] K
        light, light_meta = sample_light(rng, cfg.augment)
        bg, bg_meta = self._background(rng, cam, K, M, pelvis, np.asarray(light.color) + np.asarray(light.ambient))
        layers = self.renderer.draw(posed, [texture], K, S, S, light, cfg.supersample)
        img = composite(layers, bg)
        if cfg.match_resolution:
            img = match_resolution(img, side)
        occ_mask, occ_meta = None, []
        if rng.uniform() < cfg.augment.occluder_prob:
            img, occ_mask, occ_meta = add_occluders(img, rng, self._person_box(layers), cfg.augment,
                                                    self._occluder_patch)
        img, deg_meta = degrade(img, rng, cfg.augment)
        j2 = (j3[:, :2] / j3[:, 2:3]) * np.diag(K)[:2] + K[:2, 2]
        c3 = posed.coco17[0].astype(np.float64)
        coco2 = (c3[:, :2] / np.maximum(c3[:, 2:3], 1e-6)) * np.diag(K)[:2] + K[:2, 2]
        vis = joint_visibility(j2, j3[:, 2], layers, 0, occ_mask, cfg.vis_tol_m, cfg.vis_tol_part_m)
        mask = (layers.alpha > 0.5) & (layers.person == 0)
        if occ_mask is not None:
            mask &= ~occ_mask
        return {
            "image": img,
            "joints2d": j2.astype(np.float32),
            "coco2d": coco2.astype(np.float32),
            "visibility": vis,
            "joints3d": j3.astype(np.float32),
            "rotmats": rc.astype(np.float32),
            "shape": shape.astype(np.float32),
            "transl": np.asarray(tc, np.float32),
            "K": K.astype(np.float32),
            "box": box.astype(np.float32),
            "mask": mask.astype(np.uint8),
            "upper_body": cut is not None,
            "meta": {"index": int(index), "seed": self.seed, "split": cfg.split, "body": self.renderer.mesh.name,
                     "pose": pose_meta, "camera": cam.meta(), "cut": cut, "outfit": outfit.meta(),
                     "background": bg_meta, "light": light_meta, "occluders": occ_meta, "degrade": deg_meta},
        }

    @staticmethod
    def _person_box(layers: Layers) -> np.ndarray:
        ys, xs = np.nonzero(layers.alpha > 0.5)
        if xs.size == 0:
            h, w = layers.alpha.shape
            return np.array([0, 0, w, h], np.float64)
        return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
