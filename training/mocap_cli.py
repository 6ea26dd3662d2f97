"""Motion-capture command line: import to the canonical format, inspect, render a preview.

    python -m training.mocap_cli import-mocap SRC... --out DIR [--fps 30] [--format auto|bvh|amc|amass|points]
                                              [--body skeleton] [--iters 200] [--units U] [--up AXIS]
                                              [--joint-map NAME|FILE.yaml|FILE.json] [--asf FILE] [--subject ID]
                                              [--overwrite] [--test-subjects ID...] [--val-subjects ID...]
    python -m training.mocap_cli inspect-mocap DIR
    python -m training.mocap_cli render-skeleton FILE.npz --out preview.mp4|preview.gif [--size 480]

``import-mocap`` takes files or folders (searched recursively for .bvh, .amc, .npz, .csv, .c3d), writes
``DIR/<subject>/<sequence>.npz`` (:class:`training.data.motion.MotionSequence`), prints per clip the
joint map used, the fitting error (mean / p95 / worst joint, mm) and its warnings (bound broken, sides
swapped, non-rigid segments), and writes ``import_summary.json`` and the subject-wise ``splits.json``
in ``DIR``. An existing output is never overwritten silently: it is kept (rerunning resumes) unless
``--overwrite``; two sources with the same subject/sequence in one run get distinct names (the second
is suffixed with its folder) and a warning.
See ``docs/motion_capture.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from training.data.motion import FORMAT, MotionSequence

EXTS = (".bvh", ".amc", ".npz", ".csv", ".c3d")


def make_body(name: str):
    """Body model by registry name (``skeleton`` needs nothing else)."""
    try:
        from training.body.registry import make_body_model
    except ImportError:
        if name != "skeleton":
            raise SystemExit(f"body model {name!r} needs training.body.registry")
        from training.body.base import SkeletonBody
        return SkeletonBody()
    return make_body_model(name)


def detect_format(path: Path) -> str | None:
    """"bvh" | "amass" | "points" | "motion" (already canonical) | None (not a mocap file)."""
    ext = path.suffix.lower()
    if ext == ".bvh":
        return "bvh"
    if ext == ".amc":
        return "amc"
    if ext in (".csv", ".c3d", ".tsv"):
        return "points"
    if ext == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                files = z.files
                if "format" in files and str(z["format"]) == FORMAT:
                    return "motion"
        except Exception:  # noqa: BLE001
            return None
        if "poses" in files and "trans" in files:
            return "amass"
        if any(k in files for k in ("positions", "joints", "points")):
            return "points"
    return None


def collect(srcs: list[str]) -> list[Path]:
    out: list[Path] = []
    for s in srcs:
        p = Path(s)
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in EXTS and f.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise SystemExit(f"no such file or folder: {p}")
    return out


def import_file(path: Path, fmt: str, body, fps: float | None, iters: int, units, up, joint_map,
                subject: str | None, progress=None, asf: str | None = None) -> MotionSequence:
    kw = dict(body=body, fps=fps, iters=iters, subject=subject, progress=progress)
    if fmt == "bvh":
        from training.data.retarget import retarget_bvh
        return retarget_bvh(path, joint_map=joint_map or "auto", units=units, up=up or "y", **kw)
    if fmt == "amc":
        from training.data.asf_amc import read_asf_amc
        from training.data.retarget import retarget_skeleton
        return retarget_skeleton(read_asf_amc(path, asf=asf), joint_map=joint_map or "auto", units=units,
                                 up=up or "y", **kw)
    if fmt == "amass":
        from training.data.amass import import_amass
        return import_amass(path, up=up or "z", **kw)
    if fmt == "points":
        from training.data.points import import_points
        return import_points(path, joint_map=joint_map or "auto", units=units or "auto", up=up or "auto", **kw)
    raise ValueError(f"{path}: unknown format {fmt!r}")


def _rig(row: dict) -> str:
    """Rig label of an import row: the joint map, plus 'amc' for ASF/AMC sources."""
    return ("asf/amc" if row.get("format") == "amc" else str(row.get("joint_map") or row.get("format")))


def make_splits(rows: list[dict], test: list[str] | None, val: list[str] | None, seed: int = 0) -> dict:
    """Subject-wise splits of imported clips, recorded per rig.

    Explicit ``test`` / ``val`` subject lists win; otherwise per rig: a rig with a single subject is
    held out entirely (test) when another rig has >= 3 subjects, else each rig's subjects are split
    with :func:`training.data.dataset.split_sequences` fractions (val 0.15, test 0.2, at least one
    each once a rig has 3 subjects). A subject never lands in two splits.
    """
    from training.posebert.data import same_subject
    by_rig: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_rig[_rig(r)].add(r["subject"])
    subjects = sorted({r["subject"] for r in rows})
    assign: dict[str, str] = {}
    if test is not None or val is not None:
        for s_ in subjects:
            assign[s_] = ("test" if any(same_subject(s_, x) for x in test or []) else
                          "val" if any(same_subject(s_, x) for x in val or []) else "train")
    else:
        big = any(len(v) >= 3 for v in by_rig.values())
        rng = np.random.default_rng(seed)
        for rig in sorted(by_rig):
            ss = sorted(by_rig[rig] - set(assign))
            if not ss:
                continue
            if len(ss) < 3:
                for s_ in ss:
                    assign[s_] = "test" if big and len(ss) == 1 else "train"
                continue
            order = [ss[k] for k in rng.permutation(len(ss))]
            n_test, n_val = max(1, round(0.2 * len(ss))), max(1, round(0.15 * len(ss)))
            for k, s_ in enumerate(order):
                assign[s_] = "test" if k < n_test else "val" if k < n_test + n_val else "train"
    out = {"by": "subject", **{k: sorted(s_ for s_, v in assign.items() if v == k) for k in ("train", "val", "test")},
           "rigs": {}}
    for rig in sorted(by_rig):
        clips = [r for r in rows if _rig(r) == rig]
        out["rigs"][rig] = {k: sorted(s_ for s_ in by_rig[rig] if assign[s_] == k) for k in ("train", "val", "test")}
        out["rigs"][rig]["frames"] = int(sum(r["frames"] for r in clips))
        out["rigs"][rig]["clips"] = len(clips)
    return out


def cmd_import(a: argparse.Namespace) -> int:
    from tqdm import tqdm
    files = collect(a.src)
    jobs = []
    for f in files:
        fmt = detect_format(f) if a.format == "auto" else a.format
        if fmt in (None, "motion"):
            if f.suffix.lower() == ".npz" and fmt == "motion":
                print(f"skip {f}: already canonical motion", file=sys.stderr)
            continue
        jobs.append((f, fmt))
    if not jobs:
        print("no motion-capture files found", file=sys.stderr)
        return 1
    if a.joint_map and not Path(a.joint_map).suffix and a.joint_map not in _builtin_maps():
        raise SystemExit(f"--joint-map {a.joint_map!r}: not a built-in map ({', '.join(_builtin_maps())}) "
                         f"nor a .yaml/.json file")
    if a.joint_map and Path(a.joint_map).suffix and not Path(a.joint_map).is_file():
        raise SystemExit(f"--joint-map: no such joint map file: {a.joint_map}")
    body = make_body(a.body)
    units = None if a.units is None else (float(a.units) if _is_number(a.units) else a.units)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    prev_rows = {}
    summ = out / "import_summary.json"
    if summ.is_file():
        try:
            prev_rows = {r["out"]: r for r in json.loads(summ.read_text()).get("files", [])}
        except (ValueError, KeyError):
            prev_rows = {}
    rows, failed, written = [], [], set()
    t_all = time.perf_counter()
    bar = tqdm(jobs, unit="file", desc="import-mocap")
    for f, fmt in bar:
        bar.set_postfix_str(f.name)
        t0 = time.perf_counter()
        try:
            ms = import_file(f, fmt, body, a.fps, a.iters, units, a.up, a.joint_map, a.subject, asf=a.asf) \
                if not _already(out, f, a, prev_rows) else None
        except Exception as e:  # noqa: BLE001 - keep going, report at the end
            failed.append((str(f), f"{type(e).__name__}: {e}"))
            tqdm.write(f"FAILED {f}: {e}")
            continue
        if ms is None:                      # kept from an earlier run (no --overwrite)
            row = dict(_already(out, f, a, prev_rows))
            row["kept"] = True
            rows.append(row)
            written.add(row["out"])
            continue
        warnings = list(ms.extra.get("warnings", []))
        dst = out / ms.subject / f"{ms.sequence}.npz"
        if str(dst) in written:             # a second source with the same subject/sequence in this run
            alt = f"{ms.sequence}__{f.parent.name}"
            warnings.append(f"same subject/sequence as an earlier clip of this run: written as {alt}.npz")
            ms.sequence = alt
            dst = out / ms.subject / f"{alt}.npz"
        elif dst.exists() and not a.overwrite:
            tqdm.write(f"kept existing {dst} (from another source; use --overwrite to replace it)")
            failed.append((str(f), f"output {dst} exists and comes from another source (use --overwrite)"))
            continue
        written.add(str(dst))
        fit = ms.extra.get("fit")
        row = {"file": str(f), "out": str(dst), "format": fmt, "frames": ms.num_frames, "fps": ms.fps,
               "duration_s": round(ms.duration_s, 3), "subject": ms.subject, "sequence": ms.sequence,
               "body": ms.body_model, "seconds": round(time.perf_counter() - t0, 2),
               "conversion": ms.extra.get("conversion", "fit"), "joint_map": ms.extra.get("joint_map"),
               "warnings": warnings}
        if fit is not None:
            row.update(mean_mm=round(fit.mean_mm, 1), p95_mm=round(float(np.nanpercentile(fit.joint_error_mm, 95)), 1),
                       worst_joint=fit.worst_joint, worst_joint_mm=round(fit.max_joint_mm, 1),
                       side_checks={k: round(v, 3) for k, v in fit.side_checks.items()})
        rest = ms.extra.get("rest")
        if rest is not None and rest.anchors:
            row["rest_anchors"] = rest.anchors
        ms.save(dst, meta=row)
        rows.append(row)
        for w in warnings:
            tqdm.write(f"WARNING {f.name}: {w}")
        bar.set_postfix_str(f"{f.name}: {row.get('mean_mm', '-')} mm")
        _write_summary(summ, rows + [r for r in prev_rows.values() if r["out"] not in written],
                       failed, time.perf_counter() - t_all)   # resumable: written as it goes
    bar.close()
    total = time.perf_counter() - t_all
    print(f"\n{'file':<26} {'joint map':>9} {'frames':>6} {'fps':>4} {'dur_s':>6} {'mean_mm':>7} {'p95_mm':>6}  "
          f"{'worst joint (mm)':>20}  status")
    for r in rows:
        status = "kept" if r.get("kept") else ("WARN: " + "; ".join(r["warnings"])) if r.get("warnings") else "ok"
        print(f"{Path(r['file']).name:<26} {str(r.get('joint_map', '-')):>9} {r['frames']:>6} {r['fps']:>4.0f} "
              f"{r['duration_s']:>6.1f} {r.get('mean_mm', float('nan')):>7.1f} {r.get('p95_mm', float('nan')):>6.1f}  "
              f"{r.get('worst_joint', '-'):>14} {r.get('worst_joint_mm', float('nan')):5.1f}  {status}")
    fitted = [r for r in rows if "mean_mm" in r]
    n_warn = sum(1 for r in rows if r.get("warnings"))
    if fitted:
        w = np.array([r["frames"] for r in fitted], float)
        m = np.array([r["mean_mm"] for r in fitted])
        print(f"{len(rows)} imported ({sum(1 for r in rows if r.get('kept'))} kept from before, {n_warn} with warnings, "
              f"{len(failed)} failed) in {total:.1f} s; frame-weighted mean fit error "
              f"{float((w * m).sum() / w.sum()):.1f} mm, worst file {max(m):.1f} mm")
        by_rig = defaultdict(list)
        for r in fitted:
            by_rig[_rig(r)].append(r)
        print(f"\n{'rig (joint map)':<16} {'clips':>5} {'subjects':<22} {'frames':>7} {'mean_mm':>7} {'worst clip':>10}")
        for rig, rr in sorted(by_rig.items()):
            w = np.array([r["frames"] for r in rr], float)
            m = np.array([r["mean_mm"] for r in rr])
            print(f"{rig:<16} {len(rr):>5} {','.join(sorted({r['subject'] for r in rr})):<22} {int(w.sum()):>7} "
                  f"{float((w * m).sum() / w.sum()):>7.1f} {max(m):>10.1f}")
    else:
        print(f"{len(rows)} imported ({len(failed)} failed) in {total:.1f} s")
    for f, e in failed:
        print(f"FAILED {f}: {e}")
    # earlier imports into the same folder that this run did not touch stay in the summary and splits
    rows_all = rows + [r for r in prev_rows.values() if r["out"] not in written and Path(r["out"]).is_file()]
    _write_summary(summ, rows_all, failed, total)
    rows_all = json.loads(summ.read_text())["files"]       # with what parallel imports into this folder wrote
    if rows_all:
        splits = make_splits(rows_all, a.test_subjects, a.val_subjects)
        (out / "splits.json").write_text(json.dumps(splits, indent=1))
        print(f"splits (by subject): train {','.join(splits['train'])}; val {','.join(splits['val']) or '-'}; "
              f"test {','.join(splits['test']) or '-'} -> {out / 'splits.json'}")
    return 0 if not failed else 2


def _builtin_maps() -> list[str]:
    from training.data.joint_maps import JOINT_MAPS
    return sorted(JOINT_MAPS)


def _already(out: Path, f: Path, a: argparse.Namespace, prev_rows: dict) -> dict | None:
    """The report row of an existing output imported from ``f`` (same source path), unless --overwrite:
    from the earlier summary, else from the clip file itself (its stored import report)."""
    if a.overwrite:
        return None
    for r in prev_rows.values():
        if r.get("file") == str(f) and Path(r["out"]).is_file():
            return r
    from training.data.retarget import ids_from_path
    subj, seq = ids_from_path(f)
    subj = a.subject or subj
    for cand in (out / subj / f"{seq}.npz", out / subj / f"{seq}__{f.parent.name}.npz"):
        if cand.is_file():
            try:
                ms = MotionSequence.load(cand)
            except (ValueError, OSError):
                continue
            if ms.source == str(f):
                row = dict(ms.extra.get("meta") or {})
                if not row:             # written before clips carried their report
                    row = {"file": str(f), "format": detect_format(f), "frames": ms.num_frames, "fps": ms.fps,
                           "duration_s": round(ms.duration_s, 3), "subject": ms.subject, "sequence": ms.sequence,
                           "body": ms.body_model, "joint_map": _map_of(f)}
                    if ms.fit_error_mm is not None:
                        row["mean_mm"] = round(float(np.nanmean(ms.fit_error_mm)), 1)
                row["out"] = str(cand)
                return row
    return None


def _map_of(f: Path) -> str | None:
    """The built-in joint map ``auto`` picks for a BVH / AMC file (None when none fits)."""
    try:
        from training.data.joint_maps import resolve_joint_map
        if f.suffix.lower() == ".amc":
            from training.data.asf_amc import read_asf_amc
            names = read_asf_amc(f).names
        else:
            from training.data.bvh import read_bvh
            names = read_bvh(f).names
        return resolve_joint_map(names).name
    except Exception:  # noqa: BLE001 - report only
        return None


def _write_summary(path: Path, rows: list[dict], failed: list, seconds: float) -> None:
    """Write the summary, merged with rows another import into the same folder wrote meanwhile."""
    merged = {r["out"]: r for r in rows}
    if path.is_file():
        try:
            for r in json.loads(path.read_text()).get("files", []):
                if r["out"] not in merged and Path(r["out"]).is_file():
                    merged[r["out"]] = r
        except (ValueError, KeyError):
            pass
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"files": list(merged.values()), "failed": failed, "seconds": round(seconds, 1)},
                              indent=1))
    tmp.replace(path)


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def rig_table(summary: dict) -> str:
    """Markdown table per rig (joint map) of an ``import_summary.json``: clips, subjects, frames, minutes,
    frame-weighted mean fit error, worst clip, worst joint mean, clips with warnings."""
    by = defaultdict(list)
    for r in summary.get("files", []):
        if "mean_mm" in r:
            by[_rig(r)].append(r)
    lines = ["| rig (joint map) | clips | subjects | frames @ 30 fps | minutes | mean fit error (mm) | worst clip (mm) "
             "| worst joint (mm) | clips with warnings |", "|---|---|---|---|---|---|---|---|---|"]
    for rig, rr in sorted(by.items()):
        w = np.array([r["frames"] for r in rr], float)
        m = np.array([r["mean_mm"] for r in rr])
        wj = [r["worst_joint_mm"] for r in rr if "worst_joint_mm" in r]
        subj = sorted({r["subject"] for r in rr}, key=lambda x: (len(x), x))
        lines.append(f"| {rig} | {len(rr)} | {', '.join(subj)} | {int(w.sum())} | {w.sum() / 30 / 60:.1f} | "
                     f"{float((w * m).sum() / w.sum()):.1f} | {m.max():.1f} | {max(wj) if wj else float('nan'):.1f} | "
                     f"{sum(1 for r in rr if r.get('warnings'))} |")
    return "\n".join(lines)


def cmd_inspect(a: argparse.Namespace) -> int:
    if a.by_rig:
        f = Path(a.dir) / "import_summary.json"
        if not f.is_file():
            print(f"no import_summary.json in {a.dir}", file=sys.stderr)
            return 1
        print(rig_table(json.loads(f.read_text())))
        return 0
    from training.data.dataset import load_motion_dir
    seqs = load_motion_dir(a.dir)
    if not seqs:
        print(f"no canonical motion files under {a.dir}")
        return 1
    by = defaultdict(list)
    for s in seqs:
        by[s.subject].append(s)
    print(f"{'subject':<10} {'seqs':>5} {'frames':>8} {'minutes':>8} {'fps':>10} {'body':>10} {'fit_mm':>7}")
    for subj in sorted(by):
        ss = by[subj]
        frames = sum(s.num_frames for s in ss)
        dur = sum(s.duration_s for s in ss)
        fpss = ",".join(f"{f:g}" for f in sorted({s.fps for s in ss}))
        bodies = ",".join(sorted({s.body_model for s in ss}))
        errs = [float(np.nanmean(s.fit_error_mm)) for s in ss if s.fit_error_mm is not None]
        err = f"{np.mean(errs):.1f}" if errs else "-"
        print(f"{subj:<10} {len(ss):>5} {frames:>8} {dur / 60:>8.2f} {fpss:>10} {bodies:>10} {err:>7}")
    frames = sum(s.num_frames for s in seqs)
    dur = sum(s.duration_s for s in seqs)
    print(f"{'total':<10} {len(seqs):>5} {frames:>8} {dur / 60:>8.2f}   ({len(by)} subjects, {dur:.1f} s)")
    if a.verbose:
        for s in seqs:
            e = "-" if s.fit_error_mm is None else f"{np.nanmean(s.fit_error_mm):.1f} mm"
            print(f"  {s.subject}/{s.sequence}: {s.num_frames} frames @ {s.fps:g} fps = {s.duration_s:.1f} s, "
                  f"fit {e}, {s.source}")
    return 0


# ----------------------------------------------------------------------------------------------------
# render
# ----------------------------------------------------------------------------------------------------


def motion_joints(ms: MotionSequence, body=None) -> np.ndarray:
    """World joints (T, 24, 3) of a motion with its body model (the skeleton when it cannot be built)."""
    import torch
    from training.body.base import SkeletonBody
    if body is None:
        try:
            body = make_body(ms.body_model) if ms.body_model != "smpl" else None
        except Exception:  # noqa: BLE001 - preview only
            body = None
        if body is None or int(body.num_shape) != ms.shape.shape[0]:
            body = SkeletonBody()
    ns = int(body.num_shape)
    shape = np.zeros(ns, np.float32)
    if ms.body_model == body.name:
        shape[:min(ns, ms.shape.size)] = ms.shape[:ns]
    t = ms.num_frames
    with torch.no_grad():
        j = body.joints(torch.as_tensor(ms.rotmats), torch.as_tensor(shape).expand(t, ns), torch.as_tensor(ms.transl))
    return j.numpy()


def render_frames(joints: np.ndarray, size: int = 480, yaw_deg: float = 30.0, pitch_deg: float = 15.0,
                  title: str = "", fps: float = 30.0):
    """Yield BGR uint8 images (size x size) of the skeleton: orthographic camera following the pelvis
    horizontally, 1 m ground grid, left side blue, right side red, mid-line white."""
    import cv2
    from pose_estimation_ros import skeleton
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    view = rx @ ry
    floor = float(np.percentile(joints[..., 1].min(1), 2))
    px_per_m = size / 2.4
    colors = []
    for j, _ in skeleton.BONES:
        n = skeleton.JOINT_NAMES[j]
        colors.append((255, 160, 60) if n.startswith("left") else (60, 60, 255) if n.startswith("right") else (230, 230, 230))
    for t in range(joints.shape[0]):
        img = np.full((size, size, 3), 28, np.uint8)
        c = joints[t, 0].copy()
        c[1] = floor + 0.95

        def proj(p: np.ndarray) -> np.ndarray:
            q = (np.atleast_2d(p) - c) @ view.T
            return np.stack([size / 2 + q[:, 0] * px_per_m, size / 2 - q[:, 1] * px_per_m], -1)

        gx, gz = np.floor(c[0]), np.floor(c[2])
        for k in range(-4, 5):
            for a, b in (((gx + k, floor, gz - 4), (gx + k, floor, gz + 4)), ((gx - 4, floor, gz + k), (gx + 4, floor, gz + k))):
                p = proj(np.array([a, b]))
                cv2.line(img, tuple(int(v) for v in p[0]), tuple(int(v) for v in p[1]), (70, 70, 70), 1, cv2.LINE_AA)
        p2 = proj(joints[t])
        # draw far bones first
        depth = ((joints[t] - c) @ view.T)[:, 2]
        order = sorted(range(len(skeleton.BONES)), key=lambda b: depth[skeleton.BONES[b][0]])
        for b in order:
            j, p = skeleton.BONES[b]
            cv2.line(img, tuple(int(v) for v in p2[j]), tuple(int(v) for v in p2[p]), colors[b], 3, cv2.LINE_AA)
        for j in range(p2.shape[0]):
            cv2.circle(img, tuple(int(v) for v in p2[j]), 3, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.putText(img, f"{title}  {t / fps:5.2f} s", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (200, 200, 200), 1,
                    cv2.LINE_AA)
        yield img


def render_motion(ms: MotionSequence, out: str | Path, size: int = 480, body=None, max_fps: float = 30.0) -> Path:
    """Write an mp4 (cv2.VideoWriter, mp4v) or a gif (Pillow) preview of ``ms``."""
    import cv2
    out = Path(out)
    ext = out.suffix.lower()
    if ext not in (".mp4", ".gif", ".avi"):
        raise ValueError(f"{out}: preview must be .mp4, .avi or .gif")
    if ms.fps > max_fps:
        ms = ms.resample(max_fps)
    joints = motion_joints(ms, body)
    frames = render_frames(joints, size=size, title=f"{ms.subject}/{ms.sequence}", fps=ms.fps)
    out.parent.mkdir(parents=True, exist_ok=True)
    if ext == ".gif":
        try:
            from PIL import Image
        except ImportError as e:
            raise SystemExit("gif output needs Pillow (pip install pillow); use .mp4 instead") from e
        imgs = [Image.fromarray(f[:, :, ::-1]) for f in frames]
        imgs[0].save(out, save_all=True, append_images=imgs[1:], duration=int(round(1000 / ms.fps)), loop=0)
    else:
        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if ext == ".mp4" else "MJPG"))
        vw = cv2.VideoWriter(str(out), fourcc, float(ms.fps), (size, size))
        if not vw.isOpened():
            raise RuntimeError(f"OpenCV cannot write {out} (codec {'mp4v' if ext == '.mp4' else 'MJPG'})")
        for f in frames:
            vw.write(f)
        vw.release()
    return out


def cmd_render(a: argparse.Namespace) -> int:
    ms = MotionSequence.load(a.file)
    out = render_motion(ms, a.out, size=a.size)
    print(f"wrote {out} ({ms.num_frames} frames @ {ms.fps:g} fps)")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.mocap_cli", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("import-mocap", help="BVH / AMASS / point files -> canonical motion npz")
    i.add_argument("src", nargs="+", help="files or folders")
    i.add_argument("--out", required=True, help="output folder (written as OUT/<subject>/<sequence>.npz)")
    i.add_argument("--fps", type=float, default=30.0, help="output frame rate (0 = keep the source's)")
    i.add_argument("--format", default="auto", choices=("auto", "bvh", "amc", "amass", "points"))
    i.add_argument("--body", default="skeleton", help="body model (skeleton | anny | smpl)")
    i.add_argument("--iters", type=int, default=200, help="fitter iterations")
    i.add_argument("--units", default=None, help="metres per unit or m|cm|mm|inch|cmu (default: per convention)")
    i.add_argument("--up", default=None, help="source up axis (y, z, ...; default: bvh y, amass z, points auto)")
    i.add_argument("--joint-map", default=None,
                   help="built-in joint map (cmu, cmu_mb, cmu_asf, daz, cc, canonical) or a .yaml/.json map file "
                        "(default: the best built-in map per file)")
    i.add_argument("--asf", default=None, help="ASF skeleton for .amc files (default: <subject>.asf beside each)")
    i.add_argument("--subject", default=None, help="override the subject id")
    i.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: keep them)")
    i.add_argument("--test-subjects", nargs="*", default=None, help="held-out test subjects for splits.json")
    i.add_argument("--val-subjects", nargs="*", default=None, help="validation subjects for splits.json")
    i.set_defaults(func=cmd_import)
    s = sub.add_parser("inspect-mocap", help="counts and durations per subject")
    s.add_argument("dir")
    s.add_argument("-v", "--verbose", action="store_true", help="also list every sequence")
    s.add_argument("--by-rig", action="store_true", help="table per rig from DIR/import_summary.json")
    s.set_defaults(func=cmd_inspect)
    r = sub.add_parser("render-skeleton", help="mp4/gif preview of a canonical motion file")
    r.add_argument("file")
    r.add_argument("--out", required=True, help="preview.mp4 | preview.gif")
    r.add_argument("--size", type=int, default=480)
    r.set_defaults(func=cmd_render)
    a = p.parse_args(argv)
    if getattr(a, "fps", None) == 0:
        a.fps = None
    return a.func(a)


if __name__ == "__main__":
    sys.exit(main())
