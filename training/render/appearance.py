"""Clothing, skin and hair painted on the body's UV map, one texture per sample.

Garment regions (:data:`REGIONS`) are assigned per face once per process
(:class:`GarmentLayout`): from the canonical joint of the face's dominant skinning bone (torso ->
shirt, upper arm -> upper sleeve, forearm -> lower sleeve, hips/thighs -> upper trousers, shins ->
lower trousers, ankles/feet -> shoes, wrists/hands/neck -> skin, head -> skin or hair by its rest
position), refined by Anny's own UV segmentation (``anny/data/segmentation``: hands, feet, eyes,
mouth) when the wheel ships it. The faces are rasterised into a label image on the UV map.

Per sample (:class:`AppearanceSampler`) an :class:`Outfit` picks sleeve/leg lengths (a short
sleeve makes the forearm skin, shorts make the shins skin), a skin tone (a continuous light-to-dark
range with warm/cool variation), a hair colour, and for every garment a fabric: a photo from the
texture library (tinted, greyscale maps multiplied over a colour) or a procedural pattern
(solid, stripes, checks, dots, noise). Fabrics are tiled at a physical scale (metres per repeat)
converted per region with the UV map's texel density, so a pattern has the same size on the
sleeves and on the chest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pose_estimation_ros import skeleton
from training.render.images import ImageLibrary

__all__ = ["REGIONS", "GarmentLayout", "Outfit", "AppearanceSampler", "skin_tone", "PATTERNS"]

REGIONS: tuple[str, ...] = ("skin", "hair", "shirt", "sleeve_upper", "sleeve_lower", "trousers_upper",
                            "trousers_lower", "shoes", "eyes", "mouth")
R = {n: i for i, n in enumerate(REGIONS)}
PATTERNS: tuple[str, ...] = ("solid", "stripes", "checks", "dots", "noise")

_JOINT_REGION = {
    "pelvis": "trousers_upper", "left_hip": "trousers_upper", "right_hip": "trousers_upper",
    "left_knee": "trousers_lower", "right_knee": "trousers_lower",
    "left_ankle": "shoes", "right_ankle": "shoes", "left_foot": "shoes", "right_foot": "shoes",
    "spine1": "shirt", "spine2": "shirt", "spine3": "shirt", "left_collar": "shirt", "right_collar": "shirt",
    "neck": "skin", "head": "skin",
    "left_shoulder": "sleeve_upper", "right_shoulder": "sleeve_upper",
    "left_elbow": "sleeve_lower", "right_elbow": "sleeve_lower",
    "left_wrist": "skin", "right_wrist": "skin", "left_hand": "skin", "right_hand": "skin",
}
# Anny UV segmentation label -> region override.
_SEG_REGION = {"hand.L": "skin", "hand.R": "skin", "foot.L": "shoes", "foot.R": "shoes",
               "eye_front.L": "eyes", "eye_front.R": "eyes", "eye_back.L": "eyes", "eye_back.R": "eyes",
               "eye_cavity.L": "mouth", "eye_cavity.R": "mouth", "mouth_cavity": "mouth", "tongue": "mouth"}


def _anny_segmentation() -> tuple[np.ndarray, dict] | None:
    """Anny's UV segmentation image (H, W, 3) RGB and its label colours, or None."""
    try:
        import anny
        import yaml
    except ImportError:
        return None
    d = Path(anny.__file__).parent / "data" / "segmentation"
    png, yml = d / "body_parts_segmentation.png", d / "body_parts_segmentation.yaml"
    if not png.is_file() or not yml.is_file():
        return None
    img = cv2.imread(str(png), cv2.IMREAD_COLOR)
    if img is None:
        return None
    colors = yaml.safe_load(yml.read_text()).get("colors", {})
    return img[..., ::-1].copy(), colors


class GarmentLayout:
    """Region label per face and its UV label image (built once per process).

    Args:
        mesh: a :class:`~training.render.body_mesh.BodyMesh`.
        size: side of the square UV atlas in texels.
    Attributes:
        face_region: (F,) region index per face.
        label: (size, size) int8 region per texel (row 0 = v = 1), -1 outside the UV islands
            (those texels get the nearest region by dilation).
        texels_per_m: (len(REGIONS),) median texel density of each region (texels per metre).
    """

    def __init__(self, mesh, size: int = 512) -> None:
        self.size = int(size)
        fj = mesh.face_joint()
        names = np.array([_JOINT_REGION[n] for n in skeleton.JOINT_NAMES])
        region = np.array([R[n] for n in names[fj]], np.int8)
        uv = mesh.face_uv                                                   # (F, 3, 2)
        rest = mesh.rest_vertices[mesh.mesh_faces]                          # (F, 3, 3)
        region = self._straight_cuts(region, fj, rest.mean(1), mesh.rest_joints)
        # Hair: head faces above the brow or behind the ears (rest T-pose, y up, z forward).
        head = skeleton.JOINT_NAMES.index("head")
        neck = skeleton.JOINT_NAMES.index("neck")
        hj, nj = mesh.rest_joints[head], mesh.rest_joints[neck]
        c = rest.mean(1)
        is_head = fj == head
        top = c[:, 1] > hj[1] + 0.085
        back = (c[:, 2] < hj[2] - 0.01) & (c[:, 1] > nj[1] + 0.05)
        region[is_head & (top | back)] = R["hair"]
        seg = _anny_segmentation() if mesh.name == "anny" else None
        if seg is not None:
            img, colors = seg
            h, w = img.shape[:2]
            cu = uv.mean(1)
            px = np.clip((cu[:, 0] * w).astype(int), 0, w - 1)
            py = np.clip(((1 - cu[:, 1]) * h).astype(int), 0, h - 1)
            face_col = img[py, px].astype(int)
            for lab, reg in _SEG_REGION.items():
                if lab in colors:
                    hit = np.abs(face_col - np.asarray(colors[lab])).max(1) < 8
                    if lab.startswith("hand") or lab.startswith("foot"):
                        region[hit & (region != R["hair"])] = R[reg]
                    else:
                        region[hit] = R[reg]
        self.face_region = region
        self.label = self._rasterise(uv, region)
        self.texels = [np.flatnonzero(self.label.reshape(-1) == r) for r in range(len(REGIONS))]
        # Texel density per region: sqrt(UV area in texels^2 / surface area in m^2), median over faces.
        a3 = 0.5 * np.linalg.norm(np.cross(rest[:, 1] - rest[:, 0], rest[:, 2] - rest[:, 0]), axis=1)
        t = uv * self.size
        a2 = 0.5 * np.abs((t[:, 1, 0] - t[:, 0, 0]) * (t[:, 2, 1] - t[:, 0, 1])
                          - (t[:, 2, 0] - t[:, 0, 0]) * (t[:, 1, 1] - t[:, 0, 1]))
        ok = a3 > 1e-10
        dens = np.sqrt(a2[ok] / a3[ok])
        reg_ok = region[ok]
        overall = float(np.median(dens))
        self.texels_per_m = np.array([float(np.median(dens[reg_ok == r])) if np.any(reg_ok == r) else overall
                                      for r in range(len(REGIONS))], np.float32)

    @staticmethod
    def _straight_cuts(region: np.ndarray, fj: np.ndarray, c: np.ndarray, rj: np.ndarray) -> np.ndarray:
        """Move garment borders onto straight cuts of the rest T-pose (the skinning-bone borders are jagged).

        Arms (faces following a shoulder/elbow/wrist/hand): by distance along the arm, short sleeve
        end at 45% of the upper arm, long sleeve end 3 cm before the wrist. Torso and legs: waist at
        55% of the pelvis -> spine1 height, shorts end 8 cm above the knee, shoes from 4 cm above
        the ankle. Args: region (F,), fj (F,) face joints, c (F, 3) rest face centres, rj (24, 3).
        """
        out = region.copy()
        n = {k: i for i, k in enumerate(skeleton.JOINT_NAMES)}
        for side in ("left", "right"):
            arm = np.isin(fj, [n[f"{side}_{k}"] for k in ("shoulder", "elbow", "wrist", "hand")])
            xs, xe, xw = (abs(rj[n[f"{side}_{k}"], 0]) for k in ("shoulder", "elbow", "wrist"))
            a = np.abs(c[:, 0])
            out[arm & (a < xs + 0.45 * (xe - xs))] = R["sleeve_upper"]
            out[arm & (a >= xs + 0.45 * (xe - xs)) & (a < xw - 0.03)] = R["sleeve_lower"]
            out[arm & (a >= xw - 0.03)] = R["skin"]
        trunk = np.isin(fj, [n[k] for k in ("pelvis", "spine1", "spine2", "left_hip", "right_hip", "left_knee",
                                            "right_knee", "left_ankle", "right_ankle")])
        waist = rj[n["pelvis"], 1] + 0.55 * (rj[n["spine1"], 1] - rj[n["pelvis"], 1])
        knee = 0.5 * (rj[n["left_knee"], 1] + rj[n["right_knee"], 1])
        ankle = 0.5 * (rj[n["left_ankle"], 1] + rj[n["right_ankle"], 1])
        y = c[:, 1]
        out[trunk & (y >= waist)] = R["shirt"]
        out[trunk & (y < waist) & (y >= knee + 0.08)] = R["trousers_upper"]
        out[trunk & (y < knee + 0.08) & (y >= ankle + 0.04)] = R["trousers_lower"]
        out[trunk & (y < ankle + 0.04)] = R["shoes"]
        feet = np.isin(fj, [n["left_foot"], n["right_foot"]])
        out[feet] = R["shoes"]
        return out

    def _rasterise(self, uv: np.ndarray, region: np.ndarray) -> np.ndarray:
        s = self.size
        pts = np.stack([uv[..., 0] * s, (1.0 - uv[..., 1]) * s], -1)          # (F, 3, 2) texel coords
        pts = np.rint(pts * 16).astype(np.int32)                               # 4 fractional bits
        label = np.full((s, s), 255, np.uint8)
        for r in range(len(REGIONS)):
            polys = list(pts[region == r])
            if polys:
                cv2.fillPoly(label, polys, int(r), lineType=cv2.LINE_8, shift=4)
                cv2.polylines(label, polys, True, int(r), thickness=1, lineType=cv2.LINE_8, shift=4)
        # Fill the gutters with the nearest region (a few dilation steps of the labelled texels).
        empty = label == 255
        for _ in range(6):
            if not empty.any():
                break
            grown = cv2.dilate(np.where(empty, 0, label + 1).astype(np.uint8), np.ones((3, 3), np.uint8))
            fill = empty & (grown > 0)
            label[fill] = grown[fill] - 1
            empty = label == 255
        label[empty] = R["skin"]
        return label.astype(np.int8)


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    """(3,) uint8 RGB skin colour: light-to-dark depth uniform, warm/cool undertone jitter."""
    light = np.array([250, 218, 190], np.float64)
    mid = np.array([198, 140, 100], np.float64)
    dark = np.array([72, 46, 32], np.float64)
    d = rng.uniform(0, 1)
    c = light + (mid - light) * (d / 0.5) if d < 0.5 else mid + (dark - mid) * ((d - 0.5) / 0.5)
    c = c * (1 + rng.normal(0, 0.03, 3)) + np.array([1.0, 0.0, -1.0]) * rng.normal(0, 6)
    return np.clip(c, 0, 255).astype(np.uint8)


_HAIR = np.array([[20, 16, 14], [45, 30, 20], [85, 55, 32], [140, 95, 55], [200, 165, 110],
                  [150, 60, 30], [160, 160, 160], [225, 225, 220]], np.float64)


@dataclass
class Fabric:
    """How one garment is filled."""

    kind: str                                 # "photo" | a procedural pattern name
    color: tuple[int, int, int]               # base / tint colour
    color2: tuple[int, int, int] = (255, 255, 255)
    scale_m: float = 0.2                      # metres per repeat
    texture_id: str = ""                      # library id for a photo
    angle: float = 0.0
    tint: bool = False                        # multiply a colour photo by ``color``


@dataclass
class Outfit:
    """Per-sample appearance description (recorded in the sample's meta)."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    sleeves: str                               # "long" | "short" | "none"
    legs: str                                  # "long" | "shorts"
    fabrics: dict[str, Fabric] = field(default_factory=dict)   # "shirt", "trousers", "shoes"

    def meta(self) -> dict:
        return {"skin": list(self.skin), "hair": list(self.hair), "sleeves": self.sleeves, "legs": self.legs,
                "fabrics": {k: {"kind": f.kind, "texture": f.texture_id, "color": list(f.color),
                                "scale_m": round(f.scale_m, 3)} for k, f in self.fabrics.items()}}


def _tile(img: np.ndarray, period_px: float, size: int, angle: float = 0.0) -> np.ndarray:
    """Tile ``img`` (h, w, 3) over a (size, size) canvas with one repeat = ``period_px`` texels."""
    h, w = img.shape[:2]
    s = max(period_px, 2.0) / max(h, w)
    th, tw = max(2, int(round(h * s))), max(2, int(round(w * s)))
    tile = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    reps = (size // th + 2, size // tw + 2, 1)
    out = np.tile(tile, reps)
    if abs(angle) > 1e-3:
        m = cv2.getRotationMatrix2D((size / 2, size / 2), float(np.degrees(angle)), 1.0)
        return cv2.warpAffine(out, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return np.ascontiguousarray(out[:size, :size])


def _pattern(kind: str, c1, c2, period_px: float, size: int, rng: np.random.Generator,
             angle: float = 0.0) -> np.ndarray:
    """A procedural (size, size, 3) uint8 pattern with one repeat = ``period_px`` texels.

    One repeat is drawn at 32 x 32 texels and tiled (:func:`_tile`), so the cost does not grow with
    the atlas size.
    """
    c1, c2 = np.asarray(c1, np.float32), np.asarray(c2, np.float32)
    n = 32
    y, x = np.mgrid[0:n, 0:n].astype(np.float32) / n
    if kind == "solid":
        t = np.zeros((n, n), np.float32)
    elif kind == "stripes":
        t = (y < rng.uniform(0.2, 0.6)).astype(np.float32)
    elif kind == "checks":
        t = ((x < 0.5) ^ (y < 0.5)).astype(np.float32)
    elif kind == "dots":
        r = rng.uniform(0.15, 0.3)
        t = ((x - 0.5) ** 2 + (y - 0.5) ** 2 < r * r).astype(np.float32)
    elif kind == "noise":
        t = np.clip(0.5 + 0.3 * rng.normal(0, 1, (n, n)).astype(np.float32), 0, 1)
        t = cv2.GaussianBlur(t, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
    else:
        raise ValueError(f"unknown pattern {kind!r}; expected one of {PATTERNS}")
    tile = c1 + (c2 - c1) * t[..., None]
    tile = tile * (1.0 + 0.05 * np.sin(x * 2 * np.pi * 8) * np.sin(y * 2 * np.pi * 8))[..., None]  # weave
    tile = np.clip(tile, 0, 255).astype(np.uint8)
    if kind == "solid":
        out = np.empty((size, size, 3), np.uint8)
        out[:] = np.clip(c1, 0, 255).astype(np.uint8)
        return out
    return _tile(tile, period_px, size, angle)


def _random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    hsv = np.uint8([[[rng.integers(0, 180), rng.integers(0, 256), rng.integers(30, 256)]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


class AppearanceSampler:
    """Draws outfits and paints them into UV textures.

    Args:
        layout: the body's :class:`GarmentLayout`.
        textures: fabric/material photos (:class:`ImageLibrary`), or None for procedural fabrics only.
        split: which texture split to draw from ("train" | "heldout" | "all").
        photo_prob: probability that a garment uses a photo (when a library is given).
    """

    FABRIC_CATEGORIES = ("fabric", "carpet", "leather", "paper")

    def __init__(self, layout: GarmentLayout, textures: ImageLibrary | None = None, split: str = "train",
                 photo_prob: float = 0.6) -> None:
        self.layout = layout
        self.textures = textures
        self.split = split
        self.photo_prob = float(photo_prob)
        self._grey: dict[str, bool] = {}
        self._by_id = {e.id: e for e in textures.entries} if textures is not None else {}

    def _cloth_filter(self, garment: str):
        cats = ("leather", "fabric") if garment == "shoes" else self.FABRIC_CATEGORIES
        return lambda e: e.info.get("category", e.path.stem.split("_")[0]) in cats or not e.info

    def _fabric(self, garment: str, rng: np.random.Generator) -> Fabric:
        color = _random_color(rng)
        if garment == "shoes" and rng.uniform() < 0.6:
            color = tuple(int(v) for v in rng.integers(15, 90, 3))
        if self.textures is not None and rng.uniform() < self.photo_prob:
            pool = self.textures.select(self.split, self._cloth_filter(garment)) or self.textures.select(self.split)
            if pool:
                e = pool[int(rng.integers(len(pool)))]
                return Fabric("photo", color, scale_m=float(rng.uniform(0.12, 0.45)), texture_id=e.id,
                              angle=float(rng.choice([0.0, 0.0, rng.uniform(-0.3, 0.3)])),
                              tint=bool(rng.uniform() < 0.5))
        kind = str(rng.choice(PATTERNS, p=[0.35, 0.25, 0.15, 0.1, 0.15]))
        return Fabric(kind, color, _random_color(rng), scale_m=float(rng.uniform(0.02, 0.12)),
                      angle=float(rng.uniform(-0.4, 0.4)))

    def sample(self, rng: np.random.Generator) -> Outfit:
        """A random outfit."""
        hair = _HAIR[int(rng.integers(len(_HAIR)))] * rng.uniform(0.85, 1.15)
        return Outfit(skin=tuple(int(v) for v in skin_tone(rng)),
                      hair=tuple(int(v) for v in np.clip(hair, 0, 255)),
                      sleeves=str(rng.choice(["long", "short", "none"], p=[0.45, 0.4, 0.15])),
                      legs=str(rng.choice(["long", "shorts"], p=[0.75, 0.25])),
                      fabrics={g: self._fabric(g, rng) for g in ("shirt", "trousers", "shoes")})

    def _is_grey(self, entry, img: np.ndarray) -> bool:
        """Greyscale detail map (manifest ``grey`` = 1, or no colour in a subsample); cached per file."""
        if entry.id not in self._grey:
            sub = img[::8, ::8].astype(np.float32)
            self._grey[entry.id] = str(entry.info.get("grey", "0")) == "1" or float(
                np.abs(sub - sub.mean(2, keepdims=True)).mean()) < 2.0
        return self._grey[entry.id]

    def _fill(self, fab: Fabric, region: str, rng: np.random.Generator) -> np.ndarray:
        size = self.layout.size
        period = fab.scale_m * float(self.layout.texels_per_m[R[region]])
        if fab.kind == "photo" and self.textures is not None:
            entry = self._by_id.get(fab.texture_id)
            img = self.textures.load(entry) if entry is not None else None
            if img is not None:
                out = _tile(img, period, size, fab.angle).astype(np.float32)
                grey = self._is_grey(entry, img)
                tint = np.asarray(fab.color, np.float32) / 255.0
                if grey:
                    out = out.mean(2, keepdims=True) / 160.0 * np.asarray(fab.color, np.float32)
                elif fab.tint:
                    out = out * (0.55 + 0.45 * tint) / 0.8
                return np.clip(out, 0, 255).astype(np.uint8)
        return _pattern(fab.kind if fab.kind != "photo" else "solid", fab.color, fab.color2, period, size, rng,
                        fab.angle)

    def paint(self, outfit: Outfit, rng: np.random.Generator) -> np.ndarray:
        """(size, size, 3) uint8 RGB texture on the UV map (row 0 = v = 1)."""
        lab = self.layout.label
        size = self.layout.size
        # Skin: the tone with soft low-frequency variation.
        n = cv2.resize(rng.normal(0, 1, (8, 8)).astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
        skin = np.asarray(outfit.skin, np.float32)[None, None] * (1.0 + 0.04 * n[..., None])
        tex = np.clip(skin, 0, 255).astype(np.uint8)

        flat = tex.reshape(-1, 3)

        def put(region: str, img: np.ndarray) -> None:
            idx = self.layout.texels[R[region]]
            flat[idx] = img.reshape(-1, 3)[idx]

        hair = _pattern("noise", outfit.hair, np.asarray(outfit.hair) * 0.7, 12.0, size, rng)
        put("hair", hair)
        shirt = self._fill(outfit.fabrics["shirt"], "shirt", rng)
        put("shirt", shirt)
        if outfit.sleeves in ("long", "short"):
            put("sleeve_upper", self._fill(outfit.fabrics["shirt"], "sleeve_upper", rng))
        if outfit.sleeves == "long":
            put("sleeve_lower", self._fill(outfit.fabrics["shirt"], "sleeve_lower", rng))
        put("trousers_upper", self._fill(outfit.fabrics["trousers"], "trousers_upper", rng))
        if outfit.legs == "long":
            put("trousers_lower", self._fill(outfit.fabrics["trousers"], "trousers_lower", rng))
        put("shoes", self._fill(outfit.fabrics["shoes"], "shoes", rng))
        flat[self.layout.texels[R["eyes"]]] = (235, 235, 230)
        flat[self.layout.texels[R["mouth"]]] = (90, 30, 35)
        return tex

    def region_color_texture(self, colors: dict[str, tuple[int, int, int]],
                             default=(128, 128, 128)) -> np.ndarray:
        """A flat texture with one colour per region (tests, debugging)."""
        tex = np.empty((self.layout.size, self.layout.size, 3), np.uint8)
        tex[:] = default
        for name, c in colors.items():
            tex[self.layout.label == R[name]] = c
        return tex
