"""The rendered sequences the perception benchmarks run on: how each is made, and loading one into memory.

    SEQUENCES["p3"]        # make_sequence arguments of the 3-person scene
    ensure_sequence("p3")  # renders runs/bench_scenes/p3 once (python -m training.render.make_sequence), then reuses it
    seq = load_sequence("runs/bench_scenes/p3")   # frames (T, H, W, 3) uint8 RGB, ground truth, intrinsics, fps

Each sequence is rendered by the project's renderer (textured Anny people, exact ground truth) from CMU motion
capture in ``runs/render_motion``; clips missing there are imported first from the shared data
(``python -m training.mocap_cli import-mocap <shared>/<file> --out runs/render_motion --body skeleton --fps 30``,
~10-20 s each). ~1 MB per sequence, kept under ``runs/`` (git-ignored).
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCENES_DIR = ROOT / "runs" / "bench_scenes"
MOTION_DIR = ROOT / "runs" / "render_motion"
# clip -> its motion-capture file under the shared data folder
MOTION_FILES = {"131_01": "cmu/131_01.bvh", "131_02": "cmu/131_02.bvh", "131_03": "cmu/131_03.bvh",
                "01_01": "cmu-cc/001_01.bvh", "03_01": "cmu-cc/003_01.bvh", "05_01": "cmu-cc/005_01.bvh"}
# name -> make_sequence arguments (static camera 640x480, 60 deg, 30 fps, textures from the shared data).
SEQUENCES: dict[str, list[str]] = {
    "p1": ["--clips", "131_02", "--max-frames", "90", "--seed", "2"],
    "p3": ["--clips", "131_01,131_02,131_03", "--max-frames", "90", "--seed", "3"],
    "p5": ["--clips", "131_01,131_02,131_03,03_01,01_01", "--max-frames", "90", "--distance", "6", "--seed", "4"],
    # one person walking towards the camera, 7.2 m -> 2.8 m in 5 s (the position-jitter benchmark)
    "walk": ["--clips", "05_01", "--max-frames", "150", "--seed", "1"],
}


@dataclass
class Sequence:
    """A rendered sequence in memory.

    Attributes:
        frames: (T, H, W, 3) uint8 RGB. joints3d: (T, P, 24, 3) metres, camera frame. boxes: (T, P, 4) xyxy px of
        the visible silhouette. K: (3, 3). fps: frames per second. name: folder name. camera_R, camera_t:
        (T, 3, 3), (T, 3) world -> camera extrinsics (world y up, floor y = 0), None in files without them.
    """

    frames: np.ndarray
    joints3d: np.ndarray
    boxes: np.ndarray
    K: np.ndarray
    fps: float
    name: str
    camera_R: np.ndarray | None = None
    camera_t: np.ndarray | None = None

    @property
    def people(self) -> int:
        return int(self.joints3d.shape[1])


def make_command(name: str, out: Path, motion: str | Path = MOTION_DIR) -> list[str]:
    """The ``make_sequence`` command line that renders sequence ``name`` into ``out``."""
    if name not in SEQUENCES:
        raise ValueError(f"unknown bench sequence {name!r}; choices: {', '.join(SEQUENCES)}")
    return [sys.executable, "-m", "training.render.make_sequence", "--out", str(out), "--motion", str(motion),
            "--shared", *SEQUENCES[name]]


def clips_of(name: str) -> list[str]:
    """Motion clips sequence ``name`` renders."""
    args = SEQUENCES[name]
    return args[args.index("--clips") + 1].split(",")


def ensure_motion(clips: list[str], motion: Path = MOTION_DIR) -> None:
    """Import the clips missing from ``motion`` (``<motion>/<subject>/<clip>.npz``) from the shared data folder."""
    missing = [c for c in clips if not (Path(motion) / c.split("_")[0] / f"{c}.npz").is_file()]
    if not missing:
        return
    from training.render.make_shards import shared_data_dir
    shared = shared_data_dir()
    if shared is None:
        raise FileNotFoundError(f"motion clips {missing} are not in {motion} and no shared data folder was found "
                                "($POSE_SHARED_DATA, ../shared/data, /work/shared/data) to import them from")
    files = [str(shared / MOTION_FILES[c]) for c in missing]
    cmd = [sys.executable, "-m", "training.mocap_cli", "import-mocap", *files, "--out", str(motion), "--body",
           "skeleton", "--fps", "30"]
    print("importing motion:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def ensure_sequence(name: str, root: Path = SCENES_DIR, motion: Path = MOTION_DIR) -> Path:
    """``root/name``, rendered first (a minute or two of CPU, importing its motion clips if needed) when it holds
    no finished sequence."""
    out = Path(root) / name
    if not (out / "meta.json").is_file():
        ensure_motion(clips_of(name), motion)
        cmd = make_command(name, out, motion)
        print("rendering:", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    return out


def load_sequence(folder: str | Path) -> Sequence:
    """Decode ``folder/video.mp4`` (or ``frames/*.jpg``) and ``ground_truth.npz`` written by ``make_sequence``."""
    import cv2

    folder = Path(folder)
    gt_path = folder / "ground_truth.npz"
    if not gt_path.is_file():
        raise FileNotFoundError(f"{gt_path} missing: not a make_sequence output")
    frames = []
    if (folder / "video.mp4").is_file():
        cap = cv2.VideoCapture(str(folder / "video.mp4"))
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            frames.append(np.ascontiguousarray(bgr[..., ::-1]))
        cap.release()
    else:
        for p in sorted((folder / "frames").glob("*.jpg")):
            frames.append(np.ascontiguousarray(cv2.imread(str(p))[..., ::-1]))
    gt = np.load(gt_path)
    n = min(len(frames), len(gt["joints3d"]))
    if n == 0:
        raise ValueError(f"{folder}: no frames decoded")
    cams = (gt["camera_R"][:n], gt["camera_t"][:n]) if "camera_R" in gt.files else (None, None)
    return Sequence(np.stack(frames[:n]), gt["joints3d"][:n], gt["boxes"][:n], gt["K"], float(gt["fps"]), folder.name,
                    *cams)
