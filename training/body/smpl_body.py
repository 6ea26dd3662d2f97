"""SMPL (via ``smplx``) as a :class:`~training.body.base.BodyModel`.

SMPL is licensed by the Max Planck Institute for non-commercial research only: the project never
ships or downloads it. Point :func:`training.body.registry.make_body_model` at your own copy
(``model_path=`` or the ``SMPL_MODEL_PATH`` environment variable): a ``SMPL_{NEUTRAL,MALE,FEMALE}.pkl``
file or the folder that holds it (the files from https://smpl.is.tue.mpg.de, "SMPL for Python",
renamed as ``smplx`` expects, see docs/body_models.md).

SMPL's 24 joints *are* the canonical skeleton (same names, order, parents) and SMPL's model frame is
the canonical one (y up, x = the body's left, z forward), with a T-pose rest and local rotations
relative to it, so canonical rotations feed SMPL unchanged:

* joints: ``J(beta) = J_regressor @ (v_template + shapedirs beta)`` (linear in beta), then canonical
  FK (:func:`~training.body.base.forward_kinematics`), pelvis at the origin (+ ``transl``). This is
  exactly SMPL's own joint computation (``smplx`` ``lbs`` joints minus the pelvis), written so that
  it exports to ONNX with ``shape`` as an input;
* mesh (``with_mesh=True``): ``smplx.SMPL`` with rotation matrices (``pose2rot=False``), shifted
  by the same pelvis offset; ``rest_vertices`` = the shaped template (no pose correctives), so
  re-skinning with ``skin_weights``/``bone_transforms`` matches ``vertices`` up to SMPL's pose
  blend shapes. SMPL files carry no UVs (``uvs`` is None).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from pose_estimation_ros import skeleton
from training.body.base import BodyModel, BodyOutput, forward_kinematics
from training.body.keypoints import COCO17_NAMES, VertexKeypointRegressor

__all__ = ["SMPLBody", "SMPL_ENV_VAR", "resolve_smpl_path", "SMPL_COCO_FACE_VERTICES"]

SMPL_ENV_VAR = "SMPL_MODEL_PATH"

# COCO face keypoints as SMPL vertex ids (smplx.vertex_ids["smplh"], same topology as SMPL).
SMPL_COCO_FACE_VERTICES: dict[str, int] = {
    "nose": 332, "left_eye": 2800, "right_eye": 6260, "left_ear": 583, "right_ear": 4071,
}


def resolve_smpl_path(model_path: str | os.PathLike | None, gender: str = "neutral") -> Path:
    """The SMPL ``.pkl`` file for ``model_path`` (file or folder) or ``$SMPL_MODEL_PATH``.

    Raises:
        ValueError: neither given.
        FileNotFoundError: the file (or ``SMPL_<GENDER>.pkl`` in the folder) does not exist.
    """
    if model_path is None:
        model_path = os.environ.get(SMPL_ENV_VAR) or None
    if model_path is None:
        raise ValueError(
            "the 'smpl' body model needs the SMPL model file, which this project does not ship "
            "(non-commercial licence, register at https://smpl.is.tue.mpg.de): pass "
            f"model_path=/path/to/SMPL_NEUTRAL.pkl (or its folder) or set ${SMPL_ENV_VAR}; "
            "see docs/body_models.md")
    p = Path(model_path).expanduser()
    if p.is_dir():
        p = p / f"SMPL_{gender.upper()}.pkl"
    if not p.is_file():
        raise FileNotFoundError(f"SMPL model file not found: {p}")
    return p


class SMPLBody(BodyModel):
    """SMPL through ``smplx``; ``shape`` = the first ``num_betas`` betas.

    Args:
        model_path: SMPL ``.pkl`` file or folder (default ``$SMPL_MODEL_PATH``).
        gender: "neutral" | "male" | "female" (file name when ``model_path`` is a folder).
        num_betas: shape components (at most what the file has; 10 for the public SMPL files).
        dtype: floating type.
    """

    name = "smpl"

    def __init__(self, model_path: str | os.PathLike | None = None, gender: str = "neutral",
                 num_betas: int = 10, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        try:
            import smplx
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("the 'smpl' body model needs `pip install smplx==0.1.28`") from e
        path = resolve_smpl_path(model_path, gender)
        self.model_file = str(path)
        self.smpl = smplx.SMPL(str(path), gender=gender, num_betas=num_betas, dtype=dtype,
                               create_betas=False, create_global_orient=False,
                               create_body_pose=False, create_transl=False)
        if self.smpl.J_regressor.shape[0] != skeleton.NUM_JOINTS:
            raise ValueError(f"{path}: expected a 24-joint SMPL model, J_regressor has "
                             f"{self.smpl.J_regressor.shape[0]} rows")
        parents = self.smpl.parents.tolist()
        if [int(p) for p in parents[1:]] != list(skeleton.PARENTS[1:]):
            raise ValueError(f"{path}: kinematic tree {parents} differs from the canonical skeleton")
        self.num_shape = int(self.smpl.num_betas)
        jr = self.smpl.J_regressor                                           # (24, V)
        self.register_buffer("j_template", jr @ self.smpl.v_template, persistent=False)       # (24, 3)
        jdirs = torch.einsum("jv,vdk->jdk", jr, self.smpl.shapedirs)                            # (24, 3, NB)
        self.register_buffer("j_shapedirs", jdirs.reshape(-1, self.num_shape).T.contiguous(),  # (NB, 72)
                             persistent=False)
        self._regressors: dict[str, VertexKeypointRegressor | None] = {}

    def rest_joints(self, shape: torch.Tensor) -> torch.Tensor:
        j = self.j_template + torch.matmul(shape.to(self.j_template.dtype), self.j_shapedirs).reshape(-1, 24, 3)
        return (j - j[:, :1]).to(shape.dtype)

    def joints(self, rotmats, shape, transl=None):
        j = forward_kinematics(rotmats, self.rest_joints(shape).to(rotmats.dtype))
        return j if transl is None else j + transl.unsqueeze(-2)

    def forward(self, rotmats, shape, transl=None, with_mesh=False) -> BodyOutput:
        if not with_mesh:
            return BodyOutput(joints=self.joints(rotmats, shape, transl))
        from smplx.lbs import batch_rigid_transform, blend_shapes

        s = self.smpl
        dtype = rotmats.dtype
        rot = rotmats.to(s.v_template.dtype)
        b = rot.shape[0]
        betas = shape.to(rot.dtype).expand(b, -1)
        out = s(betas=betas, global_orient=rot[:, :1], body_pose=rot[:, 1:], pose2rot=False)
        v_shaped = s.v_template + blend_shapes(betas, s.shapedirs)                     # (B, V, 3)
        j_rest = torch.matmul(s.J_regressor, v_shaped)                                 # (B, 24, 3)
        _, transforms = batch_rigid_transform(rot, j_rest, s.parents, dtype=rot.dtype)  # (B, 24, 4, 4)
        origin = j_rest[:, :1]                                                         # pelvis (unmoved)
        joints = out.joints[:, :skeleton.NUM_JOINTS] - origin
        verts = out.vertices - origin
        rest_verts = v_shaped - origin
        shift = torch.matmul(transforms[..., :3, :3], origin.unsqueeze(-1)).squeeze(-1) - origin
        transforms = transforms.clone()
        transforms[..., :3, 3] = transforms[..., :3, 3] + shift     # acts on pelvis-relative points
        if transl is not None:
            t = transl.to(verts.dtype).unsqueeze(-2)
            joints, verts = joints + t, verts + t
            transforms[..., :3, 3] = transforms[..., :3, 3] + t
        return BodyOutput(joints=joints.to(dtype), vertices=verts.to(dtype), faces=self.faces(), uvs=None,
                          rest_vertices=rest_verts.to(dtype), skin_weights=s.lbs_weights.to(dtype),
                          bone_transforms=transforms.to(dtype))

    def faces(self) -> torch.Tensor:
        """(F, 3) int64 triangles."""
        return self.smpl.faces_tensor.long()

    def keypoint_regressor(self, kind: str):
        if kind not in self._regressors:
            jr = self.smpl.J_regressor
            if kind == "canonical24":
                self._regressors[kind] = VertexKeypointRegressor(jr.clone(), skeleton.JOINT_NAMES)
            elif kind == "coco17":
                v = jr.shape[1]
                if max(SMPL_COCO_FACE_VERTICES.values()) >= v:
                    self._regressors[kind] = None
                else:
                    w = torch.zeros(len(COCO17_NAMES), v, dtype=jr.dtype, device=jr.device)
                    for k, name in enumerate(COCO17_NAMES):
                        if name in SMPL_COCO_FACE_VERTICES:
                            w[k, SMPL_COCO_FACE_VERTICES[name]] = 1.0
                        else:
                            w[k] = jr[skeleton.JOINT_NAMES.index(name)]
                    self._regressors[kind] = VertexKeypointRegressor(w, COCO17_NAMES)
            else:
                self._regressors[kind] = None
        return self._regressors[kind]
