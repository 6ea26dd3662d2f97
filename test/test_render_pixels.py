"""Renderer tests that look at pixels: coverage, exact background, texture placement, visibility,
multi-person boxes (training/render; one Anny + EGL context per test process)."""
import numpy as np
import pytest

from render_helpers import K_of, project, require_render_stack, standing

pytestmark = pytest.mark.usefixtures("torch_one_thread")
S = 224
SHIRT, TROUSERS, SKIN = (220, 30, 30), (30, 40, 220), (200, 200, 200)


@pytest.fixture(scope="module")
def r():
    return require_render_stack()


@pytest.fixture(scope="module")
def flat_texture(r):
    from training.render.appearance import AppearanceSampler
    app = AppearanceSampler(r.layout)
    return app.region_color_texture({"shirt": SHIRT, "sleeve_upper": SHIRT, "trousers_upper": TROUSERS,
                                     "trousers_lower": TROUSERS}, SKIN)


def _render(r, tex, heading=0.0, z=3.5, supersample=1, bg=None):
    from training.render.rasterizer import Light, composite
    from training.render.renderer import PersonState
    K = K_of(S, 300.0)
    posed = r.pose([PersonState(standing(heading), np.zeros(r.num_shape, np.float32),
                                np.array([0.0, 0.0, z], np.float32), tex)])
    # Flat white light: pixel colour == texture colour (ambient 1, no directional / specular).
    layers = r.draw(posed, [tex], K, S, S, Light((1.0, 1.0, 1.0), (0, 0, 1), (0, 0, 0), 0.0), supersample)
    if bg is None:
        bg = np.random.default_rng(0).integers(0, 256, (S, S, 3), dtype=np.uint8)
    return composite(layers, bg), layers, posed, K, bg


def test_body_pixels_cover_projected_joints(r, flat_texture):
    img, layers, posed, K, bg = _render(r, flat_texture)
    uv = np.rint(project(posed.joints[0].astype(np.float64), K)).astype(int)
    mask = layers.alpha > 0.5
    assert 0.03 < mask.mean() < 0.6
    torso = [0, 3, 6, 9, 12, 15, 1, 2, 4, 5, 7, 8, 16, 17, 18, 19]     # pelvis, spine, neck, head, legs, arms
    for j in torso:
        u, v = uv[j]
        assert mask[v, u], f"joint {j} at {(u, v)} is not on the body"
    assert np.all(layers.person[mask] == 0) and np.all(layers.depth[mask] > 3.0)
    assert np.all(layers.depth[~mask] == 0) and np.all(layers.person[~mask] == -1)


@pytest.mark.parametrize("supersample", [1, 2])
def test_background_exact_outside_mask(r, flat_texture, supersample):
    img, layers, _, _, bg = _render(r, flat_texture, supersample=supersample)
    empty = layers.alpha == 0
    assert empty.mean() > 0.4
    np.testing.assert_array_equal(img[empty], bg[empty])
    if supersample > 1:          # anti-aliased edge: some fractional coverage
        assert np.any((layers.alpha > 0) & (layers.alpha < 1))


def test_texture_colour_on_the_right_part(r, flat_texture):
    img, layers, posed, K, _ = _render(r, flat_texture)
    from pose_estimation_ros import skeleton
    uv = np.rint(project(posed.joints[0].astype(np.float64), K)).astype(int)
    J = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}

    def near(name, colour, dv=0):
        u, v = uv[J[name]]
        px = img[v + dv - 1:v + dv + 2, u - 1:u + 2].reshape(-1, 3).astype(int)
        return np.abs(px - colour).max(1).min() < 25

    assert near("spine2", SHIRT)                 # chest: shirt
    assert near("left_knee", TROUSERS) and near("right_knee", TROUSERS)
    assert near("head", SKIN, dv=-8)             # face
    chest = img[uv[J["spine2"], 1], uv[J["spine2"], 0]]
    assert np.abs(chest.astype(int) - SHIRT).max() < 25


def test_joint_hidden_behind_the_body_is_invisible(r, flat_texture):
    from training.render.sampler import joint_visibility
    from pose_estimation_ros import skeleton
    J = {n: i for i, n in enumerate(skeleton.JOINT_NAMES)}
    # Profile view, the person's right side towards the camera: the left side is behind the body.
    _, layers, posed, K, _ = _render(r, flat_texture, heading=np.pi / 2)
    j = posed.joints[0].astype(np.float64)
    vis = joint_visibility(project(j, K), j[:, 2], layers, 0, None)
    for n in ("left_shoulder", "left_elbow", "left_hip", "left_knee"):
        assert vis[J[n]] == 0, n
    for n in ("right_shoulder", "right_elbow", "right_hip", "right_knee", "head"):
        assert vis[J[n]] == 1, n
    # Front view: everything visible; an occluder over the pelvis hides it.
    _, layers, posed, K, _ = _render(r, flat_texture)
    j = posed.joints[0].astype(np.float64)
    uv = project(j, K)
    assert joint_visibility(uv, j[:, 2], layers, 0, None).sum() == 24
    occ = np.zeros((S, S), bool)
    u, v = np.rint(uv[0]).astype(int)
    occ[v - 3:v + 4, u - 3:u + 4] = True
    vis = joint_visibility(uv, j[:, 2], layers, 0, occ)
    assert vis[0] == 0 and vis.sum() == 23


def test_multi_person_boxes_match_masks(r):
    from training.render.sampler import RenderConfig, SampleGenerator
    from training.render.scenes import SceneRenderer
    gen = SampleGenerator(RenderConfig(random_poses=True, texture_size=256), seed=1, renderer=r)
    s = SceneRenderer(gen).scene(0, num_people=3, width=192, height=144)
    inst, boxes = s["instances"], s["boxes"]
    assert s["ids"].tolist() == [0, 1, 2] and s["image"].shape == (144, 192, 3)
    assert np.all(np.diff(s["joints3d"][:, 0, 2]) > 0)            # id 0 nearest
    for i in range(3):
        ys, xs = np.nonzero(inst == i)
        if xs.size == 0:
            assert np.all(boxes[i] == 0)
            continue
        np.testing.assert_array_equal(boxes[i], [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        fb = s["full_boxes"][i]                                    # the full body contains the visible part
        assert fb[0] <= boxes[i][0] + 1 and fb[1] <= boxes[i][1] + 1
        assert fb[2] >= boxes[i][2] - 1 and fb[3] >= boxes[i][3] - 1
    assert (inst >= 0).sum() > 0.01 * inst.size
