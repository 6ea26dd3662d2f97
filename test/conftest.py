"""Test set-up: repo root importable; DDS confined to loopback with a per-run domain id."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Every test that starts ROS nodes runs with the loopback-only Fast DDS profile and LOCALHOST discovery
# (scripts/netns_run.sh also puts the whole run in a private network namespace).
os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(ROOT / "config" / "fastdds_loopback.xml"))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
# A domain of our own so concurrent runs on one machine never see each other's nodes.
os.environ.setdefault("ROS_DOMAIN_ID", str(100 + os.getpid() % 100))


@pytest.fixture(scope="module", autouse=True)
def _no_zombie_dds_shm():
    """Before every test module: remove the Fast DDS shared-memory segments / ports of nodes that earlier tests
    killed with SIGKILL (``pose_estimation_ros.tools.shm_clean``; in-use ones are kept)."""
    from pose_estimation_ros.tools.shm_clean import clean_zombie_shm
    clean_zombie_shm()
    yield


@pytest.fixture(scope="module")
def torch_one_thread():
    """The CPU is shared: one intra-op torch thread keeps small models fast and predictable.
    Use with ``pytestmark = pytest.mark.usefixtures("torch_one_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smpl_dir(tmp_path_factory):
    """A folder with a generated SMPL-format model (never a real SMPL file)."""
    pytest.importorskip("smplx")
    from fixtures.synthetic_smpl import write_synthetic_smpl

    folder = tmp_path_factory.mktemp("synthetic_smpl")
    write_synthetic_smpl(folder)
    return folder
