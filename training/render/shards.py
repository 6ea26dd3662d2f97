"""WebDataset-style tar shards of rendered samples, and a contact sheet to look at.

A shard ``shard-000000.tar`` holds, per sample key ``%08d`` (the sample index):
``KEY.jpg`` (or ``.png``) the RGB image, ``KEY.mask.png`` the person mask (0/255), ``KEY.npz``
every array of the sample contract (:mod:`training.render.dataset`) except image and mask, and
``KEY.json`` the ``meta`` dict plus ``upper_body``. Multi-person scenes store their instance map as
``KEY.inst.png`` (person id + 1, 0 = background) and per-person arrays (P, ...) in the ``.npz``. ``dataset.json`` beside the shards records the
configuration, seed, sample count, shard names, and the texture/background train/held-out split.
Any WebDataset reader groups files by key; :func:`read_shards` reads them back without it.
"""
from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

__all__ = ["encode_sample", "decode_sample", "ShardWriter", "read_shards", "contact_sheet"]



def _json_default(o):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def encode_sample(sample: dict, image_format: str = "jpg", quality: int = 95) -> dict[str, bytes]:
    """Sample dict -> {extension: bytes} (the files of one key)."""
    ext = image_format.lower()
    if ext not in ("jpg", "png"):
        raise ValueError(f"image_format must be jpg or png, got {image_format!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext == "jpg" else []
    ok, img = cv2.imencode(f".{ext}", np.ascontiguousarray(sample["image"][..., ::-1]), params)
    if not ok:
        raise RuntimeError("image encoding failed")
    files = {ext: img.tobytes()}
    if "mask" in sample:
        files["mask.png"] = cv2.imencode(".png", (sample["mask"] > 0).astype(np.uint8) * 255)[1].tobytes()
    if "instances" in sample:      # scenes: person id + 1 per pixel, 0 = background
        files["inst.png"] = cv2.imencode(".png", (sample["instances"].astype(np.int32) + 1).astype(np.uint8))[1] \
            .tobytes()
    buf = io.BytesIO()
    np.savez(buf, **{k: v for k, v in sample.items()
                     if isinstance(v, np.ndarray) and k not in ("image", "mask", "instances")})
    files["npz"] = buf.getvalue()
    meta = dict(sample.get("meta", {}))
    meta["upper_body"] = bool(sample.get("upper_body", False))
    files["json"] = json.dumps(meta, default=_json_default).encode()
    return files


def decode_sample(files: dict[str, bytes]) -> dict:
    """{extension: bytes} -> sample dict (inverse of :func:`encode_sample`, images decoded)."""
    out: dict = {}
    for ext in ("jpg", "png"):
        if ext in files:
            out["image"] = cv2.imdecode(np.frombuffer(files[ext], np.uint8), cv2.IMREAD_COLOR)[..., ::-1].copy()
    if "mask.png" in files:
        out["mask"] = (cv2.imdecode(np.frombuffer(files["mask.png"], np.uint8), cv2.IMREAD_GRAYSCALE) > 127
                       ).astype(np.uint8)
    if "inst.png" in files:
        out["instances"] = cv2.imdecode(np.frombuffer(files["inst.png"], np.uint8), cv2.IMREAD_GRAYSCALE
                                        ).astype(np.int16) - 1
    with np.load(io.BytesIO(files["npz"])) as z:
        out.update({k: z[k] for k in z.files})
    meta = json.loads(files["json"])
    out["upper_body"] = bool(meta.pop("upper_body", False))
    out["meta"] = meta
    return out


class ShardWriter:
    """Writes keys into ``shard-%06d.tar`` files of ``shard_size`` samples each."""

    def __init__(self, out_dir: str | Path, shard_size: int = 1000) -> None:
        if shard_size <= 0:
            raise ValueError(f"shard_size must be > 0, got {shard_size}")
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.shard_size = int(shard_size)
        self.count = 0
        self.shards: list[str] = []
        self._tar: tarfile.TarFile | None = None

    def write(self, key: str, files: dict[str, bytes]) -> None:
        if self._tar is None or self.count % self.shard_size == 0:
            self._close()
            name = f"shard-{len(self.shards):06d}.tar"
            self.shards.append(name)
            self._tar = tarfile.open(self.out / name, "w")
        now = time.time()
        for ext, data in files.items():
            info = tarfile.TarInfo(f"{key}.{ext}")
            info.size = len(data)
            info.mtime = int(now)
            self._tar.addfile(info, io.BytesIO(data))
        self.count += 1

    def _close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None

    def close(self) -> None:
        self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_shards(path: str | Path) -> Iterator[dict]:
    """Samples of a shard folder (or one ``.tar``), in key order within each shard."""
    p = Path(path)
    tars = [p] if p.is_file() else sorted(p.glob("shard-*.tar"))
    if not tars:
        raise ValueError(f"no shard-*.tar files in {p}")
    for t in tars:
        with tarfile.open(t) as tf:
            groups: dict[str, dict[str, bytes]] = {}
            for m in tf.getmembers():
                key, _, ext = m.name.partition(".")
                groups.setdefault(key, {})[ext] = tf.extractfile(m).read()
            for key in sorted(groups):
                s = decode_sample(groups[key])
                s["key"] = key
                yield s


def contact_sheet(samples: list[dict], path: str | Path, cols: int = 8, tile: int = 160,
                  joints: bool = True, bones: bool = False) -> Path:
    """A grid PNG of sample images (2D joints: green visible, red hidden; ``bones`` draws the skeleton;
    an orange bar under a tile = upper-body cut)."""
    from pose_estimation_ros import skeleton

    rows = (len(samples) + cols - 1) // cols
    sheet = np.full((rows * tile, cols * tile, 3), 255, np.uint8)
    for i, s in enumerate(samples):
        img = s["image"]
        k = tile / img.shape[0]
        t = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
        if joints:
            uv = s["joints2d"] * k
            for j, p in enumerate(skeleton.PARENTS if bones else []):
                if p >= 0:
                    cv2.line(t, tuple(int(v) for v in uv[j]), tuple(int(v) for v in uv[p]), (255, 255, 255), 1,
                             cv2.LINE_AA)
            for (u, v), vis in zip(uv, s["visibility"]):
                cv2.circle(t, (int(u), int(v)), 2, (40, 220, 40) if vis > 0.5 else (230, 40, 40), -1)
        if s.get("upper_body"):
            t[-4:] = (255, 150, 0)
        r, c = divmod(i, cols)
        sheet[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = t
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet[..., ::-1])
    return path
