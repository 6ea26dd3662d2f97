"""Per-frame image -> body regressor in the style of SPIN (Kolotouros et al., ICCV 2019) / HMR.

A torchvision backbone (:mod:`training.models.backbones`; no pretrained weights are ever downloaded)
gives a global-pooled feature; an
iterative error-feedback regressor refines (pose, betas, camera) from a mean-parameter buffer.
The ONNX interface is ``image -> (pose6d, betas, cam, joints)``
(:data:`pose_estimation_ros.perception.metadata.PER_FRAME_OUTPUTS`).

``joints`` is the joints-only forward of a :class:`~training.body.base.BodyModel` (``body.joints``:
no mesh, ONNX-exportable for every backend), so an exported model gives 3D joints without torch.
The default body is the skeleton (:class:`~training.body.base.SkeletonBody`, 10 shape parameters);
``betas`` is then the body's shape (``num_betas = body.num_shape``: anny 6 phenotypes, smpl its betas).
The body is a fixed model, not learned: it is left out of ``state_dict()`` (a checkpoint holds no
copy of Anny / the user's SMPL file) and rebuilt from the configuration (:func:`attach_body`).
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pose_estimation_ros import skeleton
from training.body.base import BodyModel, SkeletonBody
from training.geometry.rotations import rot6d_to_rotmat
from training.models.backbones import BACKBONES, DEFAULT_BACKBONE, build_backbone, load_backbone_weights

__all__ = ["PerFrameRegressor", "KEYPOINT_INPUTS", "widen_fc1", "mean_pose6d", "BACKBONES", "DEFAULT_BACKBONE", "MEAN_CAM", "resolve_body",
           "attach_body"]

KEYPOINT_INPUTS = ("none", "coco17")
NUM_COCO17 = 17

# Weak-perspective camera (s, tx, ty) at initialisation.
MEAN_CAM = (0.9, 0.0, 0.0)


def mean_pose6d(num_joints: int = skeleton.NUM_JOINTS) -> torch.Tensor:
    """Mean pose used to initialise both regressors, in 6D.

    Joint 0 (global orientation) is a 180 degree rotation about x, ``diag(1, -1, -1)``, so the
    y-up body template appears upright in a y-down (OpenCV) camera frame looking along +z;
    all other joints are the identity (rest T-pose).

    Returns:
        (num_joints, 6) float32 (see :mod:`training.geometry.rotations` for the 6D layout).
    """
    pose = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).repeat(num_joints, 1)
    pose[0] = torch.tensor([1.0, 0.0, 0.0, 0.0, -1.0, 0.0])
    return pose


def resolve_body(body: BodyModel | None, num_betas: int | None) -> BodyModel:
    """The body computing a model's ``joints``: ``body``, or by default the skeleton body with
    ``num_betas`` (10 when None) shape parameters.

    Raises:
        ValueError: ``num_betas`` is given and differs from ``body.num_shape``.
    """
    if body is None:
        return SkeletonBody(num_shape=10 if num_betas is None else int(num_betas))
    if num_betas is not None and int(num_betas) != body.num_shape:
        raise ValueError(f"num_betas={num_betas} but the '{body.name}' body model has {body.num_shape} "
                         f"shape parameters (set num_betas={body.num_shape} or leave it unset)")
    return body


def _drop_body_state(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + "body.")]:
        del state_dict[key]


def _fill_body_state(module: nn.Module, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
                     missing_keys: list, unexpected_keys: list, error_msgs: list) -> None:
    # The body's own (fixed) state always wins over whatever a checkpoint may hold for it.
    for key, value in module.body.state_dict().items():
        state_dict[prefix + "body." + key] = value


def attach_body(module: nn.Module, body: BodyModel) -> None:
    """Set ``module.body = body`` (frozen) and keep it out of ``module``'s state dict.

    ``state_dict()`` drops the ``body.*`` entries and ``load_state_dict()`` (strict included) takes
    them from the attached body, so checkpoints are independent of the body's internals (and never
    embed an SMPL file) and checkpoints written before the body was a submodule load unchanged.
    """
    body.requires_grad_(False)
    module.body = body
    module.register_state_dict_post_hook(_drop_body_state)
    module.register_load_state_dict_pre_hook(_fill_body_state)


class PerFrameRegressor(nn.Module):
    """SPIN-style regressor: backbone features + iterative (pose, betas, cam) refinement.

    Each iteration: ``x = fc2(relu(fc1(concat(features, pose, betas, cam))))``, then
    ``pose += dec_pose(x)``, ``betas += dec_betas(x)``, ``cam += dec_cam(x)``.
    The decoders start with tiny weights (xavier gain 0.01, as in SPIN), so an untrained model
    outputs approximately the mean parameters. ``joints = body.joints(rot6d_to_rotmat(pose6d), betas)``.

    Args:
        backbone: a name in :data:`~training.models.backbones.BACKBONES`.
        num_betas: number of shape parameters; None (default) = ``body.num_shape`` (10 for the
            default skeleton body); if given it must equal ``body.num_shape``.
        iterations: refinement iterations.
        hidden: width of fc1/fc2.
        dropout: dropout after fc1 and fc2 (training only).
        body: body model computing ``joints`` (default: :class:`~training.body.base.SkeletonBody`
            with ``num_betas`` shape parameters).
        backbone_weights: optional torchvision state dict file (e.g. ImageNet weights) for the backbone
            (:func:`~training.models.backbones.load_backbone_weights`).
        keypoint_input: ``"none"`` (image only) or ``"coco17"``: a second input, the COCO-17 keypoints of a 2D
            source in the crop (``(N, 17, 3)``: ``u, v`` in [-1, 1] and confidence, :mod:`training.spin.keypoints`),
            encoded by a small MLP (``kp_fc1``, ``kp_fc2``) whose feature joins every regressor iteration.
            The keypoint feature comes last in ``fc1``'s input, so an image-only checkpoint warm-starts it
            (:func:`widen_fc1`).
    """

    def __init__(self, backbone: str = "resnet18", num_betas: int | None = None, iterations: int = 3,
                 hidden: int = 1024, dropout: float = 0.5, body: BodyModel | None = None,
                 backbone_weights: str | Path | None = None, keypoint_input: str = "none",
                 keypoint_hidden: int = 256) -> None:
        super().__init__()
        if keypoint_input not in KEYPOINT_INPUTS:
            raise ValueError(f"keypoint_input must be one of {KEYPOINT_INPUTS}, got {keypoint_input!r}")
        body = resolve_body(body, num_betas)
        num_betas = body.num_shape
        self.backbone_name = backbone
        self.num_joints = skeleton.NUM_JOINTS
        self.num_betas = num_betas
        self.iterations = iterations
        self.encoder, feat_dim = build_backbone(backbone)
        if backbone_weights:
            load_backbone_weights(self.encoder, backbone_weights, backbone)
        npose = self.num_joints * 6
        self.feat_dim = feat_dim
        self.keypoint_input = keypoint_input
        kdim = 0
        if keypoint_input == "coco17":
            kdim = keypoint_hidden
            self.kp_fc1 = nn.Linear(NUM_COCO17 * 3, keypoint_hidden)
            self.kp_fc2 = nn.Linear(keypoint_hidden, keypoint_hidden)
        self.fc1 = nn.Linear(feat_dim + npose + num_betas + 3 + kdim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.dec_pose = nn.Linear(hidden, npose)
        self.dec_betas = nn.Linear(hidden, num_betas)
        self.dec_cam = nn.Linear(hidden, 3)
        for layer in (self.dec_pose, self.dec_betas, self.dec_cam):
            nn.init.xavier_uniform_(layer.weight, gain=0.01)
            nn.init.zeros_(layer.bias)
        self.register_buffer("init_pose", mean_pose6d(self.num_joints).reshape(1, npose))
        self.register_buffer("init_betas", torch.zeros(1, num_betas))
        self.register_buffer("init_cam", torch.tensor([MEAN_CAM], dtype=torch.float32))
        attach_body(self, body)

    def zero_init_head(self) -> None:
        """Zero the decoders: the output is then exactly the mean parameters."""
        for layer in (self.dec_pose, self.dec_betas, self.dec_cam):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def encode_keypoints(self, keypoints: torch.Tensor) -> torch.Tensor:
        """(N, 17, 3) normalised keypoints + confidence -> (N, keypoint_hidden) feature."""
        x = keypoints.reshape(keypoints.shape[0], -1)
        return torch.relu(self.kp_fc2(torch.relu(self.kp_fc1(x))))

    def forward(self, image: torch.Tensor, keypoints: torch.Tensor | None = None,
                imageless_keypoints: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Regress the body from normalised images (and keypoints).

        Args:
            image: (N, 3, H, W) float32, ImageNet-normalised RGB.
            keypoints: (N, 17, 3) for a keypoint-input model (zeros = none given).
            imageless_keypoints: (M, 17, 3), training only: M more samples that have keypoints but no image
                (their image feature is zero); their outputs follow the N image samples' (N + M rows).
        Returns:
            pose6d: (N, 24, 6) local rotations in 6D, joint 0 = global orientation (camera frame).
            betas: (N, NB) shape.
            cam: (N, 3) weak-perspective camera (s, tx, ty).
            joints: (N, 24, 3) root-relative joints in the camera-oriented frame (metres):
                ``body.joints(rot6d_to_rotmat(pose6d), betas)``.
        """
        # an empty image batch (keypoint-only training steps) skips the backbone
        feat = self.encoder(image) if image.shape[0] > 0 else image.new_zeros(0, self.feat_dim)     # (N, C)
        if imageless_keypoints is not None and imageless_keypoints.shape[0] > 0:
            if keypoints is None:
                keypoints = feat.new_zeros(feat.shape[0], NUM_COCO17, 3)
            feat = torch.cat([feat, feat.new_zeros(imageless_keypoints.shape[0], feat.shape[1])])
            keypoints = torch.cat([keypoints, imageless_keypoints])
        return self.regress(feat, keypoints)

    def regress(self, feat: torch.Tensor, keypoints: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The iterative regressor on backbone features ``feat (N, C)`` (zeros = no image) and keypoints."""
        extra = []
        if self.keypoint_input != "none":
            if keypoints is None:
                keypoints = feat.new_zeros(feat.shape[0], NUM_COCO17, 3)
            extra = [self.encode_keypoints(keypoints)]
        # Broadcast the (1, P) mean parameters to (N, P); ``0 * feat[:, :1]`` rather than
        # ``expand(N, -1)`` keeps the ONNX output shapes static except for N.
        zero = 0.0 * feat[:, :1]
        pose = self.init_pose + zero
        betas = self.init_betas + zero
        cam = self.init_cam + zero
        for _ in range(self.iterations):
            x = torch.cat([feat, pose, betas, cam, *extra], dim=1)
            x = self.drop(torch.relu(self.fc1(x)))
            x = self.drop(torch.relu(self.fc2(x)))
            pose = pose + self.dec_pose(x)
            betas = betas + self.dec_betas(x)
            cam = cam + self.dec_cam(x)
        pose6d = pose.reshape(-1, self.num_joints, 6)
        joints = self.body.joints(rot6d_to_rotmat(pose6d), betas)
        return pose6d, betas, cam, joints


def widen_fc1(state: dict[str, torch.Tensor], model: PerFrameRegressor) -> dict[str, torch.Tensor]:
    """An image-only checkpoint's state dict made loadable into a keypoint-input ``model``: ``fc1.weight`` gets
    zero columns for the keypoint feature (so the warm-started model starts as the image-only one) and the
    keypoint encoder keeps its fresh initialisation."""
    out = dict(state)
    w = out.get("fc1.weight")
    want = model.fc1.weight.shape
    if w is not None and w.shape[0] == want[0] and w.shape[1] < want[1]:
        out["fc1.weight"] = torch.cat([w, w.new_zeros(want[0], want[1] - w.shape[1])], dim=1)
        for k, v in model.state_dict().items():
            if k.startswith("kp_fc") and k not in out:
                out[k] = v
    return out
