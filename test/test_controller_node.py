"""The controller node as a real process: zones -> cmd_vel_out, live parameters, latched stop, arm mode, outputs."""
import pytest
from rcl_interfaces.msg import ParameterType
from visualization_msgs.msg import Marker

from pose_estimation_ros.safety import config_from_yaml
from pose_estimation_ros.stack import config_dir
from pose_estimation_ros.runner import stop_process
from pose_estimation_ros.tools.fault_injection import PoseDriver, robot_config, start_controller

pytestmark = pytest.mark.ros

OVERRIDES = {"hysteresis.ramp_rate": "10.0", "hysteresis.min_dwell": "0.0", "param_reject_hold": "1.0"}


@pytest.fixture(scope="module")
def vehicle(tmp_path_factory):
    log = tmp_path_factory.mktemp("controller") / "controller.log"
    proc = start_controller(OVERRIDES, log, namespace="/vehicle")
    driver = PoseDriver(robot_config(), name="controller_test", namespace="/vehicle")
    try:
        assert driver.wait_state("NORMAL", 1.0, timeout=30.0), f"controller not NORMAL: {driver.latest()}"
        yield driver
    finally:
        driver.close()
        stop_process(proc)
        print(log.read_text()[-3000:])


def last_cmd(driver):
    driver.spin_for(0.15)
    return driver.cmd_out[-1][1].linear.x


def test_zones_filter_cmd_vel(vehicle):
    d = vehicle
    d.position = (6.0, 0.0)
    assert d.wait_state("NORMAL", 1.0)
    assert last_cmd(d) == pytest.approx(1.0)
    d.position = (0.0, 1.9)     # beside the robot: inside the 2.0 m slowdown circle, off the driving corridor
    assert d.wait_state("SLOWDOWN", 0.5, zone="slowdown"), d.latest()
    assert last_cmd(d) == pytest.approx(0.5)
    d.position = (0.5, 0.0)
    assert d.wait_state("STOP", 0.0), d.latest()
    assert d.latest().person_id == 1 and d.latest().min_distance < 0.6
    assert last_cmd(d) == 0.0
    d.position = (6.0, 0.0)
    assert d.wait_state("NORMAL", 1.0)


def test_markers_and_diagnostics(vehicle):
    d = vehicle
    d.position = (0.0, 1.9)
    assert d.wait_state("SLOWDOWN", 0.5)
    n, n_diag = len(d.markers), len(d.diagnostics)

    def fresh_status():
        """The controller's diagnostics published since SLOWDOWN (older ones may still say STOP from before)."""
        return [s for a in d.diagnostics[n_diag:] for s in a.status if s.name.startswith("/vehicle/controller")]
    assert d.spin_until(lambda: len(d.markers) > n + 1 and fresh_status(), 3.0)
    markers = d.markers[-1].markers
    assert markers[0].action == Marker.DELETEALL
    strips = [m for m in markers if m.type == Marker.LINE_STRIP]
    assert len(strips) == 4 + 2                 # 4 zones + SSM radius at the requested speed + SSM stop radius
    assert all(m.header.frame_id == "base_link" for m in strips)
    assert any(m.color.r > 0.9 and m.color.g < 0.7 for m in strips)    # the occupied slowdown zone: orange
    assert any(m.type == Marker.TEXT_VIEW_FACING and "SLOWDOWN" in m.text for m in markers)
    st = fresh_status()[-1]
    values = {kv.key: kv.value for kv in st.values}
    assert values["state"] in ("SLOWDOWN", "NORMAL") and "ssm_radius_m" in values and "occupied_zones" in values
    d.position = (6.0, 0.0)
    assert d.wait_state("NORMAL", 1.0)


def test_live_parameters_validated_as_a_whole(vehicle):
    d = vehicle
    desc = d.wait_future(d.params.describe_parameters(["ssm.reaction_time", "zones.stop.radius", "mode"]))
    rt, radius, mode = desc.descriptors
    assert rt.description and rt.floating_point_range and rt.floating_point_range[0].to_value == 5.0
    assert radius.type == ParameterType.PARAMETER_DOUBLE and radius.floating_point_range
    assert mode.read_only

    d.position = (0.0, 1.9)
    assert d.wait_state("SLOWDOWN", 0.5)
    res = d.set_parameters({"zones.slowdown.slowdown_ratio": 0.3})
    assert res[0].successful, res
    assert d.wait_state("SLOWDOWN", 0.3)

    for bad, why in (({"zones.stop.radius": 5.0}, "inside a slowdown zone"),     # our whole-config check
                     ({"mode": "arm"}, "read-only"),
                     ({"zones.slowdown.slowdown_ratio": 1.5}, "")):                # rclpy's range check
        n0 = len(d.status)
        res = d.set_parameters(bad)
        assert not res[0].successful and why in res[0].reason, (bad, res)
        assert d.spin_until(lambda: any(m.zone == "param_rejected" and m.speed_fraction == 0.0
                                        for _, m in d.status[n0:]), 2.0), bad
    got = d.wait_future(d.params.get_parameters(["zones.stop.radius", "zones.slowdown.slowdown_ratio"]))
    assert [v.double_value for v in got.values] == [0.6, 0.3]            # the old configuration stayed
    assert d.wait_state("SLOWDOWN", 0.3, timeout=5.0)                    # hold over, back to the zones
    assert d.set_parameters({"zones.slowdown.slowdown_ratio": 0.5})[0].successful
    assert d.set_parameters({"watchdog_timeout": 0.4})[0].successful      # re-arms the watchdog timer
    assert d.wait_state("SLOWDOWN", 0.5)
    d.position = (6.0, 0.0)
    assert d.wait_state("NORMAL", 1.0)


def test_latched_stop_needs_safety_reset(vehicle):
    d = vehicle
    assert d.set_parameters({"latch_stop": True})[0].successful
    try:
        d.position = (0.5, 0.0)
        assert d.wait_state("STOP", 0.0)
        d.position = (6.0, 0.0)
        d.spin_for(0.6)
        last = d.latest()
        assert last.state_name == "STOP" and "safety_reset" in last.reason
        assert d.reset_until("NORMAL", 1.0, timeout=10.0), d.latest()
    finally:
        assert d.set_parameters({"latch_stop": False})[0].successful


def test_arm_mode_publishes_a_speed_fraction(tmp_path):
    cfg = config_from_yaml(config_dir() / "zones_arm.yaml")
    proc = start_controller({**OVERRIDES, "zones_file": "zones_arm.yaml"}, tmp_path / "arm.log", namespace="/arm")
    d = PoseDriver(cfg, name="controller_arm_test", namespace="/arm")
    try:
        d.position = (4.0, 0.0)
        assert d.wait_state("NORMAL", 1.0, timeout=30.0), d.latest()
        assert d.node.count_publishers("cmd_vel_out") == 0
        d.position = (2.45, 0.0)                 # slowdown circle 2.5 m
        assert d.wait_state("SLOWDOWN", 0.5), d.latest()
        d.spin_for(0.1)
        assert d.arm[-1][1] == pytest.approx(0.5)
        d.pose = "reach"                         # reaching hand counts 0.3 m closer: inside S_p
        assert d.wait_state("STOP", 0.0, zone="ssm"), d.latest()
        d.spin_for(0.1)
        assert d.arm[-1][1] == 0.0
    finally:
        d.close()
        stop_process(proc)


def test_two_safety_resets_with_different_outcomes_keep_the_node_alive(vehicle):
    d = vehicle
    assert d.set_parameters({"latch_stop": True})[0].successful
    try:
        d.position = (0.5, 0.0)
        assert d.wait_state("STOP", 0.0)
        d.pub_reset.publish(d.Empty())          # refused: the person is still inside the stop zone
        d.spin_for(0.3)
        assert d.latest().state_name == "STOP", d.latest()
        d.position = (6.0, 0.0)
        d.spin_for(0.6)
        # accepted: the cause is gone (another outcome, another severity); pressed again if a stall of this test
        # process tripped the watchdog in between (a real latched stop of its own, refused while recovering)
        assert d.reset_until("NORMAL", 1.0, timeout=10.0), d.latest()
        n = len(d.status)
        d.pub_reset.publish(d.Empty())          # and once more, with nothing latched
        assert d.spin_until(lambda: len(d.status) > n + 20, 3.0), "controller stopped publishing after resets"
    finally:
        assert d.set_parameters({"latch_stop": False})[0].successful


@pytest.mark.parametrize("component", ["linear.x", "linear.y", "linear.z", "angular.x", "angular.y", "angular.z"])
def test_a_non_finite_cmd_vel_component_stops_and_zeroes_cmd_vel_out(vehicle, component):
    d = vehicle
    d.position = (6.0, 0.0)
    assert d.wait_state("NORMAL", 1.0)
    d.cmd_fault = (component, float("inf"))
    try:
        assert d.wait_state("FAULT", 0.0, zone="invalid_cmd", timeout=3.0), d.latest()
        n = len(d.cmd_out)
        assert d.spin_until(lambda: len(d.cmd_out) > n + 5, 3.0), "cmd_vel_out not published during FAULT"
        for _, m in d.cmd_out[n:]:
            twist = (m.linear.x, m.linear.y, m.linear.z, m.angular.x, m.angular.y, m.angular.z)
            assert twist == (0.0,) * 6, twist
    finally:
        d.cmd_fault = None
    assert d.wait_state("NORMAL", 1.0)


def test_cmd_vel_out_keeps_being_published_as_zero_in_every_fault(vehicle):
    d = vehicle
    assert d.wait_state("NORMAL", 1.0)
    d.mode = "not_ok"                          # perception reports a fault
    try:
        assert d.wait_state("FAULT", 0.0, zone="perception_fault", timeout=3.0), d.latest()
        n = len(d.cmd_out)
        assert d.spin_until(lambda: len(d.cmd_out) > n + 10, 3.0), "cmd_vel_out not published in FAULT"
        assert all(m.linear.x == 0.0 for _, m in d.cmd_out[n:])
    finally:
        d.mode = "ok"
    assert d.wait_state("NORMAL", 1.0)


def test_a_stale_cmd_vel_in_times_out_to_zero(vehicle):
    d = vehicle
    d.position = (6.0, 0.0)
    assert d.wait_state("NORMAL", 1.0)
    # the speed ramps back up after the previous test's stop: wait for the full command before the silence
    assert d.spin_until(lambda: d.cmd_out and d.cmd_out[-1][1].linear.x == pytest.approx(1.0), 3.0), last_cmd(d)
    d.cmd_silent = True                        # the last cmd_vel_in (1 m/s) stands; cmd_vel_timeout is 0.5 s
    try:
        n0 = len(d.status)
        d.spin_for(1.0)
        # nothing unsafe: just no fresh command. The only other way out of NORMAL here is a stall of this test
        # process longer than the watchdog (its pose stream pauses: zone "watchdog", as in CI once)
        window = [m for _, m in d.status[n0:]]
        assert window and all(m.state_name == "NORMAL" or m.zone == "watchdog" for m in window), \
            [(m.state_name, m.zone, m.reason) for m in window if m.state_name != "NORMAL"][:5]
        assert d.wait_state("NORMAL", timeout=5.0), d.latest()
        assert last_cmd(d) == 0.0
    finally:
        d.cmd_silent = False
    assert d.spin_until(lambda: d.cmd_out and d.cmd_out[-1][1].linear.x == pytest.approx(1.0), 3.0)


def test_thousands_of_people_are_refused_as_a_fault_and_the_node_keeps_cycling(vehicle):
    from pose_estimation_ros.tools.fault_injection import pose_array
    import time
    import numpy as np
    d = vehicle
    assert d.wait_state("NORMAL", 1.0)
    joints = d.people()[0][1]
    flood = pose_array(0, [(k, joints, np.full(24, 0.9)) for k in range(3000)])    # takes a while to build
    d.mode = "silent"
    try:
        flood.header.stamp.sec, flood.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
        n = len(d.status)
        d.pub_poses.publish(flood)
        assert d.spin_until(lambda: any(m.zone == "invalid" and "3000 people" in m.reason
                                        for _, m in d.status[n:]), 5.0), d.latest()
        k = len(d.status)
        assert d.spin_until(lambda: len(d.status) > k + 10, 3.0)
    finally:
        d.mode = "ok"
    assert d.wait_state("NORMAL", 1.0)
