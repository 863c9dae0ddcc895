# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Where Pose-Driven Ranking's pose comes from, and how given keypoints
become joint tokens.

PDR reads one token per joint and instance. By default (``'predicted'``,
the reference's behaviour) these are PAI's latent joint tokens. With
``'gt'`` (the matched ground-truth keypoints: teacher forcing in training,
an oracle at test) or ``'external'`` (keypoints of an mmpose top-down
model, test only), the tokens of the joints the source gives as visible are
built from their coordinates instead:

    token = LayerNorm(joint_embed[k] + q_i + F(x, y) + P(x, y))

i.e. PAI's initial joint token (its learned joint embedding plus the
instance token ``q_i`` that PDR also reads) plus *what* is at the joint
(``F``: the neck map PAI's blocks read, bilinearly sampled) and *where* it
is (``P``: that map's positional encoding, sampled likewise), normalised
without affine parameters as PAI's output tokens are. Nothing is learned
for it, so every checkpoint accepts every source and a faithful model's
weights are unchanged. Joints the source does not give as visible (persons'
hidden joints, every joint of non-person instances and of instances no
source keypoints belong to) keep PAI's tokens.
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..task_modules.sor_targets import VISIBLE_THRESHOLD

#: PAI's own joints (the reference's behaviour).
POSE_SOURCE_PREDICTED = 'predicted'
#: The ground-truth keypoints of the matched instance.
POSE_SOURCE_GT = 'gt'
#: Keypoints given from outside (an mmpose model), at test only.
POSE_SOURCE_EXTERNAL = 'external'
#: Pose sources valid in training.
TRAIN_POSE_SOURCES = (POSE_SOURCE_PREDICTED, POSE_SOURCE_GT)
#: Pose sources valid at test.
TEST_POSE_SOURCES = (POSE_SOURCE_PREDICTED, POSE_SOURCE_GT,
                     POSE_SOURCE_EXTERNAL)


def check_pose_source(value: str, choices: Sequence[str], option: str) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming
    ``option``."""
    if value not in choices:
        raise ValueError(f'{option} must be one of {tuple(choices)}, got '
                         f'{value!r}')
    return value


def keypoint_joint_tokens(keypoints: Tensor, pai_joints: Tensor, query: Tensor,
                          joint_embed: Tensor, feat: Tensor,
                          feat_pos: Tensor) -> Tensor:
    """Joint tokens for PDR built from given keypoints (module docstring).

    Args:
        keypoints (Tensor): (B, n, K, 3) ``(x, y, visible)``, x and y
            normalised by the padded input extent (as the targets and PAI's
            regressed joints), visible in {0, 1}.
        pai_joints (Tensor): (B, n, K, C) PAI's joint tokens, kept for the
            joints that are not visible.
        query (Tensor): (B, n, C) PAI's instance tokens.
        joint_embed (Tensor): (1, K, C) PAI's learned joint embedding.
        feat (Tensor): (B, C, H, W) the neck map PAI's blocks read.
        feat_pos (Tensor): (B, C, H, W) its positional encoding.

    Returns:
        Tensor: (B, n, K, C).
    """
    if keypoints.shape[:3] != pai_joints.shape[:3]:
        raise ValueError(f'keypoints {tuple(keypoints.shape)} do not fit '
                         f'the joint tokens {tuple(pai_joints.shape)}')
    # normalised coordinates cover the map edge to edge: align_corners=False
    grid = keypoints[..., :2].to(feat.dtype) * 2.0 - 1.0  # B, n, K, 2
    sampled = F.grid_sample(
        feat + feat_pos, grid, align_corners=False,
        padding_mode='border')  # B, C, n, K
    tokens = joint_embed.unsqueeze(1) + query.unsqueeze(2) + \
        sampled.permute(0, 2, 3, 1)
    tokens = F.layer_norm(tokens, tokens.shape[-1:])
    visible = keypoints[..., 2:] > VISIBLE_THRESHOLD
    return torch.where(visible, tokens.to(pai_joints.dtype), pai_joints)
