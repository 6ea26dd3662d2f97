"""Plain 3D point sequences (joint or marker positions over time) -> canonical motion.

Readers (all return ``positions (T, N, 3)`` in the file's units, ``names (N,)``, ``fps`` or None):

* CSV (:func:`read_points_csv`): one row per frame, three columns per point named
  ``<name>_x / <name>_y / <name>_z`` (also ``.x``, ``:x``, `` x``, ``[x]``, any case); an optional
  ``time`` / ``timestamp`` / ``t`` column (seconds) gives the frame rate; ``frame`` columns are ignored.
  Empty cells or ``nan`` are gaps.
* npz (:func:`read_points_npz`): ``positions`` (or ``joints`` / ``points``) (T, N, 3), ``names``
  (or ``joint_names`` / ``labels``) (N,), optional ``fps`` (or ``frame_rate``).
* C3D (:func:`read_c3d`): a small pure-python reader (Intel / DEC / MIPS processor formats,
  integer or float storage, ``POINT:LABELS``, ``POINT:RATE``, ``POINT:UNITS``); residual < 0 marks
  a missing sample. C3D holds *markers*, so pass a joint map of marker blends
  (``{"left_knee": {"LKNE": 0.5, "LKNEM": 0.5}, ...}``) unless the file stores joint centres under
  mappable names.

:func:`import_points` maps the names to canonical joints (:mod:`training.data.retarget` joint maps;
names also match ignoring case and separators, so ``Left Knee`` / ``LEFT_KNEE`` find ``left_knee``),
fills gaps by linear interpolation (gap frames get zero weight in the fit), converts units and the up
axis, resamples, and fits with the same fitter as the BVH import.
"""
from __future__ import annotations

import csv
import re
import struct
from pathlib import Path

import numpy as np

from training.body.base import BodyModel
from training.data.motion import MotionSequence

__all__ = ["read_points", "read_points_csv", "read_points_npz", "read_c3d", "import_points", "guess_up_axis",
           "normalise_name"]

_SUFFIX = re.compile(r"^(.*?)[\s_.:\-\[]*([xyzXYZ])\]?$")


def normalise_name(s: str) -> str:
    """Lower-case alphanumerics only: ``"Left Knee"`` and ``"left_knee"`` -> ``"leftknee"``."""
    return re.sub(r"[^a-z0-9]", "", s.lower())


def read_points_csv(path: str | Path) -> tuple[np.ndarray, list[str], float | None]:
    path = Path(path)
    with path.open(newline="") as f:
        sample = f.read(4096)
        f.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ")
        except csv.Error:
            dialect = csv.excel
        rows = [r for r in csv.reader(f, dialect) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise ValueError(f"{path}: needs a header row and at least one frame")
    header = [h.strip() for h in rows[0]]
    time_col = None
    points: dict[str, dict[str, int]] = {}
    order: list[str] = []
    for i, h in enumerate(header):
        hl = h.lower()
        if hl in ("time", "timestamp", "t", "time_s", "seconds"):
            time_col = i
            continue
        if hl in ("frame", "frames", "frame_index", "index", ""):
            continue
        m = _SUFFIX.match(h)
        if not m or not m.group(1):
            raise ValueError(f"{path}: column {h!r} is not '<point>_x|y|z', time or frame")
        name, axis = m.group(1), m.group(2).lower()
        if name not in points:
            points[name] = {}
            order.append(name)
        points[name][axis] = i
    incomplete = [n for n in order if set(points[n]) != {"x", "y", "z"}]
    if incomplete:
        raise ValueError(f"{path}: points without all of x, y, z columns: {incomplete}")

    def num(s: str) -> float:
        s = s.strip()
        return float(s) if s and s.lower() not in ("nan", "na", "null") else np.nan

    data = np.array([[num(r[i]) if i < len(r) else np.nan for i in range(len(header))] for r in rows[1:]])
    pos = np.stack([np.stack([data[:, points[n][a]] for a in "xyz"], -1) for n in order], 1)
    fps = None
    if time_col is not None:
        tt = data[:, time_col]
        dt = np.diff(tt[np.isfinite(tt)])
        if dt.size and np.median(dt) > 0:
            fps = float(1.0 / np.median(dt))
    return pos, order, fps


def read_points_npz(path: str | Path) -> tuple[np.ndarray, list[str], float | None]:
    with np.load(path, allow_pickle=False) as z:
        key = next((k for k in ("positions", "joints", "points") if k in z.files), None)
        nkey = next((k for k in ("names", "joint_names", "labels") if k in z.files), None)
        if key is None or nkey is None:
            raise ValueError(f"{path}: a points npz needs 'positions' (T, N, 3) and 'names' (N,); has {z.files}")
        pos = np.asarray(z[key], np.float64)
        names = [str(n) for n in z[nkey]]
        fkey = next((k for k in ("fps", "frame_rate", "mocap_framerate") if k in z.files), None)
        fps = float(z[fkey]) if fkey else None
    if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[1] != len(names):
        raise ValueError(f"{path}: positions {pos.shape} do not match {len(names)} names")
    return pos, names, fps


# ----------------------------------------------------------------------------------------------------
# C3D
# ----------------------------------------------------------------------------------------------------


def _dec_to_ieee(raw: bytes) -> np.ndarray:
    """DEC (VAX F) 32-bit floats -> float32: swap the 16-bit halves, reinterpret, divide by 4."""
    a = np.frombuffer(raw, dtype="<u2").reshape(-1, 2)[:, ::-1].copy()
    return np.frombuffer(a.tobytes(), dtype="<f4") / 4.0


def read_c3d(path: str | Path) -> tuple[np.ndarray, list[str], float | None, str]:
    """Minimal C3D reader.

    Returns:
        positions (T, N, 3) in the file's POINT:UNITS (NaN = missing), labels, frame rate, units string.
    """
    path = Path(path)
    buf = path.read_bytes()
    if len(buf) < 512 or buf[1] != 0x50:
        raise ValueError(f"{path}: not a C3D file (header word 1 byte 2 must be 0x50)")
    pblock = buf[0]
    p0 = 512 * (pblock - 1)
    proc = buf[p0 + 3]
    if proc == 84:
        end, fl = "<", "intel"
    elif proc == 85:
        end, fl = "<", "dec"
    elif proc == 86:
        end, fl = ">", "mips"
    else:
        raise ValueError(f"{path}: unknown C3D processor type {proc}")

    def i16(off: int) -> int:
        return struct.unpack(end + "h", buf[off:off + 2])[0]

    def f32(off: int) -> float:
        if fl == "dec":
            return float(_dec_to_ieee(buf[off:off + 4])[0])
        return struct.unpack(end + "f", buf[off:off + 4])[0]

    n_points, n_analog = i16(2), i16(4)
    first, last = i16(6) & 0xFFFF, i16(8) & 0xFFFF
    scale = f32(12)
    data_block = i16(16) & 0xFFFF
    rate = f32(20)

    # parameters
    params: dict[tuple[str, str], object] = {}
    groups: dict[int, str] = {}
    off = p0 + 4
    while off < len(buf) - 2:
        nch = struct.unpack("b", buf[off:off + 1])[0]
        gid = struct.unpack("b", buf[off + 1:off + 2])[0]
        if nch == 0:
            break
        nlen = abs(nch)
        name = buf[off + 2:off + 2 + nlen].decode("latin-1").upper()
        p = off + 2 + nlen
        nxt = i16(p)
        body = p + 2
        if gid < 0:
            groups[-gid] = name
        else:
            dtype = struct.unpack("b", buf[body:body + 1])[0]
            ndim = buf[body + 1]
            dims = list(buf[body + 2:body + 2 + ndim])
            d0 = body + 2 + ndim
            count = int(np.prod(dims)) if dims else 1
            if dtype == -1:
                raw = buf[d0:d0 + count].decode("latin-1")
                if len(dims) >= 2:
                    w = dims[0]
                    val: object = [raw[k * w:(k + 1) * w].strip() for k in range(int(np.prod(dims[1:])))]
                else:
                    val = raw.strip()
            elif dtype == 1:
                val = np.frombuffer(buf[d0:d0 + count], np.uint8).astype(np.int64)
            elif dtype == 2:
                val = np.frombuffer(buf[d0:d0 + 2 * count], end + "i2").astype(np.int64)
            elif dtype == 4:
                val = _dec_to_ieee(buf[d0:d0 + 4 * count]) if fl == "dec" else np.frombuffer(buf[d0:d0 + 4 * count], end + "f4")
            else:
                raise ValueError(f"{path}: bad C3D parameter type {dtype} for {name}")
            params[(gid, name)] = val  # type: ignore[index]
        if nxt == 0:
            break
        off = p + nxt

    def param(group: str, name: str):
        for (gid, n), v in params.items():
            if n == name and groups.get(gid) == group:
                return v
        return None

    labels: list[str] = []
    for key in ("LABELS", "LABELS2", "LABELS3", "LABELS4"):
        v = param("POINT", key)
        if v is not None:
            labels += [v] if isinstance(v, str) else list(v)
    used = param("POINT", "USED")
    if used is not None:
        n_points = int(np.asarray(used).reshape(-1)[0]) & 0xFFFF
    v = param("POINT", "SCALE")
    if v is not None:
        scale = float(np.asarray(v).reshape(-1)[0])
    v = param("POINT", "RATE")
    if v is not None:
        rate = float(np.asarray(v).reshape(-1)[0])
    v = param("POINT", "DATA_START")
    if v is not None:
        data_block = int(np.asarray(v).reshape(-1)[0]) & 0xFFFF
    units = param("POINT", "UNITS") or "mm"
    labels = labels[:n_points] + [f"P{k}" for k in range(len(labels), n_points)]

    n_frames = last - first + 1
    analog_per_frame = n_analog          # header word 3: total analog samples per 3D frame
    is_float = scale < 0
    width = 4 if is_float else 2
    per_frame = (4 * n_points + analog_per_frame) * width
    d0 = 512 * (data_block - 1)
    raw = buf[d0:d0 + per_frame * n_frames]
    n_frames = min(n_frames, len(raw) // per_frame) if per_frame else 0
    raw = raw[:per_frame * n_frames]
    if is_float:
        vals = _dec_to_ieee(raw) if fl == "dec" else np.frombuffer(raw, end + "f4").astype(np.float64)
        vals = np.asarray(vals, np.float64).reshape(n_frames, -1)[:, :4 * n_points].reshape(n_frames, n_points, 4)
        xyz = vals[..., :3]
        resid = vals[..., 3]
    else:
        vals = np.frombuffer(raw, end + "i2").astype(np.float64).reshape(n_frames, -1)[:, :4 * n_points]
        vals = vals.reshape(n_frames, n_points, 4)
        xyz = vals[..., :3] * abs(scale)
        resid = vals[..., 3]
    xyz = xyz.copy()
    xyz[resid < 0] = np.nan
    return xyz, labels, (float(rate) if rate > 0 else None), str(units).strip().lower()


def read_points(path: str | Path) -> tuple[np.ndarray, list[str], float | None]:
    """Dispatch on the extension (.csv/.txt, .npz, .c3d); C3D positions come back in metres' units
    named by the file (see :func:`import_points` for unit handling)."""
    ext = Path(path).suffix.lower()
    if ext in (".csv", ".txt", ".tsv"):
        return read_points_csv(path)
    if ext == ".npz":
        return read_points_npz(path)
    if ext == ".c3d":
        pos, names, fps, _ = read_c3d(path)
        return pos, names, fps
    raise ValueError(f"{path}: unsupported point file type {ext!r} (csv, npz, c3d)")


def guess_up_axis(targets: np.ndarray, weights: np.ndarray) -> str:
    """Up axis of canonical-joint targets: the signed axis along the mean ankles -> head/neck/shoulders."""
    from pose_estimation_ros.skeleton import JOINT_NAMES as N
    top = [N.index(n) for n in ("head", "neck", "left_shoulder", "right_shoulder") if weights[N.index(n)] > 0]
    bot = [N.index(n) for n in ("left_ankle", "right_ankle") if weights[N.index(n)] > 0]
    v = np.nanmean(targets[:, top].mean(1) - targets[:, bot].mean(1), axis=0)
    k = int(np.argmax(np.abs(v)))
    return ("" if v[k] > 0 else "-") + "xyz"[k]


def _interp_gaps(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of NaN samples per point and axis; returns filled positions, valid mask (T, N)."""
    valid = np.isfinite(pos).all(-1)
    out = pos.copy()
    t = np.arange(pos.shape[0])
    for n in range(pos.shape[1]):
        v = valid[:, n]
        if v.all() or not v.any():
            continue
        for a in range(3):
            out[~v, n, a] = np.interp(t[~v], t[v], pos[v, n, a])
    return out, valid


def import_points(path: str | Path, body: BodyModel | None = None, fps: float | None = 30.0,
                  joint_map="auto", units: str | float | None = "auto", up: str = "auto",
                  src_fps: float | None = None, subject: str | None = None, sequence: str | None = None,
                  iters: int = 200, progress=None, **fit_kwargs) -> MotionSequence:
    """Import a point sequence (CSV / npz / C3D) onto ``body`` by the joint-position fitter.

    Args:
        joint_map: "auto", a built-in map name, a JointMap or ``{canonical: entry}`` (see retarget).
        units: metres per unit or a unit name; "auto": C3D POINT:UNITS, else guessed from the leg length.
        up: the file's up axis ("y", "z", "-z", ...) or "auto" (from the head-over-ankles direction).
        src_fps: the file's frame rate when it does not say (CSV without time column, npz without fps).
    """
    from training.data.bvh import to_y_up, unit_scale
    from training.data.retarget import (
        JointMap, JOINT_MAPS, canonical_targets, default_body, fit_positions, guess_units, ids_from_path,
        resample_positions, resolve_joint_map)
    path = Path(path)
    c3d_units = None
    if path.suffix.lower() == ".c3d":
        pos, names, file_fps, c3d_units = read_c3d(path)
    else:
        pos, names, file_fps = read_points(path)
    rate = src_fps or file_fps
    if rate is None:
        raise ValueError(f"{path}: no frame rate in the file; pass src_fps=")
    keep = [i for i in range(len(names)) if np.isfinite(pos[:, i]).any()]
    pos, names = pos[:, keep], [names[i] for i in keep]
    pos, valid = _interp_gaps(pos)

    # name matching ignoring case / separators: rename source names that normalise to a map name
    if isinstance(joint_map, dict):
        joint_map = JointMap("custom", joint_map)
    cands = [joint_map] if isinstance(joint_map, JointMap) else (
        list(JOINT_MAPS.values()) if joint_map in (None, "auto") else [JOINT_MAPS[joint_map]])
    best = None
    for m in cands:          # per map: rename source names that match one of its names loosely
        wanted: set[str] = set()
        for e in m.entries.values():
            wanted |= _entry_names(e)
        by_norm = {normalise_name(w): w for w in wanted}
        renamed = [n if n in wanted else by_norm.get(normalise_name(n), n) for n in names]
        score = (len(m.missing_required(renamed)), -len(m.resolve(renamed)))
        if best is None or score < best[0]:
            best = (score, m, renamed)
    names = best[2]
    jmap = resolve_joint_map(names, best[1], source=str(path))
    if units == "auto":
        if c3d_units in ("mm", "millimeters", "millimetres"):
            scale = 0.001
        elif c3d_units in ("cm",):
            scale = 0.01
        elif c3d_units in ("m", "meters", "metres"):
            scale = 1.0
        else:
            scale = guess_units(pos, names, jmap)
    elif units is None:
        scale = jmap.units if jmap.units is not None else guess_units(pos, names, jmap)
    else:
        scale = unit_scale(units)
    pos = pos * scale
    if up == "auto":
        tg, w = canonical_targets(pos, names, jmap)
        up = guess_up_axis(tg, w)
    pos = to_y_up(pos, up)
    pos, out_fps = resample_positions(pos, rate, fps)
    validf, _ = resample_positions(valid.astype(np.float64), rate, fps)
    targets, weights = canonical_targets(pos, names, jmap)
    # a canonical joint is trusted in a frame only if all its source points were measured there
    res_map = jmap.resolve(names)
    idx = {n: i for i, n in enumerate(names)}
    from pose_estimation_ros.skeleton import JOINT_NAMES
    fw = np.ones((targets.shape[0], len(JOINT_NAMES)))
    for canon, blend in res_map.items():
        j = JOINT_NAMES.index(canon)
        fw[:, j] = np.min(np.stack([validf[:, idx[n]] >= 0.999 for n in blend], -1), -1)
    body = body or default_body()
    res = fit_positions(targets, weights, body=body, fps=out_fps, iters=iters, frame_weights=fw,
                        progress=progress, **fit_kwargs)
    subj, seq = ids_from_path(path)
    ms = MotionSequence(res.rotmats, res.transl, res.shape, body.name, out_fps, subject or subj, sequence or seq,
                        source=str(path), fit_error_mm=res.per_joint_mm)
    ms.extra.update(fit=res, joint_map=jmap.name, units_m=scale, up=up, src_fps=rate)
    return ms


def _entry_names(e) -> set[str]:
    if e is None:
        return set()
    if isinstance(e, str):
        return {e}
    if isinstance(e, dict):
        return set(e)
    out: set[str] = set()
    for x in e:
        out |= _entry_names(x)
    return out
