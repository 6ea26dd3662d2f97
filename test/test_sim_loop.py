"""One short scenario end to end: rendered frames -> the real perception and controller node processes (loopback
DDS, sim time) -> cmd_vel_out -> the simulated base -> the next frame. Lock-step: every frame is answered."""
import math

import numpy as np
import pytest

from pose_estimation_ros.stack import config_dir
from pose_estimation_ros.tools.check_models import check
from sim.control_config import controller_config
from sim.metrics import compute_metrics
from sim.robots import make_robot
from sim.ros_driver import NodeBrain
from sim.scenarios import make_scenario
from sim.world import ClosedLoop

pytestmark = [pytest.mark.ros, pytest.mark.slow]
FRAMES = 18          # 1.2 s at 15 Hz


def test_short_walk_toward_runs_through_the_real_nodes_in_lock_step(tmp_path):
    models = config_dir().parent / "models"
    if check(models)[0] == "FAILED":
        pytest.fail(f"default models missing: run `make setup` ({check(models)})")
    from dataclasses import replace
    sc = replace(make_scenario("walk_toward"), duration=FRAMES / 15.0)
    robot = make_robot(sc.robot)
    cfg = controller_config(robot.zones_file)
    loop = ClosedLoop(sc, robot=robot, frame_rate=15.0, actuation_delay=cfg.ssm.reaction_time)
    brain = NodeBrain(robot, {}, 15.0, log_dir=tmp_path, warmup_frames=3)
    try:
        trace = loop.run(brain)
    finally:
        codes = brain.stop()
        for f in tmp_path.glob("*.log"):
            print(f"---- {f.name}\n{f.read_text()[-2000:]}")
    assert all(c == 0 for c in codes.values()), codes
    a = trace.arrays()
    assert len(a["frame_t"]) == FRAMES
    assert np.isfinite(a["latency_ms"]).all() and (a["latency_ms"] > 0).all()      # every frame answered
    assert (a["perception_ms"] > 0).all()
    assert brain.sync_misses == 0 and brain.mismatches == 0, brain.report()
    assert set(a["state"]) <= {"NORMAL", "SLOWDOWN", "LIMIT", "STOP", "APPROACH", "FAULT"}
    # the base executed what cmd_vel_out said: request 1.0 m/s x the controller's fraction, after the delay
    commanded = np.interp(a["t"] - cfg.ssm.reaction_time, a["frame_t"], a["fraction"], left=0.0) * sc.request
    assert (a["speed"] <= np.maximum.accumulate(commanded) + 1e-9).all()
    assert a["progress"][-1] == pytest.approx(np.trapezoid(a["speed"], a["t"]), abs=0.02)
    m = compute_metrics(trace, sc, robot, cfg)
    assert m.frames == FRAMES and math.isfinite(m.latency_mean_ms)
