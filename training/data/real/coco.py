"""COCO keypoint JSON (``person_keypoints_{train,val}2017.json`` and files in the same format).

Uses ``images`` (id, file_name) and ``annotations`` (image_id, keypoints = 17 x (x, y, v), bbox =
[x, y, w, h], optional iscrowd / num_keypoints). Crowd annotations and people with fewer than
``min_keypoints`` labelled keypoints are skipped. The person box is the square around the bbox
enlarged by ``box_margin``; the 12 body keypoints map onto the canonical joints of the same name.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from training.data.real.annotations import RealAnnotations, RealDataError, require_keys
from training.data.real.joint_maps import COCO17_TO_CANONICAL, remap
from training.body.keypoints import COCO17_NAMES

__all__ = ["load_coco_keypoints"]


def load_coco_keypoints(path: str | Path, image_root: str | Path | None = None, min_keypoints: int = 6,
                        box_margin: float = 1.2) -> RealAnnotations:
    """Read a COCO keypoint JSON into :class:`RealAnnotations` (2D labels only).

    Args:
        path: the JSON file.
        image_root: folder of ``file_name`` (default: the JSON's folder).
        min_keypoints: skip people with fewer labelled keypoints (v > 0).
        box_margin: square box side = margin * max(bbox w, h).
    Raises:
        FileNotFoundError, RealDataError (missing key named with the file and the entry).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"COCO keypoint JSON {path}: no such file")
    root = Path(image_root) if image_root is not None else path.parent
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RealDataError(f"{path}: not JSON ({e})") from e
    require_keys(data, ("images", "annotations"), str(path), "COCO keypoint JSON")
    files = {}
    for i, im in enumerate(data["images"]):
        require_keys(im, ("id", "file_name"), f"{path} images[{i}]", "COCO image entry")
        files[im["id"]] = im["file_name"]
    names, centers, sizes, kps = [], [], [], []
    for i, ann in enumerate(data["annotations"]):
        require_keys(ann, ("image_id", "keypoints", "bbox"), f"{path} annotations[{i}]", "COCO annotation")
        if ann.get("iscrowd", 0):
            continue
        kp = np.asarray(ann["keypoints"], np.float32)
        if kp.size != 51:
            raise RealDataError(f"{path} annotations[{i}]: 'keypoints' must have 17 x 3 = 51 values, got {kp.size}")
        kp = kp.reshape(17, 3)
        if int((kp[:, 2] > 0).sum()) < min_keypoints:
            continue
        if ann["image_id"] not in files:
            raise RealDataError(f"{path} annotations[{i}]: image_id {ann['image_id']} not in 'images'")
        x, y, w, h = map(float, ann["bbox"])
        names.append(str(root / files[ann["image_id"]]))
        centers.append((x + w / 2, y + h / 2))
        sizes.append(box_margin * max(w, h, 1.0))
        kps.append(kp)
    coco = np.asarray(kps, np.float32).reshape(-1, 17, 3)
    coco[..., 2] = (coco[..., 2] > 0).astype(np.float32)
    kp24, mask = remap(coco[:, :, :2], COCO17_NAMES, COCO17_TO_CANONICAL)
    vis24, _ = remap(coco[:, :, 2:], COCO17_NAMES, COCO17_TO_CANONICAL)
    return RealAnnotations(names, np.asarray(centers, np.float32).reshape(-1, 2), np.asarray(sizes, np.float32),
                           kp24, vis24[..., 0] * mask, coco17=coco, source=f"coco:{path.name}")
