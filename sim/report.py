"""Tables and plots of simulated runs (markdown table, JSON, distance/speed-over-time figures)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from .metrics import RunMetrics
from .world import Trace

COLUMNS = ("scenario", "setting", "brain", "min sep (m)", "min sep moving (m)", "bound D_p-Z_d (m)",
           "time to zero (s)", "stops", "false stops", "time lost (s)", "loop latency mean / p95 (ms)",
           "perception (ms)", "goals")


def _f(v: float, nd: int = 2) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{nd}f}"


def goal_text(m: RunMetrics) -> str:
    parts = [("sep ok" if m.sep_goal else "SEP FAIL")]
    if m.stop_goal is not None:
        parts.append("no false stop" if m.stop_goal else "FALSE STOPS")
    if m.cell_goal is not None:
        parts.append("cell guarded" if m.cell_goal else "CELL ENTERED MOVING")
    return ", ".join(parts)


def row(m: RunMetrics) -> list[str]:
    return [m.scenario, m.setting, m.brain, _f(m.min_separation), _f(m.min_separation_moving),
            _f(m.protective_distance - m.uncertainty), _f(m.time_to_zero), str(m.stops), str(m.false_stops),
            _f(m.time_lost, 1), f"{_f(m.latency_mean_ms, 0)} / {_f(m.latency_p95_ms, 0)}",
            _f(m.perception_mean_ms, 0), goal_text(m)]


def markdown_table(results: list[RunMetrics]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(m)) + " |" for m in results]
    return "\n".join(lines)


def save_json(results: list[RunMetrics], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    def clean(v):
        return None if isinstance(v, float) and not math.isfinite(v) else v
    path.write_text(json.dumps([{k: clean(v) for k, v in m.to_dict().items()} for m in results], indent=1))
    return path


def _draw(ax, trace: Trace, m: RunMetrics, title: str) -> None:
    a = trace.arrays()
    sep = np.where(np.isfinite(a["sep"]), a["sep"], np.nan)
    ax.plot(a["t"], sep, color="tab:blue", label="separation (m)")
    ax.axhline(m.protective_distance, color="tab:red", ls="--", lw=0.8, label="D_p")
    ax.axhline(m.protective_distance - m.uncertainty, color="tab:red", ls=":", lw=0.8, label="D_p - Z_d")
    ax.set_ylim(-0.5, 6.0)
    ax.set_xlabel("t (s)")
    ax.set_title(title, fontsize=9)
    ax2 = ax.twinx()
    ax2.plot(a["t"], a["speed"], color="tab:green", label="robot speed (m/s)")
    ax2.step(a["frame_t"], a["fraction"], where="post", color="tab:orange", lw=0.8, alpha=0.8, label="speed fraction")
    ax2.set_ylim(-0.05, 1.2)
    return ax2


def plot_run(trace: Trace, m: RunMetrics, path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax2 = _draw(ax, trace, m, f"{m.scenario} ({m.setting}, {m.brain})")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_suite(runs: list[tuple[Trace, RunMetrics]], path: Path, cols: int = 3) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = max(1, math.ceil(len(runs) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    ax2 = None
    for ax, (trace, m) in zip(axes.flat, runs):
        ax2 = _draw(ax, trace, m, f"{m.scenario} ({m.setting}, {m.brain})")
    for ax in list(axes.flat)[len(runs):]:
        ax.axis("off")
    if ax2 is not None:
        h1, l1 = axes.flat[0].get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=5, fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
