"""Person-detector comparison: recall and false positives on real photos, false positives on empty scenes,
recall by person height on pasted (small/far) people, and latency at 640x480 with 1 and 2 threads.

    nice -n 10 .venv/bin/python -m bench.detectors                 # all tables (a few minutes on 2 cores)
    .venv/bin/python -m bench.detectors --quick                    # 20 background photos, fewer latency runs
    .venv/bin/python -m bench.detectors --yolo-model my_yolov8n.onnx  # add a user-supplied YOLO file
    .venv/bin/python -m bench.detectors --renders runs/detectors/scenes  # recall on rendered multi-person scenes

Data: ``$POSE_SHARED_DATA``, else ``../shared/data``, else ``/work/shared/data`` (real-dev/, backgrounds/).
Reference boxes on real-dev: from MediaPipe's own 2D landmarks (mediapipe_static.jsonl) for the 3 people it found,
hand-drawn (`HAND_BOXES`, this file) for every other person. A detection is correct when its IoU with an unmatched
reference box is >= ``--iou`` (0.3 by default: the chessboard photos show a person mostly hidden behind the board,
so any box is loose; 0.5 is printed too). Writes ``runs/detectors/results.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

# Hand-drawn person boxes, xyxy pixels of the original image. Chessboard photos (left*/right*): the whole person,
# board included where it hides the head and chest. Coarse by nature (+-20 px).
_Q = 4.0 / 3.0  # drawn on a 480x360 view of the 640x480 photos
_CHESS_VIEW = {
    "left01.jpg": (200, 30, 470, 360), "left02.jpg": (190, 0, 480, 360), "left03.jpg": (150, 15, 470, 360),
    "left04.jpg": (120, 35, 480, 360), "left05.jpg": (130, 20, 480, 360), "left06.jpg": (115, 28, 400, 360),
    "left07.jpg": (190, 28, 400, 360), "left08.jpg": (140, 35, 410, 360), "left09.jpg": (150, 20, 440, 360),
    "left11.jpg": (120, 10, 410, 360), "left12.jpg": (110, 30, 440, 360), "left13.jpg": (105, 0, 445, 360),
    "left14.jpg": (110, 5, 430, 360), "right01.jpg": (90, 25, 375, 360), "right02.jpg": (60, 0, 440, 360),
    "right03.jpg": (200, 40, 400, 360), "right04.jpg": (110, 60, 415, 360), "right05.jpg": (120, 40, 360, 360),
    "right06.jpg": (75, 35, 370, 360), "right07.jpg": (100, 35, 350, 360), "right08.jpg": (100, 40, 340, 360),
    "right09.jpg": (120, 35, 360, 360), "right11.jpg": (130, 30, 355, 360), "right12.jpg": (150, 40, 370, 360),
    "right13.jpg": (45, 0, 400, 360), "right14.jpg": (130, 30, 375, 360),
}
HAND_BOXES: dict[str, list[tuple[float, float, float, float]]] = {
    k: [tuple(round(c * _Q) for c in v)] for k, v in _CHESS_VIEW.items()}
HAND_BOXES.update({
    "basketball2.png": [(20, 73, 193, 473), (427, 20, 640, 480)],  # left man (MediaPipe's), man from behind
    # outdoor court (416x416 figure with axes): 9 people taller than ~55 px
    "person_multi_det.jpg": [(22, 192, 36, 301), (40, 190, 57, 274), (183, 198, 215, 307), (247, 122, 265, 280),
                             (259, 122, 282, 305), (326, 190, 341, 299), (337, 181, 349, 299),
                             (345, 175, 377, 343), (297, 207, 312, 266)],
    # lecture hall: 4 dark, partly hidden people at the bottom edge
    "studentsSample_input.jpg": [(215, 380, 250, 480), (175, 400, 210, 480), (255, 405, 300, 480),
                                 (50, 427, 80, 480)],
    "skimage_astronaut.png": [(21, 14, 368, 512)],
})
GROUPS = {"chessboard (26 photos, 26 people)": lambda n: n.startswith(("left", "right")),
          "multi-person (3 photos, 15 people)": lambda n: n in ("basketball2.png", "person_multi_det.jpg",
                                                                "studentsSample_input.jpg"),
          "portrait (astronaut)": lambda n: n == "skimage_astronaut.png"}


def shared_data() -> Path:
    """$POSE_SHARED_DATA, else ../shared/data beside the checkout, else /work/shared/data."""
    for c in (os.environ.get("POSE_SHARED_DATA", ""), ROOT / ".." / "shared" / "data", "/work/shared/data"):
        if c and (Path(c) / "real-dev").is_dir():
            return Path(c)
    raise SystemExit("no shared data: set POSE_SHARED_DATA to a folder with real-dev/ and backgrounds/")


def landmark_box(lm2d: list, width: int, height: int) -> np.ndarray:
    """Reference box from MediaPipe's 33 normalised landmarks, by the rule the blazepose backend uses
    (`landmarks_box`: all landmarks, head top above the nose, 5 % margin), clipped to the image."""
    from pose_estimation_ros.perception.detectors.blazepose import landmarks_box
    from pose_estimation_ros.perception.detectors.boxes import clip_boxes
    xy = np.asarray(lm2d, np.float32)[:, :2] * np.array([width, height], np.float32)
    return clip_boxes(landmarks_box(xy)[None], width, height)[0]


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a (N, 4)`` with ``b (M, 4)`` -> ``(N, M)``."""
    from pose_estimation_ros.perception.detectors.boxes import iou
    return np.stack([iou(x, b) for x in a]) if len(a) and len(b) else np.zeros((len(a), len(b)), np.float32)


def reference_boxes(data: Path) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """Reference boxes ``{image: (K, 4)}`` and MediaPipe's records ``{image: jsonl record}`` for real-dev."""
    recs = {}
    for line in (data / "real-dev" / "mediapipe_static.jsonl").read_text().splitlines():
        r = json.loads(line)
        if "name" in r:
            recs[r["name"]] = r
    boxes = {}
    for name, hand in HAND_BOXES.items():
        b = np.asarray(hand, np.float32).reshape(-1, 4)
        r = recs.get(name)
        if r and r.get("detected"):
            mp = np.asarray(landmark_box(r["lm2d"], r["width"], r["height"]), np.float32)
            j = int(np.argmax(_iou_matrix(mp[None], b)[0]))
            b[j] = mp  # MediaPipe's own person replaces the hand box it overlaps most
        boxes[name] = b
    return boxes, recs


@dataclass
class Score:
    """Matching totals over a set of images."""

    gt: int = 0
    tp30: int = 0
    tp50: int = 0
    fp30: int = 0
    images: int = 0

    def add(self, det: np.ndarray, ref: np.ndarray) -> None:
        """Greedy matching (detections are score-sorted) at IoU 0.3 and 0.5."""
        self.images += 1
        self.gt += len(ref)
        m = _iou_matrix(det, ref)
        for thr in (0.3, 0.5):
            used: set[int] = set()
            tp = 0
            for i in range(len(det)):
                cand = [(m[i, j], j) for j in range(len(ref)) if j not in used and m[i, j] >= thr]
                if cand:
                    used.add(max(cand)[1])
                    tp += 1
            if thr == 0.3:
                self.tp30 += tp
                self.fp30 += len(det) - tp
            else:
                self.tp50 += tp


def build(name: str, args: argparse.Namespace, threads: int = 1):
    """The detector ``name`` with its bench settings."""
    from pose_estimation_ros.perception.detectors import make_detector
    if name == "yolo_onnx":
        return make_detector(name, model_path=args.yolo_model, num_threads=threads)
    if name == "hog":
        return make_detector(name, num_threads=threads)
    if name == "blazepose-mp":  # MediaPipe's own setting: one pass on the whole frame, min_detection_confidence 0.5
        return make_detector("blazepose", num_threads=threads, tiles=1, score_threshold=0.5)
    if name.startswith("blazepose"):  # blazepose (defaults), blazepose-nolm (no landmark model), blazepose-tN
        kw = {"tiles": int(name.split("-t")[1])} if "-t" in name else {}
        return make_detector("blazepose", num_threads=threads, landmarks=name != "blazepose-nolm", **kw)
    return make_detector(name)


def load_rgb(path: Path) -> np.ndarray:
    """An image file as RGB uint8."""
    import cv2
    im = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if im is None:
        raise SystemExit(f"cannot read image {path}")
    return np.ascontiguousarray(im[:, :, ::-1])


def boxes_of(dets) -> np.ndarray:
    return np.asarray([d.box for d in dets], np.float32).reshape(-1, 4)


def paste_people(data: Path, heights: list[int], per_height: int, seed: int = 0):
    """Small/far people: MediaPipe's reference person of basketball2 (full body) pasted at each height into empty
    background photos (640x480), ``per_height`` frames each. Yields (height, rgb, box)."""
    import cv2
    boxes, _ = reference_boxes(data)
    src = load_rgb(data / "real-dev" / "images" / "basketball2.png")
    x0, y0, x1, y1 = [int(round(v)) for v in boxes["basketball2.png"][0]]
    person = src[y0:y1, x0:x1]
    bgs = sorted((data / "backgrounds").rglob("*.jpg"))
    rng = np.random.default_rng(seed)
    for h in heights:
        for k in range(per_height):
            bg = cv2.resize(load_rgb(bgs[int(rng.integers(len(bgs)))]), (640, 480), interpolation=cv2.INTER_AREA)
            w = max(1, round(person.shape[1] * h / person.shape[0]))
            p = cv2.resize(person, (w, h), interpolation=cv2.INTER_AREA)
            px = int(rng.integers(0, 640 - w))
            py = int(rng.integers(0, 480 - h))
            bg[py:py + h, px:px + w] = p
            yield h, bg, np.array([px, py, px + w, py + h], np.float32)


def accuracy(names: list[str], args: argparse.Namespace, data: Path) -> dict:
    """Recall / false positives for each detector on real-dev, backgrounds and pasted small people."""
    from tqdm import tqdm
    boxes, recs = reference_boxes(data)
    bgs = sorted((data / "backgrounds").rglob("*.jpg"))
    if args.quick:
        bgs = bgs[:: max(1, len(bgs) // 20)][:20]
    out: dict = {}
    for name in names:
        det = build(name, args)
        res = {"groups": {}, "per_image": {}}
        scores = {g: Score() for g in GROUPS}
        total = Score()
        for img in tqdm(sorted(boxes), desc=f"{name} real-dev", leave=False):
            found = boxes_of(det.detect(load_rgb(data / "real-dev" / "images" / img)))
            res["per_image"][img] = found.round(1).tolist()
            for g, pred in GROUPS.items():
                if pred(img):
                    scores[g].add(found, boxes[img])
            total.add(found, boxes[img])
        res["groups"] = {g: vars(s) for g, s in scores.items()} | {"all real-dev": vars(total)}
        fp, any_fp = 0, 0
        for p in tqdm(bgs, desc=f"{name} backgrounds", leave=False):
            n = len(det.detect(load_rgb(p)))
            fp += n
            any_fp += n > 0
        res["backgrounds"] = {"images": len(bgs), "fp": fp, "images_with_fp": any_fp}
        small: dict[int, list[int]] = {}
        for h, rgb, box in tqdm(list(paste_people(data, args.heights, args.per_height)), desc=f"{name} small",
                                leave=False):
            found = boxes_of(det.detect(rgb))
            hit = bool(len(found)) and float(_iou_matrix(box[None], found).max()) >= 0.3
            small.setdefault(h, [0, 0])
            small[h][0] += hit
            small[h][1] += 1
        res["small_people"] = small
        if name.startswith("blazepose"):
            res["agreement_px"] = keypoint_agreement(det, data, recs, boxes)
        out[name] = res
    return out


def keypoint_agreement(det, data: Path, recs: dict, boxes: dict) -> dict:
    """Mean distance (px) of our COCO-17 keypoints to MediaPipe's own graph on the images where it found someone."""
    from pose_estimation_ros.perception.detectors.blazepose import BLAZEPOSE_TO_COCO17
    out = {}
    for name, r in recs.items():
        if not r.get("detected"):
            continue
        ref = np.asarray(r["lm2d"], np.float32)[BLAZEPOSE_TO_COCO17]
        ref_xy = ref[:, :2] * [r["width"], r["height"]]
        dets = [d for d in det.detect(load_rgb(data / "real-dev" / "images" / name)) if d.keypoints is not None]
        if not dets:
            out[name] = None
            continue
        errs = [np.linalg.norm(d.keypoints[:, :2] - ref_xy, axis=1) for d in dets]
        best = min(errs, key=lambda e: float(np.median(e)))
        vis = ref[:, 2] >= 0.5
        out[name] = round(float(np.mean(best[vis])), 1)
    return out


def load_renders(folder: Path, min_height: float = 24.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rendered multi-person scenes (``python -m training.render.make_shards --mode scenes``): per scene the RGB
    image and the full-body boxes ``(K, 4)`` of the people whose visible part is at least ``min_height`` px tall."""
    import io
    import tarfile
    import cv2
    out = []
    for shard in sorted(Path(folder).glob("shard-*.tar")):
        with tarfile.open(shard) as tf:
            members = {m.name: m for m in tf.getmembers()}
            for name in sorted(n for n in members if n.endswith(".jpg")):
                key = name[:-4]
                img = cv2.imdecode(np.frombuffer(tf.extractfile(members[name]).read(), np.uint8), cv2.IMREAD_COLOR)
                z = np.load(io.BytesIO(tf.extractfile(members[key + ".npz"]).read()))
                vis, full = z["boxes"], z["full_boxes"]
                keep = (vis[:, 3] - vis[:, 1]) >= min_height
                out.append((np.ascontiguousarray(img[:, :, ::-1]), full[keep].astype(np.float32)))
    if not out:
        raise SystemExit(f"no rendered scenes (shard-*.tar) in {folder}")
    return out


def render_accuracy(names: list[str], args: argparse.Namespace) -> dict:
    """Recall (IoU >= 0.3 with the full-body box), recall of people >= 100 px tall, FP per scene, on renders."""
    from tqdm import tqdm
    scenes = load_renders(Path(args.renders))
    out = {}
    for name in names:
        det = build(name, args)
        total, big = Score(), Score()
        for rgb, ref in tqdm(scenes, desc=f"{name} renders", leave=False):
            found = boxes_of(det.detect(rgb))
            total.add(found, ref)
            tall = ref[(ref[:, 3] - ref[:, 1]) >= 100]
            m = _iou_matrix(found, tall)
            big.gt += len(tall)
            big.tp30 += int(sum(m[:, j].max() >= 0.3 for j in range(len(tall)))) if len(found) else 0
        out[name] = {"scenes": len(scenes), "all": vars(total), "tall": vars(big)}
    return out


def render_table(res: dict) -> str:
    """Markdown table of `render_accuracy`."""
    lines = ["| detector | recall, renders (IoU≥0.3) | recall, people ≥ 100 px | FP / scene |", "|---|---|---|---|"]
    for name, r in res.items():
        a, t = r["all"], r["tall"]
        lines.append(f"| {name} | {a['tp30']}/{a['gt']} | {t['tp30']}/{t['gt']} | {a['fp30'] / r['scenes']:.2f} |")
    return "\n".join(lines)


def latency_child(name: str, threads: int, runs: int, yolo_model: str | None) -> None:
    """(In a subprocess whose thread env vars are set) print JSON {p50, p90} ms of detect() at 640x480."""
    import cv2
    ns = argparse.Namespace(yolo_model=yolo_model)
    cv2.setNumThreads(threads)
    det = build(name, ns, threads=threads)
    data = shared_data()
    rgb = cv2.resize(load_rgb(data / "real-dev" / "images" / "basketball2.png"), (640, 480))
    for _ in range(3):
        det.detect(rgb)
    t, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        det.detect(rgb)
        t.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    print(json.dumps({"p50": float(np.percentile(t, 50)), "p90": float(np.percentile(t, 90)),
                      "cpu_p50": float(np.percentile(cpu, 50)), "runs": runs, "load": os.getloadavg()[0]}))


def latency(names: list[str], args: argparse.Namespace) -> dict:
    """Latency per detector and thread count, each in a fresh process with OMP/OpenBLAS threads pinned."""
    out: dict = {}
    for name in names:
        for threads in (1, 2):
            env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
                       MKL_NUM_THREADS=str(threads))
            cmd = [sys.executable, "-m", "bench.detectors", "--latency-child", name, "--threads", str(threads),
                   "--runs", str(args.runs)] + (["--yolo-model", args.yolo_model] if args.yolo_model else [])
            p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            if p.returncode != 0:
                raise SystemExit(f"latency run failed for {name}: {p.stderr[-800:]}")
            out.setdefault(name, {})[threads] = json.loads(p.stdout.strip().splitlines()[-1])
    return out


def table(acc: dict, lat: dict, heights: list[int]) -> str:
    """Markdown tables of the results."""
    lines = ["| detector | " + " | ".join(f"recall {g}" for g in GROUPS) + " | recall all (IoU≥0.5) "
             "| FP / real photo | FP / empty scene (images with any) | CPU ms / frame | wall p50 ms 1 thr | wall p50 ms 2 thr |",
             "|---" * (len(GROUPS) + 7) + "|"]
    for name, r in acc.items():
        g = r["groups"]
        cells = [f"{g[k]['tp30']}/{g[k]['gt']}" for k in GROUPS]
        a = g["all real-dev"]
        b = r["backgrounds"]
        l1 = lat.get(name, {}).get(1, {}).get("p50")
        l2 = lat.get(name, {}).get(2, {}).get("p50")
        c1 = lat.get(name, {}).get(1, {}).get("cpu_p50")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {a['tp50']}/{a['gt']} | {a['fp30'] / a['images']:.2f} "
                     f"| {b['fp'] / b['images']:.2f} ({b['images_with_fp']}/{b['images']}) "
                     f"| {'-' if c1 is None else f'{c1:.1f}'} "
                     f"| {'-' if l1 is None else f'{l1:.1f}'} | {'-' if l2 is None else f'{l2:.1f}'} |")
    lines += ["", "| detector | " + " | ".join(f"found at {h} px tall" for h in heights) + " |",
              "|---" * (len(heights) + 1) + "|"]
    for name, r in acc.items():
        s = r["small_people"]
        lines.append(f"| {name} | " + " | ".join(f"{s[h][0]}/{s[h][1]}" for h in heights) + " |")
    loads = [v.get("load") for d in lat.values() for v in d.values() if v.get("load") is not None]
    if loads:
        lines += ["", f"CPU ms = process time of one detect() with 1 thread (what it costs a free core); wall times were "
                  f"taken with a 1-min load average of {min(loads):.1f}-{max(loads):.1f} on 2 cores."]
    agree = {n: r["agreement_px"] for n, r in acc.items() if "agreement_px" in r}
    if agree:
        lines += ["", "COCO-17 keypoints vs MediaPipe's own graph (mean px, visible joints): "
                  + "; ".join(f"{n}: {a}" for n, a in agree.items())]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detectors", default="blazepose,blazepose-mp,blazepose-t3,hog",
                    help="comma list; blazepose-mp = MediaPipe's one pass at 0.5; blazepose-tN = N x N tiles; "
                         "blazepose-nolm = no landmark model")
    ap.add_argument("--yolo-model", help="a YOLO .onnx file to add as yolo_onnx")
    ap.add_argument("--quick", action="store_true", help="20 background photos, 5 pasted people per height")
    ap.add_argument("--runs", type=int, default=30, help="timed detect() calls per latency cell")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--renders", help="folder of rendered scene shards: print only the renders table")
    ap.add_argument("--out", default=str(ROOT / "runs" / "detectors" / "results.json"))
    ap.add_argument("--latency-child", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.latency_child:
        latency_child(args.latency_child, args.threads, args.runs, args.yolo_model)
        return
    names = [n for n in args.detectors.split(",") if n]
    if args.yolo_model:
        names.append("yolo_onnx")
    args.heights = [60, 90, 130, 200, 300]
    args.per_height = 5 if args.quick else 12
    if args.quick:
        args.runs = min(args.runs, 10)
    if args.renders:
        res = render_accuracy(names, args)
        out = Path(args.out).with_name("renders.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(res, indent=1))
        print(render_table(res))
        return
    data = shared_data()
    acc = accuracy(names, args, data)
    lat = {} if args.no_latency else latency(names, args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"accuracy": acc, "latency": lat, "heights": args.heights}, indent=1))
    print(table(acc, lat, args.heights))


if __name__ == "__main__":
    main()
