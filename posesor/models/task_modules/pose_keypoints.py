# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Keypoints from a pose source for the kept queries at inference.

A pose source gives, per image, an ``InstanceData`` of *pose instances*:
``query_indices`` (m,) kept decoder queries, ``keypoints`` (m, K, 2) pixels
at ``ori_shape`` and ``keypoints_visible`` (m, K). :func:`slot_keypoints`
places them in the kept queries' slots in the network's normalised frame,
where :mod:`posesor.models.heads.pose_source` turns them into PDR's joint
tokens; :func:`gt_pose_instances` builds them from the ground truth (the
oracle source).
"""
from typing import Optional, Sequence

import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from torch import Tensor

from posesor.evaluation.pose_order import match_predictions
from .query_slots import QuerySlots
from .sor_targets import VISIBLE_THRESHOLD, _masks_tensor, _sample_name


def gt_pose_instances(sample: DetDataSample,
                      pred: InstanceData) -> InstanceData:
    """Ground-truth keypoints of the predictions matched to the ground truth.

    Predictions and ground-truth instances are matched one-to-one by the
    Hungarian algorithm on mask IoU, pairs with IoU > 0.5 kept (as the
    metrics match them); unmatched predictions get no keypoints.

    Args:
        sample (DetDataSample): A test sample with ``gt_instances``
            (``masks``, ``keypoints`` (k, K, 2) and ``keypoints_visible``)
            at ``ori_shape``.
        pred (InstanceData): Its predictions at ``ori_shape``: ``masks``
            (n, H, W) and ``query_indices`` (n,).

    Returns:
        InstanceData: Pose instances (module docstring) of the matched
        predictions, on the CPU.

    Raises:
        ValueError: If the sample has no such ground truth.
    """
    gt = sample.get('gt_instances', None)
    if gt is None or not all(
            key in gt for key in ('masks', 'keypoints', 'keypoints_visible')):
        raise ValueError(
            f'{_sample_name(sample)}: model.rank_head.test_pose_source="gt" '
            'needs gt_instances with masks, keypoints and keypoints_visible '
            '(LoadSORAnnotations in the test pipeline)')
    gt_masks = _masks_tensor(sample, torch.device('cpu')) > 0.5
    ori_shape = tuple(sample.metainfo['ori_shape'][:2])
    if len(gt_masks) > 0 and tuple(gt_masks.shape[-2:]) != ori_shape:
        raise ValueError(
            f'{_sample_name(sample)}: test_pose_source="gt" needs the '
            f'ground truth at ori_shape {ori_shape}, got masks of '
            f'{tuple(gt_masks.shape[-2:])} (load the annotations after '
            'resizing, as the test pipelines do)')
    position = match_predictions(pred.masks.detach().cpu().numpy(),
                                 gt_masks.numpy())
    # pose instances are host data, as mmpose's are: slot_keypoints moves
    # them to the network's device
    cpu = torch.device('cpu')
    matched = torch.as_tensor(position >= 0, device=cpu)
    keypoints = torch.as_tensor(
        gt.keypoints, dtype=torch.float32, device=cpu)[matched]
    visible = torch.as_tensor(
        gt.keypoints_visible, dtype=torch.float32, device=cpu)[matched]
    query_indices = torch.as_tensor(
        pred.query_indices,
        device=cpu)[torch.as_tensor(position[position >= 0], device=cpu)]
    return InstanceData(
        query_indices=query_indices,
        keypoints=keypoints,
        keypoints_visible=visible)


def slot_keypoints(poses: Sequence[Optional[InstanceData]], slots: QuerySlots,
                   batch_data_samples: Sequence[DetDataSample],
                   num_keypoints: int) -> Tensor:
    """Place the pose instances of a batch in the kept queries' slots.

    Args:
        poses (Sequence[InstanceData | None]): Pose instances per image
            (module docstring); None gives an image no keypoints.
        slots (QuerySlots): The kept queries.
        batch_data_samples (Sequence[DetDataSample]): Samples with
            ``img_shape``, ``ori_shape`` (and ``batch_input_shape``).
        num_keypoints (int): Joints K.

    Returns:
        Tensor: (B, n, K, 3) ``(x, y, visible)``, x and y normalised by the
        padded input extent; all zeros (invisible) where no pose is given.

    Raises:
        ValueError: If a pose instance names a query that was not kept or
            its keypoints are not (K, 2).
    """
    device = slots.batch_inds.device
    out = torch.zeros(
        (len(batch_data_samples), slots.num_slots, num_keypoints, 3),
        device=device)
    for i, (pose, sample) in enumerate(zip(poses, batch_data_samples)):
        if pose is None or len(pose) == 0:
            continue
        name = _sample_name(sample)
        keypoints = torch.as_tensor(
            pose.keypoints, dtype=torch.float32, device=device)
        if tuple(keypoints.shape[1:]) != (num_keypoints, 2):
            raise ValueError(f'{name}: pose keypoints must be (m, '
                             f'{num_keypoints}, 2), got '
                             f'{tuple(keypoints.shape)}')
        visible = torch.as_tensor(
            pose.keypoints_visible, dtype=torch.float32, device=device)
        meta = sample.metainfo
        img_h, img_w = meta['img_shape'][:2]
        pad_h, pad_w = meta.get('batch_input_shape', (img_h, img_w))
        ori_h, ori_w = meta['ori_shape'][:2]
        # ori pixels -> input pixels -> the padded extent
        to_norm = keypoints.new_tensor(
            [img_w / (ori_w * pad_w), img_h / (ori_h * pad_h)])
        mine = slots.of_image(i)
        queries = torch.as_tensor(
            pose.query_indices, dtype=torch.long, device=device)
        hits = queries[:, None] == mine.query_inds[None, :]  # m, kept
        missing = ~hits.any(dim=1)
        if missing.any():
            raise ValueError(f'{name}: pose_instances name queries '
                             f'{queries[missing].tolist()} that were not '
                             f'kept (kept: {mine.query_inds.tolist()})')
        slot = mine.slot_inds[hits.float().argmax(dim=1)]
        out[i, slot, :, :2] = keypoints * to_norm
        out[i, slot, :, 2] = (visible > VISIBLE_THRESHOLD).float()
    return out
