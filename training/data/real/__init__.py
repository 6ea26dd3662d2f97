"""Loaders for the real datasets users own, into one annotation format (:class:`RealAnnotations`).

=========  ==========================================  =============================================
name       format                                      labels
=========  ==========================================  =============================================
spin_npz   SPIN / EFT ``.npz`` (imgname, center, scale,  2D keypoints; 3D joints, SMPL pose/shape when
           part [, S, pose, shape, has_smpl])           present
coco       COCO keypoint JSON (person_keypoints_*.json) 2D keypoints (17 COCO, 12 on the skeleton)
3dpw       3DPW sequence pickles (``sequenceFiles/``)   3D joints (camera frame), SMPL pose/shape, 2D
=========  ==========================================  =============================================

:func:`load_real` picks a loader by name; :class:`RealCropDataset` crops the images to the model input.
"""
from training.data.real.annotations import RealAnnotations, RealDataError, concat_annotations  # noqa: F401
from training.data.real.crops import RealCropDataset  # noqa: F401
from training.data.real.registry import REAL_LOADERS, load_real  # noqa: F401
