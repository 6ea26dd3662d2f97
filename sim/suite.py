"""Run scenarios (one or a suite) with the real nodes or the ground-truth oracle and report them.

    python -m sim list
    python -m sim run walk_toward [--setting default] [--brain nodes|oracle] [--seed 0]
    python -m sim suite [--scenarios a,b,...] [--settings default,tight] [--brain nodes|oracle|both]

ROS nodes run inside ``scripts/netns_run.sh`` (``make sim`` does it). Results go to ``--out`` (default
``runs/sim``): ``results.json``, ``table.md``, one plot per run and ``suite.png``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .control_config import ZONE_SETTINGS, controller_config, zone_setting
from .metrics import RunMetrics, compute_metrics
from .motions import Motion, load_motion
from .render import CachedRenderer, camera_intrinsics, make_renderer
from .report import markdown_table, plot_run, plot_suite, save_json
from .robots import make_robot
from .scenarios import SCENARIOS, make_scenario
from .world import ClosedLoop, OracleBrain, Trace

BRAINS = ("nodes", "oracle")


def run_one(name: str, setting: str = "default", brain: str = "nodes", seed: int = 0,
            motions: dict[str, Motion] | None = None, frame_rate: float = 15.0, out: Path | None = None,
            per_frame_model: str = "", duration: float | None = None, progress: bool = True,
            renderer: str = "auto", renderers: dict | None = None,
            body_scale: str = "model") -> tuple[Trace, RunMetrics, str]:
    """One scenario run; returns (trace, metrics, sync note).

    ``body_scale``: perception's (``floor``: with the robot's camera mount above the sim's floor, ``z = 0`` of
    the base frame, as ``pose_estimation_ros.tools.floor_params`` derives it).

    ``renderers``: a dict kept across runs (by the suite): one renderer per (name, camera, seed), its frames
    cached (:class:`sim.render.CachedRenderer`), so runs that see the same scene render it once."""
    if brain not in BRAINS:
        raise KeyError(f"unknown brain '{brain}' (known: {', '.join(BRAINS)})")
    sc = make_scenario(name, seed, motions)
    if duration is not None:
        from dataclasses import replace
        sc = replace(sc, duration=float(duration))
    robot = make_robot(sc.robot)
    mode = "arm" if robot.kind == "arm" else "vehicle"
    overrides = zone_setting(setting, mode)
    cfg = controller_config(robot.zones_file, overrides)
    if brain == "nodes" and renderers is not None:
        cam = robot.camera
        key = (renderer, cam.width, cam.height, cam.hfov_deg, seed)      # as _renderer_key
        if key not in renderers:
            renderers[key] = CachedRenderer(make_renderer(renderer, camera_intrinsics(cam.width, cam.height,
                                                                                      cam.hfov_deg), seed))
        renderer = renderers[key]
    loop = ClosedLoop(sc, robot=robot, renderer=renderer, seed=seed, frame_rate=frame_rate,
                      actuation_delay=cfg.ssm.reaction_time, render=brain == "nodes")
    note = ""
    if brain == "oracle":
        trace = loop.run(OracleBrain(cfg, frame_rate=frame_rate))
    else:
        from .ros_driver import NodeBrain
        nb = NodeBrain(robot, overrides, frame_rate, per_frame_model,
                       log_dir=(out / "logs" / f"{name}_{setting}") if out else None,
                       perception_sets=perception_body_scale(robot, body_scale))
        try:
            trace = _run_with_progress(loop, nb, progress, f"{name} ({setting})")
        finally:
            nb.stop()
        note = nb.report()
    m = compute_metrics(trace, sc, robot, cfg, setting, brain)
    if out is not None:
        plot_run(trace, m, out / f"{name}_{setting}_{brain}.png")
        import numpy as np
        np.savez_compressed(out / f"{name}_{setting}_{brain}_trace.npz", **trace.arrays())
    return trace, m, note


def perception_body_scale(robot, body_scale: str) -> dict[str, str]:
    """Perception parameters for ``body_scale`` on ``robot`` (floor: its camera's height and tilt above z = 0)."""
    if body_scale == "model":
        return {}
    sets = {"body_scale": body_scale}
    if body_scale == "floor":
        from pose_estimation_ros.perception.floor import floor_from_mount
        sets.update({f"floor.{k}": f"{v:.6f}" for k, v in floor_from_mount(robot.camera.base_from_camera()).items()})
    return sets


def _run_with_progress(loop: ClosedLoop, brain, progress: bool, label: str) -> Trace:
    from tqdm import tqdm
    with tqdm(total=loop.num_frames, desc=label, unit="frame", disable=not progress, leave=False) as bar:
        return loop.run(brain, progress=bar.update)


@dataclass(frozen=True)
class _RunSpec:
    """What every run of one suite shares (picklable: handed to worker processes)."""

    seed: int
    mocap: str
    frame_rate: float
    out: Path | None
    per_frame_model: str
    duration: float | None
    renderer: str
    body_scale: str = "model"


_WORKER: dict = {"renderers": {}, "motions": {}}     # per process: renderers (frame caches) and motions


def _init_worker(counter, base_domain: int) -> None:
    """A suite worker: a ROS domain of its own (its nodes and its driver never see another worker's)."""
    with counter.get_lock():
        counter.value += 1
        k = counter.value
    os.environ["ROS_DOMAIN_ID"] = str(1 + (base_domain + k) % 200)


def _frames(name: str, spec: _RunSpec) -> float:
    return (spec.duration or make_scenario(name).duration) * spec.frame_rate


def _run_group(items: list[tuple[int, tuple[str, str, str]]], spec: _RunSpec,
               progress: bool) -> dict[int, tuple[Trace, RunMetrics]]:
    """Run jobs ``(index, (scenario, setting, brain))`` one after the other in this process; prints a line each."""
    if spec.mocap not in _WORKER["motions"]:
        _WORKER["motions"][spec.mocap] = default_motions(spec.mocap)
    motions = _WORKER["motions"][spec.mocap]
    done = {}
    for i, (n, s, b) in items:
        t0 = time.monotonic()
        trace, m, note = run_one(n, s, b, spec.seed, motions, spec.frame_rate, spec.out, spec.per_frame_model,
                                 spec.duration, progress, spec.renderer, _WORKER["renderers"], spec.body_scale)
        done[i] = (trace, m)
        cache = _WORKER["renderers"].get(_renderer_key(n, spec))
        print(f"[sim] {n} / {s} / {b}: {m.frames} frames in {time.monotonic() - t0:.1f} s"
              + (f"; {note}" if note else "")
              + (f"; {cache.hits} of {cache.hits + cache.misses} frames rendered so far from the cache"
                 if b == "nodes" and cache is not None and cache.hits else ""), flush=True)
    return done


def _renderer_key(name: str, spec: _RunSpec) -> tuple:
    cam = make_robot(make_scenario(name).robot).camera
    return (spec.renderer, cam.width, cam.height, cam.hfov_deg, spec.seed)


def default_motions(mocap: str | None) -> dict[str, Motion]:
    """{'walk': the mocap walk} when ``mocap`` names a clip (``auto``: CMU 12_01, a steady walk, from the shared
    data if present; 131_01's capture imports as a crouched walk, so it is not used)."""
    if not mocap or mocap == "none":
        return {}
    if mocap == "auto":
        import os
        for base in filter(None, [os.environ.get("POSE_SHARED_DATA"), "../shared/data", "/work/shared/data"]):
            p = Path(base) / "cmu-more" / "12_01.bvh"
            if p.is_file():
                return {"walk": load_motion(p, fps=30.0)}
        return {}
    return {"walk": load_motion(mocap, fps=30.0)}


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m sim", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list scenarios and zone settings")
    for name in ("run", "suite"):
        p = sub.add_parser(name)
        if name == "run":
            p.add_argument("scenario")
            p.add_argument("--setting", default="default")
            p.add_argument("--brain", default="nodes", choices=BRAINS)
            p.add_argument("--duration", type=float, default=None, help="override the scenario's duration (s)")
        else:
            p.add_argument("--scenarios", default=",".join(SCENARIOS))
            p.add_argument("--settings", default="default")
            p.add_argument("--compare-settings", default="tight,wide",
                           help="extra settings run on --compare-scenarios")
            p.add_argument("--compare-scenarios", default="walk_toward,person_far")
            p.add_argument("--brain", default="both", choices=BRAINS + ("both",),
                           help="nodes: real perception + controller; oracle: safety core on ground truth; both")
            p.add_argument("--plot", type=Path, default=None, help="also write the suite figure here")
            p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                           help="worker processes for the node runs (default: 2 where the CPU has 2 cores); 1 = "
                                "one after the other in this process, with a progress bar per run")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--frame-rate", type=float, default=15.0)
        p.add_argument("--per-frame-model", default="", help="per-frame ONNX model ('' = packaged default)")
        p.add_argument("--body-scale", default="model", choices=("model", "neutral", "floor"),
                       help="perception's body_scale (floor: the robot's camera mount above the sim's floor)")
        p.add_argument("--mocap", default="auto",
                       help="walk clip: .npz/.bvh path, 'auto' (CMU 12_01 from the shared data if present), 'none'")
        p.add_argument("--renderer", default="auto", help="auto | mesh | procedural (see sim/render.py)")
        p.add_argument("--out", type=Path, default=Path("runs/sim"))
        p.add_argument("--no-progress", action="store_true")
        p.add_argument("--strict", action="store_true", help="exit 1 when a goal is not met")
    return ap


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if a.command == "list":
        for n in SCENARIOS:
            sc = make_scenario(n)
            print(f"{n:16s} {sc.robot:12s} {sc.description}")
        print("zone settings:", ", ".join(f"{k} {v or '(config files as they are)'}" for k, v in ZONE_SETTINGS.items()))
        return 0
    try:
        motions = default_motions(a.mocap)
        if a.command == "run":
            jobs = [(a.scenario, a.setting, a.brain)]
        else:
            names = [s for s in a.scenarios.split(",") if s]
            brains = BRAINS if a.brain == "both" else (a.brain,)
            jobs = [(n, s, b) for b in brains for s in a.settings.split(",") if s for n in names]
            extra = [s for s in a.compare_settings.split(",") if s]
            jobs += [(n, s, b) for b in brains for s in extra for n in a.compare_scenarios.split(",") if n]
        for n, s, _ in jobs:     # bad names fail before anything starts
            make_scenario(n)
            zone_setting(s, "vehicle")
    except (KeyError, ValueError) as e:
        print(f"[sim] ERROR: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    start = time.monotonic()
    # Runs of one scenario back to back (they share rendered frames while their paths agree), node groups
    # spread over ``--jobs`` worker processes (each with its own ROS domain), longest first; the table keeps
    # the jobs' order. Every run starts its own nodes, so the results do not depend on the grouping.
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (n, _, b) in enumerate(jobs):
        groups.setdefault((b, n), []).append(i)
    spec = _RunSpec(a.seed, a.mocap, a.frame_rate, a.out, a.per_frame_model, getattr(a, "duration", None),
                    a.renderer, a.body_scale)
    node_groups = sorted((g for (b, _), g in groups.items() if b == "nodes"),
                         key=lambda g: -sum(_frames(jobs[i][0], spec) for i in g))
    other_groups = [g for (b, _), g in groups.items() if b != "nodes"]
    done: dict[int, tuple[Trace, RunMetrics]] = {}
    workers = max(1, min(int(getattr(a, "jobs", 1)), len(node_groups)))
    if workers > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        ctx = mp.get_context("spawn")
        counter = ctx.Value("i", 0)
        base = int(os.environ.get("ROS_DOMAIN_ID", "0") or 0)
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(counter, base)) as ex:
            futures = [ex.submit(_run_group, [(i, jobs[i]) for i in g], spec, False) for g in node_groups]
            for g in other_groups:           # ground-truth runs here meanwhile (no ROS, no rendering)
                done.update(_run_group([(i, jobs[i]) for i in g], spec, False))
            for f in futures:
                done.update(f.result())
    else:
        for g in node_groups + other_groups:
            done.update(_run_group([(i, jobs[i]) for i in g], spec, not a.no_progress))
    runs = [done[i] for i in range(len(jobs))]
    results = [m for _, m in runs]
    table = markdown_table(results)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "table.md").write_text(table + "\n")
    save_json(results, a.out / "results.json")
    plot_suite(runs, a.out / "suite.png")
    if getattr(a, "plot", None):
        plot_suite([r for r in runs if r[1].setting == "default"] or runs, a.plot)
    walk = motions.get("walk")
    print(f"\nwalk motion: {getattr(walk, 'name', 'procedural')}; frames {a.frame_rate:g} Hz; "
          f"{workers} worker process{'es' if workers > 1 else ''}; total {time.monotonic() - start:.0f} s\n")
    print(table)
    met = sum(m.goals_met for m in results)
    print(f"\ngoals met in {met} of {len(results)} runs" + ("" if met == len(results) else
          " (see docs/simulation.md for what each goal means)"))
    return 0 if met == len(results) or not a.strict else 1
