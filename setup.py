"""ament_python package definition: builds with colcon on a robot and with pip here."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "pose_estimation_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        (f"share/{PACKAGE}/models", glob("models/*.onnx") + glob("models/*.json")),
        # BlazePose person-detector files, taken out of the mediapipe wheel by scripts/setup_detector.sh
        (f"share/{PACKAGE}/models/detectors", glob("models/detectors/*.tflite") + glob("models/detectors/LICENSE*")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="pose_estimation_ros maintainers",
    maintainer_email="maintainers@pose-estimation-ros.invalid",
    description="3D human pose perception and human-aware safety control for ROS 2.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            f"camera_node = {PACKAGE}.nodes.camera_node:main",
            f"perception_node = {PACKAGE}.nodes.perception_node:main",
            f"controller_node = {PACKAGE}.nodes.controller_node:main",
            f"pose_stack = {PACKAGE}.runner:main",
        ],
    },
)
