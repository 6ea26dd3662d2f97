"""Anny (NAVER, Apache-2.0 code / CC0 assets) as a :class:`~training.body.base.BodyModel`.

Anny (``pip install anny``) is a MakeHuman-derived parametric body: 104-bone rig, 13,718 vertices,
shape given by 6 *phenotype* values in [0, 1]. This backend drives it with the canonical 24-joint
skeleton (:mod:`pose_estimation_ros.skeleton`).

Frames
    Anny's world is z-up, x = the body's left, -y = forward. Canonical = ``C @ anny`` with
    ``C = [[1,0,0],[0,0,1],[0,-1,0]]`` (:data:`ANNY_TO_CANONICAL`). Every output (joints, vertices,
    bone transforms) is in canonical axes, pelvis at the origin (+ ``transl``).

Joint mapping (:data:`JOINT_TO_ANNY_BONE`)
    Each canonical joint is the head of one Anny bone: pelvis->root, hips->upperleg01,
    knees->lowerleg01, ankles->foot, feet->toe3-1 (middle-toe base), spine1/2/3->spine03/02/01,
    neck->neck01, head->head, collars->clavicle, shoulders->upperarm01, elbows->lowerarm01,
    wrists->wrist, hands->finger3-1 (middle-finger knuckle). Every other Anny bone is rigidly
    attached to the closest mapped ancestor (twist bones upperarm02/lowerarm02/upperleg02/
    lowerleg02, shoulder01, pelvis.L/R, spine05/04, neck02/03, eyes, thumb and metacarpals), except
    the four finger bases finger2..5-1 (+ their phalanges), which follow the canonical *hand*
    joint, and the five toe bases toe1..5-1 (+ phalanges), which follow the canonical *foot*.
    Fingers, toes and face therefore stay in their rest configuration relative to those joints.

Rest pose: A-pose -> canonical T-pose
    Anny's rest pose is an A-pose (upper arms ~45 deg below horizontal, elbows flexed ~45 deg with
    the forearms and hands pointing forward). Canonical rotations are defined w.r.t. a T-pose, so
    the segments of the joints in :data:`TPOSE_ALIGNED_JOINTS` (shoulders, elbows, wrists) are
    swung onto the direction of the same segment in the canonical template ``REST_JOINTS``
    (shoulder->elbow, elbow->wrist, wrist->hand) by the minimal rotation (no added twist; palms end
    up roughly facing down); a non-aligned joint keeps its rest orientation relative to its parent
    (hands follow the wrists). The rest of the body keeps Anny's rest directions (legs ~5-9 deg and
    spine up to ~20 deg off the hand-measured template; bone lengths are Anny's).
    With ``A_j`` those per-joint "A->T" world rotations (canonical axes, identity if not aligned)
    and ``a_j`` Anny's rest bone heads:

    * T-pose rest joints: ``r_k = r_p + A_p (a_k - a_p)`` (:meth:`AnnyBody.rest_joints`);
    * posed joints: canonical FK on ``r`` (:func:`~training.body.base.forward_kinematics`);
    * mesh: every Anny bone ``c`` following joint ``j`` gets the world orientation
      ``C^T (G_j A_j) C @ Rrest_c`` (``G_j`` = canonical global rotation, ``Rrest_c`` = Anny's rest
      bone orientation) through Anny's ``world-orient`` pose parameterisation, whose bone heads
      follow their parents along the rest offsets: Anny's posed bone heads are exactly the joints
      above (checked in the tests).

Shape
    ``shape`` (B, 6) = phenotype - :data:`NEUTRAL_PHENOTYPE` in the order of :data:`ANNY_PHENOTYPES`
    (gender, age, muscle, weight, height, proportions) with the default ``centered=True``, so that
    ``shape = 0`` is a gender-neutral young adult (like SMPL's zero betas); ``centered=False``
    takes the raw phenotypes. Phenotypes are clamped to [0, 1] (no extrapolation). Age anchors:
    -1/3 newborn, 0 baby, 1/3 child, 2/3 young adult, 1 old.

Joints-only forward
    :meth:`AnnyBody.joints` never calls Anny: phenotype -> blend-shape coefficients (Anny's
    piecewise-linear anchors, written with elementary ops) -> rest bone heads of the 24 mapped bones
    (Anny's linear bone-head blend shapes) -> A->T swing -> canonical FK. Pure torch, batched,
    differentiable and ONNX-exportable with the phenotype as an input (no Warp, no SVD).

Limits
    One Anny bone per canonical joint: SMPL's spine rotations bend Anny's spine at spine03/02/01
    only (spine05/04 follow the pelvis); Anny's pelvis joint is its root bone head, at hip height
    (SMPL's pelvis is ~9 cm above the hips); the hand rotation bends the four fingers at the
    knuckles together (thumb follows the wrist); the foot rotation bends the toes. Joint positions
    are Anny's rig joints, not SMPL's: expect cm-level differences in joint placement for the
    "same" body. Hands, face expressions, eyes are left at rest.
"""
from __future__ import annotations

import torch
from torch import nn

from pose_estimation_ros import skeleton
from training.body.base import BodyModel, BodyOutput, forward_kinematics
from training.body.keypoints import COCO17_NAMES, VertexKeypointRegressor

__all__ = [
    "ANNY_PHENOTYPES", "NEUTRAL_PHENOTYPE", "ANNY_TO_CANONICAL", "JOINT_TO_ANNY_BONE",
    "TPOSE_ALIGNED_JOINTS", "AnnyBody", "AnnyRestHeads", "swing_rotation", "load_anny",
]

ANNY_PHENOTYPES: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")
# Phenotype at shape = 0 (centered): mid gender, young adult (age anchor "young"), average rest.
NEUTRAL_PHENOTYPE: tuple[float, ...] = (0.5, 2.0 / 3.0, 0.5, 0.5, 0.5, 0.5)

# canonical = ANNY_TO_CANONICAL @ anny  (Anny: z up, -y forward, x left).
ANNY_TO_CANONICAL = ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))

JOINT_TO_ANNY_BONE: dict[str, str] = {
    "pelvis": "root",
    "left_hip": "upperleg01.L", "right_hip": "upperleg01.R",
    "spine1": "spine03",
    "left_knee": "lowerleg01.L", "right_knee": "lowerleg01.R",
    "spine2": "spine02",
    "left_ankle": "foot.L", "right_ankle": "foot.R",
    "spine3": "spine01",
    "left_foot": "toe3-1.L", "right_foot": "toe3-1.R",
    "neck": "neck01",
    "left_collar": "clavicle.L", "right_collar": "clavicle.R",
    "head": "head",
    "left_shoulder": "upperarm01.L", "right_shoulder": "upperarm01.R",
    "left_elbow": "lowerarm01.L", "right_elbow": "lowerarm01.R",
    "left_wrist": "wrist.L", "right_wrist": "wrist.R",
    "left_hand": "finger3-1.L", "right_hand": "finger3-1.R",
}

# Unmapped Anny bones that follow a canonical joint other than their closest mapped ancestor
# (their descendants follow them).
FOLLOW_OVERRIDES: dict[str, str] = {
    **{f"finger{i}-1.{s}": f"{side}_hand" for i in range(2, 6) for s, side in (("L", "left"), ("R", "right"))},
    **{f"toe{i}-1.{s}": f"{side}_foot" for i in range(1, 6) for s, side in (("L", "left"), ("R", "right"))},
}

# Joints whose segment (to ALIGN_CHILD) is swung from Anny's A-pose onto the canonical T-pose.
TPOSE_ALIGNED_JOINTS: tuple[str, ...] = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
# Child defining a joint's segment direction (joints with several children: spine3 -> neck).
ALIGN_CHILD: dict[str, str] = {
    skeleton.JOINT_NAMES[p]: skeleton.JOINT_NAMES[j]
    for j, p in enumerate(skeleton.PARENTS)
    if p > 0 and sum(1 for q in skeleton.PARENTS if q == p) == 1
}
ALIGN_CHILD["spine3"] = "neck"


def load_anny(dtype: torch.dtype = torch.float32, **kwargs):
    """Construct ``anny.Anny(**kwargs)`` (default rig "anny", topology "anny") in ``dtype``.

    The first construction on a machine builds Anny's model data (30-80 s on 2 busy cores) and
    caches it (~800 MB) under ``~/.cache/anny`` (``$ANNY_CACHE_DIR``); later ones load the cache
    (~1 s). Nothing is downloaded.
    """
    try:
        import anny
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("the 'anny' body model needs `pip install anny==0.6.2` "
                          "(see requirements/training.txt)") from e
    return anny.Anny(**kwargs).to(dtype=dtype)


def _skew(v: torch.Tensor) -> torch.Tensor:
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack((torch.stack((o, -z, y), -1), torch.stack((z, o, -x), -1),
                        torch.stack((-y, x, o), -1)), -2)


def swing_rotation(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Minimal rotation taking direction ``a`` onto direction ``b`` (elementary ops, ONNX-friendly).

    ``R = I + [v]x + [v]x^2 / (1 + c)`` with ``v = a^ x b^``, ``c = a^ . b^``; undefined for
    opposite directions (never the case for the A->T swings, all < 90 deg).

    Args:
        a, b: (..., 3), need not be normalised.
    Returns:
        (..., 3, 3).
    """
    a = a / torch.clamp_min(torch.linalg.vector_norm(a, dim=-1, keepdim=True), eps)
    b = b / torch.clamp_min(torch.linalg.vector_norm(b, dim=-1, keepdim=True), eps)
    ax, ay, az = a.unbind(-1)
    bx, by, bz = b.unbind(-1)
    v = torch.stack((ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx), dim=-1)
    c = (a * b).sum(-1)
    k = _skew(v)
    eye = torch.eye(3, dtype=a.dtype, device=a.device)
    return eye + k + torch.matmul(k, k) / torch.clamp_min(1.0 + c, eps)[..., None, None]


class AnnyRestHeads(nn.Module):
    """Exportable ``phenotype (B, P) -> rest bone heads (B, N, 3)`` for selected Anny bones.

    Re-implements, with elementary ops, Anny's phenotype -> blend-shape coefficient map (linear
    interpolation between uniformly spaced anchors, product masks, compact projection) and the
    linear bone-head blend shapes, for the ``bone_indices`` only. Heads are returned in canonical
    axes relative to the first selected bone (the root). Matches ``anny_model(...)["rest_bone_heads"]``
    to float precision (tested).
    """

    def __init__(self, anny_model, bone_indices: list[int]) -> None:
        super().__init__()
        from anny.models.model_data import PHENOTYPE_VARIATIONS

        m = anny_model
        if list(m.phenotype_labels) != list(ANNY_PHENOTYPES):
            raise ValueError(f"expected Anny phenotypes {ANNY_PHENOTYPES}, got {m.phenotype_labels}")
        if m.local_change_labels or m.facial_action_labels:
            raise ValueError("AnnyRestHeads supports Anny models without local changes / facial actions")
        if m.extrapolate_phenotypes:
            raise ValueError("AnnyRestHeads supports extrapolate_phenotypes=False only")
        dtype = m.dtype
        # (label, source): source = index into the phenotype input, or None for the 0.5 default.
        self.groups: list[tuple[str, int | None, float, float, int]] = []
        for feature, variations in PHENOTYPE_VARIATIONS.items():
            if feature == "race":
                continue
            anchors = m.anchors[feature].detach().double().cpu()
            n = len(variations)
            if len(anchors) != n:
                raise ValueError(f"anchors of {feature} do not match its variations")
            step = float(anchors[1] - anchors[0])
            if not torch.allclose(anchors, anchors[0] + step * torch.arange(n, dtype=torch.float64), atol=1e-9):
                raise ValueError(f"non-uniform anchors for {feature}: {anchors.tolist()}")
            src = ANNY_PHENOTYPES.index(feature) if feature in ANNY_PHENOTYPES else None
            self.groups.append((feature, src, float(anchors[0]), step, n))
        self.race_count = len(PHENOTYPE_VARIATIONS["race"])
        self.variation_order = list(PHENOTYPE_VARIATIONS.keys())
        mask = m.stacked_phenotype_blend_shapes_mask.detach().cpu()
        if not torch.all((mask == 0) | (mask == 1)):
            raise ValueError("expected a binary phenotype blend-shape mask")
        # Each blend shape weight is the product of the variation weights its mask row selects:
        # gather those (padded with a constant-1 column) instead of a dense (K, 26) product.
        width = int(mask.sum(1).max())
        nvar = mask.shape[1]
        gather = torch.full((mask.shape[0], width), nvar, dtype=torch.long)
        for r in range(mask.shape[0]):
            cols = torch.nonzero(mask[r]).flatten()
            gather[r, :cols.numel()] = cols
        self.register_buffer("gather_index", gather.to(m.template_bone_heads.device), persistent=False)
        proj = m.phenotype_blendshape_projection
        self.register_buffer("projection", None if proj is None else proj.detach().to(dtype), persistent=False)
        idx = torch.as_tensor(bone_indices, dtype=torch.long, device=m.template_bone_heads.device)
        c = torch.tensor(ANNY_TO_CANONICAL, dtype=dtype, device=idx.device)
        heads = m.template_bone_heads.detach()[idx] @ c.T                       # (N, 3)
        blend = m.bone_heads_blendshapes.detach()[:, idx] @ c.T                 # (K, N, 3)
        self.num_bones = len(bone_indices)
        self.register_buffer("template_heads", heads.to(dtype), persistent=False)
        self.register_buffer("heads_blend", blend.reshape(blend.shape[0], -1).to(dtype), persistent=False)

    def coefficients(self, phenotype: torch.Tensor) -> torch.Tensor:
        """(B, 6) phenotypes in [0, 1] -> (B, K) blend-shape coefficients (as Anny computes them)."""
        b = phenotype.shape[0]
        ones = torch.ones_like(phenotype[:, :1])
        parts: dict[str, torch.Tensor] = {"race": ones.expand(b, self.race_count) / self.race_count}
        for feature, src, a0, step, n in self.groups:
            v = phenotype[:, src:src + 1] if src is not None else 0.5 * ones
            v = torch.clamp(v, a0, a0 + step * (n - 1))
            anchors = a0 + step * torch.arange(n, dtype=phenotype.dtype, device=phenotype.device)
            parts[feature] = torch.relu(1.0 - torch.abs(v - anchors) / step)  # hat functions = lerp weights
        phens = torch.cat([parts[k] for k in self.variation_order] + [ones], dim=1)   # (B, 26 + 1)
        w = torch.prod(phens[:, self.gather_index], dim=-1)                  # (B, 624)
        if self.projection is not None:
            w = torch.matmul(w, self.projection)
        return w

    def forward(self, phenotype: torch.Tensor) -> torch.Tensor:
        coeffs = self.coefficients(phenotype)
        heads = self.template_heads + torch.matmul(coeffs, self.heads_blend).reshape(-1, self.num_bones, 3)
        return heads - heads[:, :1]


class AnnyBody(BodyModel):
    """Anny driven by the canonical skeleton; see the module docstring for the mapping.

    Args:
        anny_model: an ``anny.Anny`` instance (default: :func:`load_anny` with ``dtype``).
        centered: shape = phenotype - NEUTRAL_PHENOTYPE (True, default) or raw phenotypes.
        aligned_joints: joints whose segments are swung onto the canonical T-pose
            (default :data:`TPOSE_ALIGNED_JOINTS`; ``"all"`` = every non-root joint with a child).
        dtype: floating type of the Anny model built here (float32 default; Anny's own default is
            float64); a given ``anny_model`` keeps its dtype. Inputs of any float dtype are accepted.
        **anny_kwargs: passed to ``anny.Anny`` when ``anny_model`` is None (e.g. skinning_method).
    """

    name = "anny"
    num_shape = len(ANNY_PHENOTYPES)

    def __init__(self, anny_model=None, centered: bool = True, aligned_joints=TPOSE_ALIGNED_JOINTS,
                 dtype: torch.dtype = torch.float32, **anny_kwargs) -> None:
        super().__init__()
        if anny_model is None:
            anny_model = load_anny(dtype=dtype, **anny_kwargs)
        self.anny = anny_model
        dtype = anny_model.dtype
        self.centered = centered
        labels = list(anny_model.bone_labels)
        missing = [b for b in JOINT_TO_ANNY_BONE.values() if b not in labels]
        if missing:
            raise ValueError(f"Anny rig lacks the mapped bones {missing} (use the default 'anny' rig)")
        self.bone_indices = [labels.index(JOINT_TO_ANNY_BONE[n]) for n in skeleton.JOINT_NAMES]
        if self.bone_indices[0] != 0:
            raise ValueError("the pelvis must map to Anny's root bone (index 0)")
        self.follow = self._follow_table(labels, list(anny_model.bone_parents))
        self.rest_heads = AnnyRestHeads(anny_model, self.bone_indices)
        if aligned_joints == "all":
            aligned_joints = tuple(ALIGN_CHILD)
        bad = [j for j in aligned_joints if j not in ALIGN_CHILD]
        if bad:
            raise ValueError(f"cannot align {bad}: only non-root joints with a child ({tuple(ALIGN_CHILD)})")
        self.aligned = tuple(skeleton.JOINT_NAMES.index(j) for j in aligned_joints)
        self.align_child = {i: skeleton.JOINT_NAMES.index(ALIGN_CHILD[skeleton.JOINT_NAMES[i]])
                            for i in self.aligned}
        tdir = torch.zeros(skeleton.NUM_JOINTS, 3, dtype=torch.float64)
        for i, c in self.align_child.items():
            tdir[i] = torch.as_tensor(skeleton.REST_JOINTS[c] - skeleton.REST_JOINTS[i])
        dev = anny_model.template_vertices.device
        self.register_buffer("tpose_dirs", tdir.to(dtype=dtype, device=dev), persistent=False)
        self.register_buffer("neutral", torch.tensor(NEUTRAL_PHENOTYPE, dtype=dtype, device=dev), persistent=False)
        self.register_buffer("to_canonical", torch.tensor(ANNY_TO_CANONICAL, dtype=dtype, device=dev),
                             persistent=False)
        self.register_buffer("follow_index", torch.tensor(self.follow, dtype=torch.long, device=dev),
                             persistent=False)
        self._regressors: dict[str, VertexKeypointRegressor | None] = {}

    # ----------------------------------------------------------------------------------- mapping
    @staticmethod
    def _follow_table(labels: list[str], parents: list[int]) -> list[int]:
        """For each Anny bone, the canonical joint whose (A->T corrected) rotation it takes."""
        bone_to_joint = {JOINT_TO_ANNY_BONE[n]: i for i, n in enumerate(skeleton.JOINT_NAMES)}
        follow: list[int] = [-1] * len(labels)

        def resolve(c: int) -> int:
            if follow[c] < 0:
                name = labels[c]
                if name in bone_to_joint:
                    follow[c] = bone_to_joint[name]
                elif name in FOLLOW_OVERRIDES:
                    follow[c] = skeleton.JOINT_NAMES.index(FOLLOW_OVERRIDES[name])
                else:
                    follow[c] = resolve(parents[c]) if parents[c] >= 0 else 0
            return follow[c]

        for c in range(len(labels)):
            resolve(c)
        return follow

    def follow_names(self) -> dict[str, str]:
        """Anny bone -> canonical joint it follows (documentation / debugging)."""
        return {b: skeleton.JOINT_NAMES[j] for b, j in zip(self.anny.bone_labels, self.follow)}

    # ------------------------------------------------------------------------------------- shape
    def phenotype(self, shape: torch.Tensor) -> torch.Tensor:
        """(B, 6) shape -> (B, 6) Anny phenotypes in [0, 1] (clamped)."""
        ph = shape + self.neutral.to(shape.dtype) if self.centered else shape
        return torch.clamp(ph, 0.0, 1.0)

    def shape_from_phenotype(self, **phenotypes: float) -> torch.Tensor:
        """(1, 6) shape for named phenotypes (missing ones neutral), e.g. ``height=0.8``."""
        unknown = set(phenotypes) - set(ANNY_PHENOTYPES)
        if unknown:
            raise ValueError(f"unknown phenotypes {sorted(unknown)}; expected {ANNY_PHENOTYPES}")
        ph = torch.tensor([[phenotypes.get(n, NEUTRAL_PHENOTYPE[i]) for i, n in enumerate(ANNY_PHENOTYPES)]],
                          dtype=self.neutral.dtype, device=self.neutral.device)
        return ph - self.neutral if self.centered else ph

    def anny_rest_heads(self, shape: torch.Tensor) -> torch.Tensor:
        """Anny's own rest (A-pose) heads of the 24 mapped bones, canonical axes, root at 0: (B, 24, 3)."""
        return self.rest_heads(self.phenotype(shape))

    def tpose_rotations(self, heads: torch.Tensor) -> torch.Tensor:
        """Per-joint A->T world rotations ``A_j`` (B, 24, 3, 3) from Anny rest heads (B, 24, 3)."""
        eye = torch.eye(3, dtype=heads.dtype, device=heads.device).expand(heads.shape[0], 3, 3)
        rots: list[torch.Tensor] = []
        for j in range(skeleton.NUM_JOINTS):
            p = skeleton.PARENTS[j]
            if j in self.align_child:
                c = self.align_child[j]
                rots.append(swing_rotation(heads[:, c] - heads[:, j], self.tpose_dirs[j].expand_as(heads[:, j])))
            else:
                rots.append(rots[p] if p >= 0 else eye)
        return torch.stack(rots, dim=1)

    def _rest(self, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        heads = self.anny_rest_heads(shape)
        a = self.tpose_rotations(heads)
        rest = [heads[:, 0]]
        for k in range(1, skeleton.NUM_JOINTS):
            p = skeleton.PARENTS[k]
            rest.append(rest[p] + torch.matmul(a[:, p], (heads[:, k] - heads[:, p]).unsqueeze(-1)).squeeze(-1))
        return torch.stack(rest, dim=1), a

    def rest_joints(self, shape: torch.Tensor) -> torch.Tensor:
        """T-posed rest joints (B, 24, 3): Anny's bone lengths, arms along the canonical template.

        Computed in the model's dtype, returned in ``shape``'s.
        """
        return self._rest(shape.to(self.neutral.dtype))[0].to(shape.dtype)

    # ----------------------------------------------------------------------------------- forward
    def joints(self, rotmats, shape, transl=None):
        j = forward_kinematics(rotmats, self.rest_joints(shape).to(rotmats.dtype))
        return j if transl is None else j + transl.unsqueeze(-2)

    def _anny_pose(self, rotmats: torch.Tensor, shape: torch.Tensor):
        """Run Anny's rest model + world-orient FK. Returns (joints, rest dict, T, W) in Anny dtype."""
        m = self.anny
        md = m.dtype
        rotmats, shape = rotmats.to(md), shape.to(md)
        b = rotmats.shape[0]
        if shape.shape[0] != b:
            shape = shape.expand(b, -1)
        rest_j, a = self._rest(shape)
        joints, g = forward_kinematics(rotmats, rest_j, return_global=True)
        c = self.to_canonical.to(md)
        g_anny = c.T @ torch.matmul(g, a) @ c                                  # (B, 24, 3, 3) Anny axes
        g_bone = g_anny[:, self.follow_index]                                 # (B, 104, 3, 3)
        zeros = torch.zeros(b, 0, dtype=md, device=shape.device)
        coeffs = m._get_phenotype_blendshape_coefficients(self.phenotype(shape), zeros, zeros)
        rest = m.get_rest_model(coeffs)
        rest_poses = rest["rest_bone_poses"]
        delta = torch.zeros(b, m.bone_count, 4, 4, dtype=md, device=shape.device)
        delta[..., :3, :3] = torch.matmul(g_bone, rest_poses[..., :3, :3])
        delta[..., 3, 3] = 1.0
        transforms, poses = m.get_bone_transforms(delta, rest_poses, pose_parameterization="world-orient")
        return joints, rest, transforms, poses

    def posed_bone_heads(self, rotmats: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """Anny's own posed heads of the 24 mapped bones through Anny's FK, canonical axes: (B, 24, 3).

        Equal to :meth:`joints` (no transl) up to float error; a consistency check of the mapping.
        """
        _, _, _, poses = self._anny_pose(rotmats, shape)
        heads = poses[:, self.bone_indices, :3, 3] @ self.to_canonical.to(poses.dtype).T
        return heads.to(rotmats.dtype)

    def forward(self, rotmats, shape, transl=None, with_mesh=False) -> BodyOutput:
        if not with_mesh:
            return BodyOutput(joints=self.joints(rotmats, shape, transl))
        m = self.anny
        dtype = rotmats.dtype
        joints, rest, transforms, _ = self._anny_pose(rotmats, shape)
        b = transforms.shape[0]
        verts = m.get_skinned_vertices(rest["rest_vertices"].expand(b, -1, -1), transforms)
        c = self.to_canonical.to(verts.dtype)
        c4 = torch.eye(4, dtype=c.dtype, device=c.device)
        c4[:3, :3] = c
        verts = verts @ c.T
        rest_verts = rest["rest_vertices"].expand(b, -1, -1) @ c.T
        transforms = c4 @ transforms @ c4.T
        if transl is not None:
            t = transl.to(verts.dtype)
            joints = joints + t.unsqueeze(-2)
            verts = verts + t.unsqueeze(-2)
            transforms = transforms.clone()
            transforms[..., :3, 3] = transforms[..., :3, 3] + t.unsqueeze(-2)
        from anny.skinning.skinning import dense_bone_weights
        weights = dense_bone_weights(m.vertex_bone_weights, m.vertex_bone_indices, m.bone_count)
        return BodyOutput(joints=joints.to(dtype), vertices=verts.to(dtype), faces=self.faces(),
                          uvs=self.uvs(), rest_vertices=rest_verts.to(dtype), skin_weights=weights.to(dtype),
                          bone_transforms=transforms.to(dtype))

    # -------------------------------------------------------------------------------------- mesh
    def faces(self) -> torch.Tensor:
        """(F, 3) int64 triangles (Anny's faces, triangulated if they are quads)."""
        f = self.anny.faces
        if f.shape[-1] != 3:
            f = self.anny.get_triangular_faces()
        return f.to(device=self.neutral.device, dtype=torch.long)

    def uvs(self) -> torch.Tensor | None:
        """Per-corner UVs (F, 3, 2) of :meth:`faces` (None when Anny has no texture coordinates)."""
        m = self.anny
        if m.texture_coordinates is None or m.face_texture_coordinate_indices is None:
            return None
        idx = m.face_texture_coordinate_indices
        if idx.shape != m.faces.shape or m.faces.shape[-1] != 3:
            return None
        return m.texture_coordinates[idx.long()].to(self.neutral.device)

    def keypoint_regressor(self, kind: str):
        if kind != "coco17":
            return None
        if kind not in self._regressors:
            import anny
            reg = anny.KeypointsRegressor.coco(self.anny, labels=list(COCO17_NAMES))
            self._regressors[kind] = VertexKeypointRegressor(reg.regression_weights.detach(), COCO17_NAMES)
        r = self._regressors[kind]
        return r.to(self.neutral.device) if r is not None else None


def rest_arm_angle_deg(heads: torch.Tensor, side: str = "left") -> float:
    """Angle of the shoulder->elbow segment below horizontal in Anny rest heads (canonical axes)."""
    s = skeleton.JOINT_NAMES.index(f"{side}_shoulder")
    e = skeleton.JOINT_NAMES.index(f"{side}_elbow")
    d = heads[..., e, :] - heads[..., s, :]
    return float(torch.rad2deg(torch.atan2(-d[..., 1], torch.linalg.vector_norm(d[..., [0, 2]], dim=-1))).mean())

