"""Renderer throughput: images per second at 224^2 and 512^2 with 1 and 2 processes (or more).

    python -m bench.render_throughput [--sizes 224,512] [--procs 1,2] [--n 30] [--shared]
                                      [--require-gpu] [--batch 16]

Two numbers per row, each process rendering back to back (the processes run concurrently and
their rates are summed):

* ``samples/s``: the whole training sample (:meth:`training.render.sampler.SampleGenerator.sample`:
  pose, Anny mesh, outfit texture, camera, background photo or room, GL draw, compositing, occluders,
  noise/blur/JPEG, visibility), what ``RenderDataset`` workers deliver;
* ``draw/s``: GL only, a posed Anny mesh with new vertices every frame drawn and read back
  (colour + depth/id/part), the quantity the set-up probes measured.

``CPU s per sample`` is the process's CPU time per full sample (llvmpipe's thread included): on an
idle core the full pipeline runs at about its inverse. ``--batch B`` poses B bodies per body-model
call, as ``RenderDataset`` does per ``DataLoader`` batch. Each process has its own EGL context and ``LP_NUM_THREADS=1`` (llvmpipe); ``--require-gpu``
refuses a software renderer (GPU machine). ``GL_RENDERER`` is printed with the table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def child(size: int, n: int, shared: bool, require_gpu: bool, start_at: float, batch: int = 1) -> dict:
    os.environ.setdefault("LP_NUM_THREADS", "1")
    import numpy as np
    import torch
    torch.set_num_threads(1)
    from training.render.gl import gl_info
    from training.render.make_shards import shared_data_dir
    from training.render.rasterizer import Light
    from training.render.renderer import PersonState, get_renderer
    from training.render.sampler import RenderConfig, SampleGenerator

    d = shared_data_dir() if shared else None
    motion = next((m for m in ("runs/render_motion", "data/motion") if os.path.isdir(m)), None)
    cfg = RenderConfig(size=size, motion_dir=motion, random_poses=motion is None,
                       textures_dir=str(d / "textures") if d else None,
                       backgrounds_dir=str(d / "backgrounds") if d else None)
    r = get_renderer("anny", cfg.atlas_size, require_gpu)
    gen = SampleGenerator(cfg, seed=os.getpid() % 1000, renderer=r)
    for i in range(3):
        gen.sample(i)
    # Draw-only: posed body, vertices changed every frame.
    s = gen.sample(0)
    tex = gen.appearance.paint(gen.appearance.sample(np.random.default_rng(0)), np.random.default_rng(0))
    posed = r.pose([PersonState(s["rotmats"], s["shape"], s["transl"], tex)])
    K = s["K"].astype(np.float64)
    light = Light()
    while time.time() < start_at:          # start together with the sibling processes
        time.sleep(0.01)
    t0 = time.perf_counter()
    for i in range(n):
        posed.vertices[0] += 1e-4
        r.draw(posed, [tex], K, size, size, light)
    draw = n / (time.perf_counter() - t0)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, n, batch):
        gen.sample_many(list(range(100 + i, 100 + min(i + batch, n))))
    full = n / (time.perf_counter() - t0)
    cpu = (time.process_time() - c0) / n
    return {"draw": draw, "full": full, "cpu": cpu, "renderer": gl_info(r.ctx).renderer}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.render_throughput", description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="224,512")
    ap.add_argument("--procs", default="1,2")
    ap.add_argument("--n", type=int, default=30, help="images per process and measurement")
    ap.add_argument("--shared", action="store_true", help="textures/backgrounds from the shared data folder")
    ap.add_argument("--require-gpu", action="store_true")
    ap.add_argument("--batch", type=int, default=1, help="samples posed per body-model call (RenderDataset: "
                    "the DataLoader batch)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        size, start = a.child.split(":")
        print("RESULT " + json.dumps(child(int(size), a.n, a.shared, a.require_gpu, float(start), a.batch)),
              flush=True)
        return 0
    rows = []
    renderer = "?"
    for size in [int(x) for x in a.sizes.split(",")]:
        for procs in [int(x) for x in a.procs.split(",")]:
            start = time.time() + 60.0 + 5.0 * procs            # time to load Anny in every process
            cmd = [sys.executable, "-m", "bench.render_throughput", "--child", f"{size}:{start}", "--n", str(a.n),
                   "--batch", str(a.batch)]
            cmd += ["--shared"] if a.shared else []
            cmd += ["--require-gpu"] if a.require_gpu else []
            env = dict(os.environ, LP_NUM_THREADS="1", OMP_NUM_THREADS="1")
            ps = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                  for _ in range(procs)]
            res = []
            for p in ps:
                out, err = p.communicate()
                got = [json.loads(line[7:]) for line in out.splitlines() if line.startswith("RESULT ")]
                if not got:
                    print(f"size {size}: a process failed (exit {p.returncode}):\n{err[-2000:]}", file=sys.stderr)
                res += got
            if len(res) != procs:
                return 1
            renderer = res[0]["renderer"]
            rows.append((size, procs, sum(x["full"] for x in res), sum(x["draw"] for x in res),
                         sum(x["cpu"] for x in res) / len(res)))
            print(f"  {size}^2 x {procs}: {rows[-1][2]:.1f} samples/s, {rows[-1][3]:.1f} draw/s", file=sys.stderr)
    print(f"\nGL_RENDERER: {renderer}; CPU cores: {os.cpu_count()}; load average: "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"batch {a.batch}")
    print("| size | processes | samples/s (full pipeline) | draw/s (GL only) | CPU s per sample |")
    print("|---|---|---|---|---|")
    for size, procs, full, draw, cpu in rows:
        print(f"| {size}x{size} | {procs} | {full:.1f} | {draw:.1f} | {cpu:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
