"""Whole images: multi-person scenes (detection, tracking) and sequences (video + ground truth).

* :meth:`SceneRenderer.scene` renders 1-4 people standing on one floor, seen by one camera, into
  a full ``width x height`` image with per-person ids in depth order (id 0 = nearest), visible
  boxes (from the instance mask), full-body boxes (projected mesh), joints and visibility.
* :meth:`SceneRenderer.sequence` renders motion clips (one per person, root trajectories from the
  motion capture, placed on the floor) from a static or moving camera, frame by frame;
  :func:`write_sequence` stores the frames as a video (or JPEG folder) plus a ground-truth ``.npz``.

Ground-truth arrays are in the camera optical frame like the crop samples (see
:mod:`training.render.dataset`); the instance map is ``-1`` for background.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from training.render.augment import sample_light
from training.render.backgrounds import RoomSpec, render_room, sample_room
from training.render.cameras import Camera, camera_rotation
from training.render.rasterizer import Light, composite
from training.render.renderer import PersonState
from training.render.sampler import SampleGenerator, joint_visibility
from training.render.poses import sample_shape

__all__ = ["SceneRenderer", "write_sequence", "boxes_from_instances"]


def boxes_from_instances(instances: np.ndarray, n: int) -> np.ndarray:
    """(n, 4) float32 xyxy boxes of each id's pixels (x1, y1 exclusive); zeros for an id with no pixels."""
    out = np.zeros((n, 4), np.float32)
    for i in range(n):
        ys, xs = np.nonzero(instances == i)
        if xs.size:
            out[i] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return out


@dataclass
class _Person:
    rot_world: np.ndarray
    shape: np.ndarray
    pelvis_world: np.ndarray
    texture: np.ndarray
    outfit: dict


class SceneRenderer:
    """Full-image rendering on top of a :class:`SampleGenerator` (same renderer, libraries, poses)."""

    def __init__(self, gen: SampleGenerator) -> None:
        self.gen = gen
        self.r = gen.renderer

    def _person(self, rng, rot_world, xz) -> _Person:
        shape = sample_shape(self.r.mesh.name, self.r.num_shape, rng)
        outfit = self.gen.appearance.sample(rng)
        tex = self.gen.appearance.paint(outfit, rng)
        return _Person(rot_world, shape, self.gen.place_in_world(rot_world, shape, xz), tex, outfit.meta())

    def render_people(self, cam: Camera, people: list[_Person], background: np.ndarray, light: Light,
                      supersample: int = 1, floor: bool = True) -> dict:
        """Pose (feet on the floor), depth-order and draw people; returns the frame and its ground truth."""
        states = []
        for p in people:
            rc, tc = self.gen.to_camera(cam, p.rot_world, p.pelvis_world)
            states.append(PersonState(rc, p.shape, tc, p.texture))
        posed = self.r.pose(states)
        transl = np.stack([s.transl for s in states]).astype(np.float64)
        if floor:
            for i in range(len(people)):
                vw = (posed.vertices[i].astype(np.float64) - cam.t) @ cam.R
                shift = (cam.R[:, 1] * -vw[:, 1].min()).astype(np.float32)
                posed.vertices[i] += shift
                posed.joints[i] += shift
                posed.coco17[i] += shift
                transl[i] += shift
        order = np.argsort(posed.joints[:, 0, 2])                        # nearest first
        # Re-index everything so person id == depth rank.
        posed.vertices, posed.joints, posed.coco17 = posed.vertices[order], posed.joints[order], posed.coco17[order]
        if posed.normals is not None:
            posed.normals = posed.normals[order]
        states = [states[i] for i in order]
        transl = transl[order]
        layers = self.r.draw(posed, [s.texture for s in states], cam.K, cam.width, cam.height, light, supersample)
        img = composite(layers, background)
        n = len(states)
        K = cam.K
        j3 = posed.joints.astype(np.float64)
        j2 = j3[..., :2] / np.maximum(j3[..., 2:3], 1e-6) * np.diag(K)[:2] + K[:2, 2]
        c3 = posed.coco17.astype(np.float64)
        c2 = c3[..., :2] / np.maximum(c3[..., 2:3], 1e-6) * np.diag(K)[:2] + K[:2, 2]
        vis = np.stack([joint_visibility(j2[i], j3[i, :, 2], layers, i, None, self.gen.cfg.vis_tol_m,
                                         self.gen.cfg.vis_tol_part_m) for i in range(n)])
        inst = np.where(layers.alpha > 0.5, layers.person, -1).astype(np.int16)
        v = posed.vertices.astype(np.float64)
        uvv = v[..., :2] / np.maximum(v[..., 2:3], 1e-6) * np.diag(K)[:2] + K[:2, 2]
        full = np.concatenate([uvv.min(1), uvv.max(1)], -1)
        full[:, [0, 2]] = np.clip(full[:, [0, 2]], 0, cam.width)
        full[:, [1, 3]] = np.clip(full[:, [1, 3]], 0, cam.height)
        rot = np.stack([s.rotmats for s in states])
        return {"image": img, "instances": inst, "ids": np.arange(n, dtype=np.int32),
                "boxes": boxes_from_instances(inst, n), "full_boxes": full.astype(np.float32),
                "joints2d": j2.astype(np.float32), "coco2d": c2.astype(np.float32), "visibility": vis,
                "joints3d": j3.astype(np.float32), "rotmats": rot.astype(np.float32),
                "shape": np.stack([s.shape for s in states]).astype(np.float32),
                "transl": transl.astype(np.float32), "K": K.astype(np.float32), "order": order}

    def scene(self, index: int, num_people: int | None = None, width: int = 512, height: int = 384) -> dict:
        """Multi-person scene ``index``: 1-4 people on the floor in front of a robot-like camera."""
        gen = self.gen
        rng = np.random.default_rng([gen.seed, int(index), 7])
        n = int(num_people or rng.integers(1, 5))
        if not 1 <= n <= 8:
            raise ValueError(f"num_people must be in 1..8, got {n}")
        hfov = rng.uniform(55, 85)
        f = 0.5 * width / math.tan(math.radians(hfov) / 2)
        K = np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])
        yaw, pitch, roll = rng.uniform(-math.pi, math.pi), math.radians(rng.uniform(-5, 20)), math.radians(
            rng.uniform(-4, 4))
        R = camera_rotation(yaw, pitch, roll)
        c = np.array([0.0, rng.uniform(0.6, 1.8), 0.0])
        cam = Camera(R, -R @ c, K, width, height, yaw, pitch, roll, {"hfov_deg": hfov})
        fwd = np.array([R[2, 0], 0, R[2, 2]])
        fwd /= np.linalg.norm(fwd)
        right = np.array([fwd[2], 0, -fwd[0]])
        people, spots = [], []
        for _ in range(n * 20):
            if len(people) == n:
                break
            d = rng.uniform(2.0, 8.0)
            lat = rng.uniform(-0.6, 0.6) * d * math.tan(math.radians(hfov) / 2)
            xz = (c + fwd * d + right * lat)[[0, 2]]
            if any(np.linalg.norm(xz - s) < 0.7 for s in spots):
                continue
            spots.append(xz)
            rot, _ = gen.poses.sample(rng)
            people.append(self._person(rng, rot, xz))
        light, _ = sample_light(rng, gen.cfg.augment)
        room = sample_room(rng, c, np.mean(spots, 0), gen.textures, gen.cfg.split)
        bg = render_room(room, R, cam.t, K, width, height, np.asarray(light.color) + np.asarray(light.ambient))
        out = self.render_people(cam, people, bg, light)
        out["meta"] = {"index": int(index), "camera": cam.meta(), "background": room.meta,
                       "outfits": [people[i].outfit for i in out.pop("order")]}
        return out

    def sequence(self, clips: list[tuple[np.ndarray, np.ndarray]], cam_path, width: int, height: int,
                 K: np.ndarray, rng: np.random.Generator, room: RoomSpec | None = None,
                 offsets: list[np.ndarray] | None = None, supersample: int = 1):
        """Yield ``(frame_index, result)`` for clips rendered from cameras ``cam_path(t) -> (R, t)``.

        Args:
            clips: per person ``(rotmats (T, 24, 3, 3), pelvis_world (T, 3))`` (y-up world, metres).
            cam_path: callable frame index -> (R (3, 3), t (3,)) world -> optical.
            room: background room (default: drawn around the first frame).
        """
        n_frames = min(len(c[0]) for c in clips)
        people = [self._person(rng, c[0][0], c[1][0, [0, 2]]) for c in clips]
        light, _ = sample_light(rng, self.gen.cfg.augment)
        light = Light(light.ambient, light.direction, light.color, light.specular)
        bg_cache: dict[tuple, np.ndarray] = {}
        for f in range(n_frames):
            R, t = cam_path(f)
            cam = Camera(np.asarray(R), np.asarray(t), K, width, height)
            if room is None:
                room = sample_room(rng, cam.center, clips[0][1][0, [0, 2]], self.gen.textures, self.gen.cfg.split)
            key = (np.asarray(R).tobytes(), np.asarray(t).tobytes())
            if key not in bg_cache:
                bg_cache.clear()
                bg_cache[key] = render_room(room, cam.R, cam.t, K, width, height)
            for p, (rots, pel) in zip(people, clips):
                p.rot_world, p.pelvis_world = rots[f], pel[f]
            res = self.render_people(cam, people, bg_cache[key], light, supersample, floor=False)
            res["camera_R"], res["camera_t"] = cam.R.astype(np.float32), cam.t.astype(np.float32)
            yield f, res


def write_sequence(frames, out_dir: str | Path, fps: float, fmt: str = "mp4", meta: dict | None = None) -> Path:
    """Write ``(index, result)`` frames as ``video.mp4`` (or ``frames/%06d.jpg``) + ``ground_truth.npz``.

    ``ground_truth.npz``: joints3d (T, P, 24, 3), joints2d (T, P, 24, 2), coco2d (T, P, 17, 2),
    visibility (T, P, 24), rotmats (T, P, 24, 3, 3), transl (T, P, 3), shape (T, P, S), boxes /
    full_boxes (T, P, 4), camera_R (T, 3, 3), camera_t (T, 3), K (3, 3), fps.
    ``meta.json`` holds ``meta`` plus the frame count and size.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keys = ("joints3d", "joints2d", "coco2d", "visibility", "rotmats", "transl", "shape", "boxes", "full_boxes",
            "camera_R", "camera_t")
    acc: dict[str, list] = {k: [] for k in keys}
    writer = None
    K = None
    size = None
    for f, res in tqdm(frames, desc="render sequence", unit="frame"):
        img = res["image"]
        size = img.shape[1], img.shape[0]
        if fmt == "mp4":
            if writer is None:
                writer = cv2.VideoWriter(str(out / "video.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size)
            writer.write(np.ascontiguousarray(img[..., ::-1]))
        else:
            (out / "frames").mkdir(exist_ok=True)
            cv2.imwrite(str(out / "frames" / f"{f:06d}.jpg"), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        for k in keys:
            acc[k].append(res[k])
        K = res["K"]
    if writer is not None:
        writer.release()
    np.savez_compressed(out / "ground_truth.npz", **{k: np.stack(v) for k, v in acc.items()}, K=K,
                        fps=np.float64(fps))
    (out / "meta.json").write_text(json.dumps({**(meta or {}), "frames": len(acc["joints3d"]),
                                               "width": size[0] if size else 0, "height": size[1] if size else 0,
                                               "fps": fps, "format": fmt}, indent=1))
    return out
