"""bench.demo_clip_accuracy's scoring, on hand-made estimates (the full run is a benchmark, not a test)."""
import numpy as np
import pytest

from bench.demo_clip_accuracy import procrustes_error, score


def test_a_half_size_body_placed_closer_scores_as_computed_by_hand():
    rng = np.random.default_rng(0)
    truth = [rng.normal(0, 0.3, (24, 3)) + [0.0, 0.0, 4.0] for _ in range(5)]
    # The same poses at half size, 0.5 m too close: root-relative error = half the joint distances, PA exact.
    est = [t[:1] + 0.5 * (t - t[:1]) - [0.0, 0.0, 0.5] for t in truth]
    r = score("p", "off", [0, 1, 2, 4, 5], est, truth)
    want = np.mean([np.linalg.norm(0.5 * (t - t[:1]), axis=1).mean() for t in truth]) * 1e3
    assert r.mpjpe == pytest.approx(want)
    assert r.pa_mpjpe == pytest.approx(0.0, abs=1e-6)
    assert r.root_error == pytest.approx(500.0) and r.depth_bias == pytest.approx(-500.0)
    assert r.size_ratio == pytest.approx(0.5)
    assert r.frames == 5 and np.isfinite(r.accel_error)     # frames 0,1,2 are the one consecutive triple
    with pytest.raises(ValueError, match="no frame was estimated"):
        score("p", "off", [], [], [])


def test_procrustes_error_removes_rotation_scale_and_translation():
    rng = np.random.default_rng(1)
    g = rng.normal(size=(24, 3))
    a = np.radians(40)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    assert procrustes_error(2.0 * g @ rot.T + 1.0, g) == pytest.approx(0.0, abs=1e-9)
    assert procrustes_error(-g, g) > 0.1          # a reflection is not a rotation
