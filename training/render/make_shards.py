"""Write a rendered dataset to disk as WebDataset-style tar shards, with a contact sheet.

    python -m training.render.make_shards --out runs/render/train --num 10000 [--seed 0] [--size 224]
        [--camera seed|robot] [--upper-body-rate 0.2] [--textures DIR] [--backgrounds DIR]
        [--split train|heldout] [--motion DIR | --random-poses] [--mode crops|scenes|refit --fits FITS.npz]
        [--workers 2] [--shard-size 1000] [--format jpg|png] [--contact-sheet PATH] [--shared]
        [--body anny|smpl --uv-file UVS.npz]

Sample ``i`` depends only on ``(seed, i, configuration)``: the same command gives the same shards
with any number of workers. ``--shared`` takes textures and backgrounds from the project's shared
data folder (``$POSE_SHARED_DATA``, ``../shared/data``, ``/work/shared/data``); without folders the
procedural built-ins are used. Each worker is a separate process with its own GL context
(``LP_NUM_THREADS=1``). See ``docs/renderer.md``.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

from tqdm import tqdm

__all__ = ["main", "shared_data_dir", "build_config"]

_STATE: dict = {}


def shared_data_dir() -> Path | None:
    """The shared data folder ($POSE_SHARED_DATA, ../shared/data, /work/shared/data), or None."""
    root = Path(__file__).resolve().parents[2]
    for c in (os.environ.get("POSE_SHARED_DATA"), root.parent / "shared" / "data", "/work/shared/data"):
        if c and Path(c).is_dir():
            return Path(c)
    return None


def build_config(args) -> "RenderConfig":  # noqa: F821
    from training.render.sampler import RenderConfig
    tex, bg = args.textures, args.backgrounds
    if args.shared:
        d = shared_data_dir()
        if d is None:
            raise SystemExit("--shared: no shared data folder found ($POSE_SHARED_DATA, ../shared/data)")
        tex = tex or str(d / "textures")
        bg = bg or str(d / "backgrounds")
    return RenderConfig(size=args.size, body=args.body, uv_file=args.uv_file, camera=args.camera,
                        upper_body_rate=args.upper_body_rate,
                        motion_dir=args.motion, random_poses=args.random_poses, textures_dir=tex,
                        backgrounds_dir=bg, split=args.split, supersample=args.supersample)


def check_inputs(cfg, fits: str | None = None) -> None:
    """Fail at start (in the parent, before any worker) on an empty/missing folder, no motion, a bad
    fits file, no GL."""
    from training.render.gl import create_context
    from training.render.images import ImageLibrary
    from training.render.poses import make_pose_source
    for d, name in ((cfg.textures_dir, "texture"), (cfg.backgrounds_dir, "background")):
        if d:
            ImageLibrary(d, cfg.heldout_fraction, name=name)
    make_pose_source(cfg.motion_dir, cfg.random_poses, cfg.split, body=cfg.body)
    if fits:
        from training.render.refit import load_fits
        load_fits(fits)
    create_context().release()


def _init(cfg_dict: dict, seed: int, mode: str, fits: str | None, fmt: str) -> None:
    os.environ["LP_NUM_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch
    torch.set_num_threads(1)
    from training.render.sampler import RenderConfig, SampleGenerator
    gen = SampleGenerator(RenderConfig(**cfg_dict), seed)
    _STATE.update(gen=gen, mode=mode, fmt=fmt)
    if mode == "scenes":
        from training.render.scenes import SceneRenderer
        _STATE["scenes"] = SceneRenderer(gen)
    elif mode == "refit":
        from training.render.refit import RefitRenderer, load_fits
        _STATE["refit"] = RefitRenderer(gen, load_fits(fits))


def _render(i: int):
    from training.render.shards import encode_sample
    mode = _STATE["mode"]
    if mode == "crops":
        s = _STATE["gen"].sample(i)
    elif mode == "scenes":
        s = _STATE["scenes"].scene(i)
    else:
        r = _STATE["refit"]
        s = r.sample(i % len(r), variant=i // len(r))
    thumb = None
    if "joints2d" in s and s["joints2d"].ndim == 2:
        thumb = {k: s[k] for k in ("image", "joints2d", "visibility", "upper_body")}
    return i, encode_sample(s, _STATE["fmt"]), thumb


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m training.render.make_shards", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder (shards, dataset.json, contact_sheet.png)")
    ap.add_argument("--num", type=int, default=1000, help="number of samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=224, help="crop side in pixels")
    ap.add_argument("--camera", default="seed", help="camera preset: seed | robot")
    ap.add_argument("--body", default="anny", help="body model (anny; smpl with --uv-file and $SMPL_MODEL_PATH)")
    ap.add_argument("--uv-file", default=None, help="per-corner UVs (F, 3, 2) .npz/.npy for a body without UVs")
    ap.add_argument("--upper-body-rate", type=float, default=0.2)
    ap.add_argument("--textures", default=None, help="folder of fabric/material images")
    ap.add_argument("--backgrounds", default=None, help="folder of background photos")
    ap.add_argument("--shared", action="store_true", help="use the shared data textures/backgrounds")
    ap.add_argument("--split", default="train", choices=("train", "heldout", "all"))
    ap.add_argument("--motion", default=None, help="folder of canonical motion .npz (default runs/render_motion)")
    ap.add_argument("--random-poses", action="store_true", help="random plausible poses instead of motion capture")
    ap.add_argument("--mode", default="crops", choices=("crops", "scenes", "refit"))
    ap.add_argument("--fits", default=None, help="SPIN/EFT-style fits .npz (mode refit)")
    ap.add_argument("--workers", type=int, default=1, help="render processes")
    ap.add_argument("--shard-size", type=int, default=1000)
    ap.add_argument("--format", default="jpg", choices=("jpg", "png"))
    ap.add_argument("--supersample", type=int, default=1, help="anti-aliasing factor")
    ap.add_argument("--contact-sheet", default=None, help="PNG path (default OUT/contact_sheet.png); '' = none")
    ap.add_argument("--sheet-count", type=int, default=64)
    a = ap.parse_args(argv)
    if a.num <= 0:
        ap.error("--num must be > 0")
    if a.workers <= 0:
        ap.error("--workers must be > 0")
    if a.mode == "refit" and not a.fits:
        ap.error("--mode refit needs --fits FILE.npz")
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    from training.render.shards import ShardWriter, contact_sheet
    try:
        cfg = build_config(args)
    except ValueError as e:
        print(f"make_shards: {e}", file=sys.stderr)
        return 2
    try:
        check_inputs(cfg, args.fits if args.mode == "refit" else None)
    except (ValueError, RuntimeError) as e:      # GLUnavailableError is a RuntimeError
        print(f"make_shards: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    cfg_dict = cfg.to_dict()
    t0 = time.time()
    thumbs: list = []
    init = (cfg_dict, args.seed, args.mode, args.fits, args.format)
    try:
        if args.workers == 1:
            _init(*init)
            results = map(_render, range(args.num))
            pool = None
        else:
            pool = mp.get_context("spawn").Pool(args.workers, initializer=_init, initargs=init)
            results = pool.imap(_render, range(args.num), chunksize=4)
        with ShardWriter(out, args.shard_size) as w:
            for i, files, thumb in tqdm(results, total=args.num, desc="render", unit="img"):
                w.write(f"{i:08d}", files)
                if thumb is not None and len(thumbs) < args.sheet_count:
                    thumbs.append(thumb)
        if pool is not None:
            pool.close()
            pool.join()
    except (ValueError, RuntimeError) as e:
        print(f"make_shards: {e}", file=sys.stderr)
        return 2
    dt = time.time() - t0
    gen = _STATE.get("gen")
    if gen is None:      # workers only: build the split record here (cheap: no GL needed for the lists)
        from training.render.images import ImageLibrary
        rec = {k: (ImageLibrary(d, cfg.heldout_fraction, name=k).splits() if d else "procedural")
               for k, d in (("textures", cfg.textures_dir), ("backgrounds", cfg.backgrounds_dir))}
    else:
        rec = gen.split_record()
    info = {"format": "pose_estimation_ros.render.shards.v1", "mode": args.mode, "seed": args.seed,
            "num": args.num, "shards": w.shards, "config": cfg_dict, "splits": rec,
            "seconds": round(dt, 1), "images_per_s": round(args.num / dt, 2), "workers": args.workers}
    (out / "dataset.json").write_text(json.dumps(info, indent=1))
    sheet = args.contact_sheet if args.contact_sheet is not None else str(out / "contact_sheet.png")
    if sheet and thumbs:
        contact_sheet(thumbs, sheet)
        print(f"contact sheet: {sheet}")
    print(f"{args.num} samples in {len(w.shards)} shard(s) -> {out} ({dt:.1f} s, {args.num / dt:.1f} img/s, "
          f"{args.workers} worker(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
