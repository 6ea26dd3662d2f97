"""Every configuration error a node can meet at start-up exits with 2 and one line naming it (no traceback):
a misspelt parameter in a YAML file, a value out of range, a wrong type, a YAML syntax error, and a camera frame
larger than the DDS transport carries."""
import subprocess
import sys

import pytest

from pose_estimation_ros.runner import loopback_env

pytestmark = pytest.mark.ros

MODULE = {n: f"pose_estimation_ros.nodes.{n}_node" for n in ("camera", "perception", "controller")}


def run(node: str, *ros_args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", MODULE[node], "--ros-args", *ros_args], env=loopback_env(),
                          capture_output=True, text=True, timeout=60)


def yaml_file(tmp_path, node: str, body: str):
    p = tmp_path / f"{node}.yaml"
    p.write_text(f"{node}:\n  ros__parameters:\n{body}")
    return str(p)


def assert_refused(res: subprocess.CompletedProcess, *words: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines() if "ERROR:" in line]
    assert len(errors) == 1, res.stderr[-2000:]
    for w in words:
        assert w in errors[0], errors[0]


@pytest.mark.parametrize("node,body,words", [
    ("controller", "    latch_stopp: true\n", ("latch_stopp", "did you mean 'latch_stop'")),
    ("camera", "    rate_hz: 15.0\n    widht: 320\n", ("widht", "width")),
    ("perception", "    provider: cpu\n    per_frame_modle: x.onnx\n", ("per_frame_modle",)),
])
def test_a_misspelt_parameter_in_a_yaml_file_is_refused(tmp_path, node, body, words):
    assert_refused(run(node, "--params-file", yaml_file(tmp_path, node, body)), "unknown parameter", *words)


def test_out_of_range_and_wrong_type_are_refused():
    assert_refused(run("camera", "-p", "rate_hz:=1000.0"), "rate_hz", "out of range")
    assert_refused(run("controller", "-p", "watchdog_timeout:=fast"), "watchdog_timeout", "DOUBLE")


def test_a_yaml_syntax_error_is_refused(tmp_path):
    res = run("controller", "--params-file", yaml_file(tmp_path, "controller", "    latch_stop: [true\n"))
    assert_refused(res, "parse params file")


def test_a_frame_larger_than_the_transport_is_refused():
    assert_refused(run("camera", "-p", "width:=4000", "-p", "height:=3000"), "36000000 bytes", "segment")
    assert_refused(run("camera", "-p", "max_frame_bytes:=100000"), "921600 bytes")


def test_body_scale_floor_without_a_camera_height_is_refused():
    assert_refused(run("perception", "-p", "body_scale:=floor"), "body_scale floor", "floor.camera_height")
