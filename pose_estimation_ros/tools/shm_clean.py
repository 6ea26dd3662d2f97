"""Remove the Fast DDS shared-memory segments and ports of processes that died without closing them.

A node killed with SIGKILL (a crash, the OOM killer, ``kill -9``, a test's hard kill) leaves its Fast DDS
shared-memory segments and port files in ``/dev/shm``. They accumulate (hundreds after a test suite) and a stale
port is a known way for a restarted participant to stop receiving over shared memory (eProsima/Fast-DDS #5053,
#5469). Fast DDS ships the cleaner itself (``fastdds shm clean``: removes only segments and ports whose owner's
lock is free, so segments in use are kept); this runs it with this interpreter (the wrapper script calls the
system ``python3``, which lacks ``psutil``) before the project starts nodes: the runner, ``scripts/netns_run.sh``
and the tests.

    python -m pose_estimation_ros.tools.shm_clean
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["fastdds_tool", "clean_zombie_shm", "main"]


def fastdds_tool() -> Path | None:
    """The ``fastdds.py`` CLI of the installed Fast DDS wheel (``<venv>/tools/fastdds/fastdds.py``), or None."""
    for root in (Path(sys.prefix), Path(sys.base_prefix)):
        p = root / "tools" / "fastdds" / "fastdds.py"
        if p.is_file():
            return p
    return None


def clean_zombie_shm(timeout: float = 20.0) -> str | None:
    """Run ``fastdds shm clean``; its summary (e.g. ``"3 zombie segments cleaned"``), or None when the tool is
    not installed or fails (never raises: cleaning is an aid, not a precondition)."""
    tool = fastdds_tool()
    if tool is None:
        return None
    try:
        r = subprocess.run([sys.executable, str(tool), "shm", "clean"], capture_output=True, text=True,
                           timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    out = " ".join(line.strip() for line in r.stdout.splitlines() if line.strip())
    return out if r.returncode == 0 and "not found" not in out else None


def main() -> int:
    out = clean_zombie_shm()
    print(f"[shm_clean] {out if out is not None else 'fastdds shm clean not available'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
