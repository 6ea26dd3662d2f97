"""Simulator core (ROS-free): robot dynamics, actors, renderer pixels, metrics on hand-made traces, determinism,
the closed loop with the in-process safety core on ground truth, and bad input."""
import math

import numpy as np
import pytest

from pose_estimation_ros.safety.geometry import invert_transform
from pose_estimation_ros.skeleton import JOINT_NAMES
from sim.control_config import controller_config, zone_setting
from sim.metrics import compute_metrics
from sim.motions import MotionLoadError, get_motion, load_motion
from sim.people import SOLE_M, Actor, Hold, Walk
from sim.render import CachedRenderer, PersonView, camera_intrinsics, make_renderer
from sim.robots import RobotModel, RobotModelError, make_robot
from sim.scenarios import SCENARIOS, make_scenario
from sim.suite import main as sim_main
from sim.world import ClosedLoop, OracleBrain, Trace

J = {n: i for i, n in enumerate(JOINT_NAMES)}


def test_mobile_base_integrates_command_within_its_limits():
    r = make_robot("mobile_base")
    for _ in range(100):                      # 1 s at 1.0 m/s^2 toward 1.0 m/s
        r.step(0.01, 1.0)
    assert r.state.v == pytest.approx(1.0)
    assert r.state.x == pytest.approx(0.505, abs=1e-9)      # sum of 0.01 * k * 0.01, k = 1..100
    for _ in range(15):                       # brakes at 1/0.3 m/s^2: 0.15 s -> 0.5 m/s
        r.step(0.01, 0.0)
    assert r.state.v == pytest.approx(0.5, abs=1e-9)
    r.state.yaw = math.pi / 2
    x0, y0 = r.state.x, r.state.y
    r.step(0.01, 0.5)
    assert r.state.x == pytest.approx(x0) and r.state.y == pytest.approx(y0 + 0.005)


def test_arm_cell_speed_and_separation_from_its_reach_envelope():
    arm = make_robot("arm_cell")
    arm.step(1.0, 0.5 * 0.4)                  # fraction 0.4 of 0.5 m/s, reached within the accel limit
    assert arm.state.v == pytest.approx(0.2) and arm.state.x == 0.0
    pts = np.array([[1.0, 0.0, 1.0], [3.0, 0.0, 1.0]])
    assert arm.separation(pts) == pytest.approx(1.0 - 0.85)
    assert arm.separation(np.zeros((0, 3))) == math.inf


def test_camera_mount_matches_the_zones_file_convention():
    base = make_robot("mobile_base")
    c = base.world_from_camera()
    assert np.allclose(c[:3, 3], [0.1, 0.0, 1.2])
    assert np.allclose(c[:3, 2], [1.0, 0.0, 0.0], atol=1e-6)     # optical z = base x (forward)
    assert np.allclose(c[:3, 1], [0.0, 0.0, -1.0], atol=1e-6)    # optical y = down


def test_robot_without_camera_is_a_clear_error():
    with pytest.raises(RobotModelError, match="has no camera"):
        make_robot("mobile_base", camera=None)
    with pytest.raises(RobotModelError, match="has no camera"):
        RobotModel("bare", "mobile_base", 0.3, None, "zones_mobile_base.yaml", 1.0, 1.0, 1.0)
    with pytest.raises(KeyError, match="unknown robot model 'forklift'.*mobile_base"):
        make_robot("forklift")


def test_actor_walks_its_path_with_feet_on_the_floor():
    a = Actor("p", (5.0, 0.0), math.pi, (Walk((2.0, 0.0), 1.5), Hold(2.0, "reach", (0.0, 0.0)), Hold(2.0, "sit")))
    assert a.duration == pytest.approx(2.0 + 4.0)
    j = a.joints_world(1.0)
    assert j[0, 0] == pytest.approx(3.5) and j[0, 1] == pytest.approx(0.0)
    feet = [J["left_ankle"], J["right_ankle"], J["left_foot"], J["right_foot"]]
    assert j[feet, 2].min() == pytest.approx(SOLE_M)
    assert j[J["head"], 2] > 1.4
    # facing -x: the right hand is on +y (the person's right), the reaching hand ends up in front (toward -x)
    stand, reach = a.joints_world(2.0), a.joints_world(3.5)
    assert stand[J["right_hand"], 1] > 0.15
    assert reach[J["right_hand"], 0] < stand[J["right_hand"], 0] - 0.4
    assert reach[J["right_hand"], 2] == pytest.approx(reach[J["right_shoulder"], 2], abs=0.2)   # arm ~horizontal
    sit = a.joints_world(5.9)
    assert sit[0, 2] < stand[0, 2] - 0.3                      # pelvis drops when sitting


def test_motion_errors_name_the_problem(tmp_path):
    with pytest.raises(MotionLoadError, match="does not exist"):
        load_motion(tmp_path / "missing.bvh")
    bad = tmp_path / "broken.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0\n")
    with pytest.raises(MotionLoadError, match="broken.bvh does not load"):
        load_motion(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(MotionLoadError, match="junk.npz does not load"):
        load_motion(junk)
    txt = tmp_path / "clip.txt"
    txt.write_text("1 2 3")
    with pytest.raises(MotionLoadError, match="unsupported type"):
        load_motion(txt)
    with pytest.raises(MotionLoadError, match="unknown motion 'moonwalk'"):
        get_motion("moonwalk")


def test_cli_refuses_a_motion_file_that_does_not_load(tmp_path, capsys):
    bad = tmp_path / "walk.bvh"
    bad.write_text("MOTION\nFrames: 1\n")
    assert sim_main(["run", "empty", "--brain", "oracle", "--mocap", str(bad)]) == 2
    assert "walk.bvh does not load" in capsys.readouterr().err


def test_unknown_scenario_is_a_clear_error(capsys):
    with pytest.raises(KeyError, match="unknown scenario 'dance'.*walk_toward"):
        make_scenario("dance")
    assert sim_main(["run", "dance", "--brain", "oracle", "--mocap", "none"]) == 2
    assert "unknown scenario 'dance'" in capsys.readouterr().err
    assert sim_main(["run", "empty", "--brain", "oracle", "--setting", "reckless", "--mocap", "none"]) == 2
    assert "unknown zone setting 'reckless'" in capsys.readouterr().err


def test_every_scenario_builds_deterministically_from_its_seed():
    for name in SCENARIOS:
        a, b, c = make_scenario(name, 3), make_scenario(name, 3), make_scenario(name, 4)
        for x, y, z in zip(a.actors, b.actors, c.actors):
            assert np.array_equal(x.joints_world(1.7), y.joints_world(1.7))
            assert not np.array_equal(x.joints_world(1.7), z.joints_world(1.7))


def test_renderer_draws_the_person_where_it_projects():
    intr = camera_intrinsics(320, 240, 60.0)
    r = make_renderer("procedural", intr, seed=1)
    base = make_robot("mobile_base")
    c_w = invert_transform(base.world_from_camera())
    a = Actor("p", (4.0, 0.0), math.pi, (Hold(5.0, "stand", (0.0, 0.0)),))
    j, o = a.joints_and_orientation(0.0)
    empty = r.render(c_w, [])
    img = r.render(c_w, [PersonView(j, o, None)])
    assert img.shape == (240, 320, 3) and img.dtype == np.uint8
    jc = j @ c_w[:3, :3].T + c_w[:3, 3]
    u = intr.fx * jc[:, 0] / jc[:, 2] + intr.cx
    v = intr.fy * jc[:, 1] / jc[:, 2] + intr.cy
    spine = (int(round(u[J["spine2"]])), int(round(v[J["spine2"]])))
    assert np.abs(img[spine[1], spine[0]].astype(int) - (200, 45, 40)).max() < 40      # the red shirt
    changed = np.abs(img.astype(int) - empty.astype(int)).max(-1) > 30
    ys, xs = np.nonzero(changed)
    assert u.min() - 8 <= xs.min() and xs.max() <= u.max() + 8                # drawn only around the person
    assert v[J["head"]] - 20 <= ys.min() and ys.max() <= v.max() + 8
    assert np.array_equal(r.render(c_w, [PersonView(j, o, None)]), img)     # deterministic
    base.state.x = 1.0
    moved = r.render(invert_transform(base.world_from_camera()), [])
    assert np.abs(moved.astype(int) - empty.astype(int)).mean() > 3           # the floor moves with the camera


def _trace(t, sep, speed, frame_t, fraction, radius=0.3):
    tr = Trace()
    tr.t, tr.sep, tr.speed = list(t), list(sep), list(speed)
    tr.sep_hand = list(sep)
    tr.dist = [s + radius for s in sep]
    tr.progress = list(np.cumsum(np.asarray(speed) * 0.1))
    tr.ideal_progress = list(np.arange(1, len(t) + 1) * 0.1)
    tr.frame_t, tr.fraction = list(frame_t), list(fraction)
    tr.state = ["NORMAL"] * len(frame_t)
    tr.zone = [""] * len(frame_t)
    tr.latency_ms = [10.0] * len(frame_t)
    tr.perception_ms = [5.0] * len(frame_t)
    return tr


def test_metrics_against_hand_computed_values():
    sc = make_scenario("walk_toward")
    robot = make_robot("mobile_base")
    cfg = controller_config(robot.zones_file)
    t = np.arange(10) * 0.1
    sep = [3.0, 2.0, 1.0, 0.5, 0.25, 0.22, 0.21, 0.15, 0.1, 0.4]      # D_p = 0.3: entered at t = 0.4
    speed = [1.0, 1.0, 1.0, 0.5, 0.2, 0.1, 0.0, 0.0, 0.0, 0.0]         # zero from t = 0.6
    frac = [0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    m = compute_metrics(_trace(t, sep, speed, t, frac), sc, robot, cfg)
    assert m.protective_distance == pytest.approx(0.3) and m.uncertainty == pytest.approx(0.1)
    assert m.min_separation == pytest.approx(0.1)
    assert m.min_separation_moving == pytest.approx(0.22)               # while speed > 0
    assert m.sep_goal                                                   # 0.22 >= 0.3 - 0.1
    assert m.time_to_zero == pytest.approx(0.2)                          # 0.6 - 0.4
    assert m.stops == 2                                                  # drops at frames 3 and 6, not the start
    assert m.false_stops == 0                                            # both within the justifying distance
    assert m.time_lost == pytest.approx((1.0 - 0.38) / 1.0)
    far = compute_metrics(_trace(t, [5.0] * 10, speed, t, frac), sc, robot, cfg)
    assert far.false_stops == 2 and math.isnan(far.time_to_zero)
    # already stopped 0.3 s before anyone entered: negative time to zero
    early = compute_metrics(_trace(t, [3, 2, 1, 0.8, 0.6, 0.5, 0.2, 0.2, 0.2, 0.2], [1, 1, 0.5, 0, 0, 0, 0, 0, 0, 0],
                                   t, [1.0] * 10), sc, robot, cfg)
    assert early.time_to_zero == pytest.approx(-0.3)


def test_closed_loop_with_ground_truth_is_deterministic_and_keeps_distance():
    sc = make_scenario("stand_in_way")
    robot = make_robot(sc.robot)
    cfg = controller_config(robot.zones_file)
    runs = []
    for _ in range(2):
        loop = ClosedLoop(make_scenario("stand_in_way"), render=False, actuation_delay=cfg.ssm.reaction_time)
        runs.append(loop.run(OracleBrain(cfg)).arrays())
    assert all(np.array_equal(runs[0][k], runs[1][k]) for k in ("t", "sep", "speed", "fraction"))
    m = compute_metrics(Trace(**{k: list(v) for k, v in runs[0].items()}), sc, robot, cfg, brain="oracle")
    assert m.min_separation_moving >= m.protective_distance - m.uncertainty
    assert m.min_separation > 0.5 and m.time_lost > 1.0                  # it slowed down in front of the person
    # the tight setting lets the base get closer than the default one
    tight = controller_config(robot.zones_file, zone_setting("tight", "vehicle"))
    loop = ClosedLoop(make_scenario("stand_in_way"), render=False, actuation_delay=tight.ssm.reaction_time)
    m2 = compute_metrics(loop.run(OracleBrain(tight)), sc, robot, tight, "tight", "oracle")
    assert m2.min_separation < m.min_separation


def test_arm_stops_before_a_reaching_hand_enters_the_cell_with_ground_truth():
    sc = make_scenario("reach_into_cell")
    robot = make_robot(sc.robot)
    cfg = controller_config(robot.zones_file)
    loop = ClosedLoop(sc, robot=robot, render=False, actuation_delay=cfg.ssm.reaction_time)
    m = compute_metrics(loop.run(OracleBrain(cfg)), sc, robot, cfg, brain="oracle")
    assert m.min_separation < 0.0                 # the hand does enter the reach envelope ...
    assert m.cell_goal and m.cell_entries_moving == 0      # ... only while the arm stands still
    assert m.time_to_zero < 0


class _Deferred:
    """A pipelined brain over the oracle, as the node driver behaves: submit() hands a frame over, collect()
    answers it later; records how many frames the loop had made when each answer was collected."""

    def __init__(self, inner: OracleBrain, loop: ClosedLoop) -> None:
        self.inner, self.loop, self.pending, self.frames_at_collect = inner, loop, None, []
        self.made = 0
        make = loop.frame

        def counted():
            self.made += 1
            return make()
        loop.frame = counted

    def decide(self, frame, request):
        self.frames_at_collect.append(self.made)
        return self.inner.decide(frame, request)

    def submit(self, frame, request):
        assert self.pending is None, "two frames in flight"
        self.pending = (frame, request)

    def collect(self):
        (frame, request), self.pending = self.pending, None
        self.frames_at_collect.append(self.made)
        return self.inner.decide(frame, request)


@pytest.mark.parametrize("delay", [0.1, 0.02])
def test_pipelined_loop_gives_the_sequential_trace(delay):
    """Frame k+1 is made while frame k is decided only when frame k's command cannot act before t_{k+1} (the
    actuation delay covers the frame); either way every array of the trace equals the sequential loop's."""
    sc = make_scenario("walk_toward")                       # stops and slowdowns: the commands matter
    cfg = controller_config(make_robot(sc.robot).zones_file)
    seq = ClosedLoop(sc, render=False, actuation_delay=delay).run(OracleBrain(cfg)).arrays()
    loop = ClosedLoop(sc, render=False, actuation_delay=delay)
    brain = _Deferred(OracleBrain(cfg), loop)
    pip = loop.run(brain).arrays()
    assert loop.can_pipeline == (delay == 0.1)
    n = loop.num_frames
    if loop.can_pipeline:                                   # the next frame was ready before each answer
        assert brain.frames_at_collect == [k + 2 for k in range(n - 1)] + [n]
    else:
        assert brain.frames_at_collect == [k + 1 for k in range(n)]
    assert set(seq) == set(pip) and min(seq["fraction"]) == 0.0
    for k in seq:
        assert seq[k].shape == pip[k].shape and np.array_equal(seq[k], pip[k], equal_nan=seq[k].dtype.kind == "f"), k


def test_render_cache_returns_the_frame_rendered_for_the_same_inputs():
    intr = camera_intrinsics(160, 120, 60.0)
    inner = make_renderer("procedural", intr, seed=1)
    calls = []

    class Counting:
        intrinsics = intr

        def render(self, c_w, people):
            calls.append(1)
            return inner.render(c_w, people)

    cache = CachedRenderer(Counting(), max_bytes=2.5 * 160 * 120 * 3)         # room for two frames
    base = make_robot("mobile_base")
    c_w = invert_transform(base.world_from_camera())
    a = Actor("p", (4.0, 0.0), math.pi, (Walk((2.0, 0.0), 1.0),))
    pv = [PersonView(*a.joints_and_orientation(t), a.state(t)[2]) for t in (0.0, 0.5)]
    first = cache.render(c_w, [pv[0]])
    again = cache.render(c_w, [PersonView(pv[0].joints.copy(), pv[0].orient.copy(), pv[0].local_rotmats)])
    assert len(calls) == 1 and cache.hits == 1 and np.array_equal(first, again)
    again[:] = 0                                                               # a caller cannot spoil the cache
    assert np.array_equal(cache.render(c_w, [pv[0]]), first) and len(calls) == 1
    walked = cache.render(c_w, [pv[1]])                                        # the person moved: a new frame
    assert len(calls) == 2 and not np.array_equal(walked, first)
    assert np.array_equal(walked, inner.render(c_w, [pv[1]]))
    base.state.x = 0.5
    cache.render(invert_transform(base.world_from_camera()), [pv[1]])          # the camera moved: a new frame
    assert len(calls) == 3 and cache.misses == 3
    cache.render(c_w, [pv[0]])                                                 # least recently used: evicted
    assert len(calls) == 4
