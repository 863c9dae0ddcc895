# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Ground truth of a PoseSOR batch, padded and resized as the reference.

Both heads read the same targets (masks, next-target maps, keypoints, boxes,
ranks), so they are built once per batch by :func:`build_sor_targets`.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample
from torch import Tensor

# A COCO visibility flag above this marks a labelled (visible) joint.
VISIBLE_THRESHOLD = 0.5


def _canvas_shape(batch_data_samples: Sequence[DetDataSample],
                  mask_shapes: List[Tuple[int, int]]) -> Tuple[int, int]:
    """Extent of the padded input batch the targets are drawn on."""
    heights, widths = [], []
    for sample, mask_shape in zip(batch_data_samples, mask_shapes):
        shape = sample.metainfo.get('batch_input_shape',
                                    sample.metainfo.get('img_shape'))
        if shape is None:
            shape = mask_shape
        heights += [int(shape[0]), int(mask_shape[0])]
        widths += [int(shape[1]), int(mask_shape[1])]
    return max(heights), max(widths)


def _masks_tensor(sample: DetDataSample, device: torch.device) -> Tensor:
    """Ground-truth masks as a float tensor, shape (n, h, w)."""
    if 'masks' not in sample.gt_instances:
        raise KeyError(f'{_sample_name(sample)} has no ground-truth masks '
                       '(load them with LoadSORAnnotations)')
    masks = sample.gt_instances.masks
    if isinstance(masks, Tensor):
        return masks.to(device=device, dtype=torch.float32)
    if isinstance(masks, np.ndarray):
        return torch.from_numpy(masks).to(device, torch.float32)
    return masks.to_tensor(dtype=torch.float32, device=device)


def _sample_name(sample: DetDataSample) -> str:
    """Identify a sample in error messages."""
    meta = sample.metainfo
    return (f"image id {meta.get('img_id', '?')} "
            f"({meta.get('img_path', 'unknown file')})")


def build_next_targets(masks: Tensor, ranks: Tensor) -> Tensor:
    """Next-target ("partition") maps of one image.

    The next target of a ranked instance is the mask of the instance
    ranked right after it; the least salient ranked instance's next
    target is the background, ``1 - union(masks)``. Unranked instances
    (rank 0, kept with ``SORDataset(keep_unranked=True)``) are not in
    the chain and get an all-zero map, as in the reference (its chain is
    built from objects with rank > 0 and zero-padded).

    Args:
        masks (Tensor): Binary masks, shape (n, H, W).
        ranks (Tensor): Ranks, 1 = most salient, 0 = unranked, shape
            (n,).

    Returns:
        Tensor: Next-target maps aligned with ``masks``, shape (n, H, W).
    """
    next_targets = torch.zeros_like(masks)
    ranked = torch.nonzero(ranks > 0).flatten()
    if ranked.numel() == 0:
        return next_targets
    order = ranked[torch.sort(ranks[ranked], stable=True)[1]]
    union = (masks.sum(dim=0) > 0.5).to(masks.dtype)
    next_targets[order[:-1]] = masks[order[1:]]
    next_targets[order[-1]] = 1.0 - union
    return next_targets


def build_sor_targets(
        batch_data_samples: Sequence[DetDataSample],
        size: Union[int, Tuple[int, int]],
        device: Optional[torch.device] = None) -> Dict[str, Tensor]:
    """Pad the batch's ground truth and resize it as the reference does.

    Coordinates are normalised by the padded input extent (the
    ``batch_input_shape`` metainfo set by ``DetDataPreprocessor``, else
    the largest ``img_shape``); it equals ``img_shape`` when the batch
    is not padded, as in the reference. Masks smaller than that extent
    are zero-padded at the bottom and right.

    Args:
        batch_data_samples (Sequence[DetDataSample]): Samples whose
            ``gt_instances`` carry ``masks``, ``bboxes`` (xyxy pixels),
            ``ranks`` (1..n), ``keypoints`` (n, 17, 2) pixels,
            ``keypoints_visible`` (n, 17) and optionally
            ``keypoints_labelled`` (n, ) bool (False: a person without
            keypoints; all True when absent).
        size (int | tuple[int, int]): Training size ``(H, W)`` the image
            batch is resized to.
        device (torch.device, optional): Target device. Defaults to the
            device of the first sample's ``ranks``.

    Returns:
        dict[str, Tensor]: With n = the most instances in an image:

        - ``masks``: float masks resized to ``size``, (B, n, H, W);
        - ``next_targets``: next-target maps resized to ``size``,
          (B, n, H, W);
        - ``match_masks``: bool masks on the padded input extent, used
          for matching, (B, n, Hc, Wc);
        - ``keypoints``: normalised ``(x, y, visible)``, (B, n, 17, 3);
        - ``bboxes``: normalised xyxy clamped to [0, 1], (B, n, 4);
        - ``ranks``: long ranks, 0 for padding, (B, n);
        - ``pose_labelled``: bool, False for persons without keypoints
          and for padding, (B, n);
        - ``valid``: bool, True for real instances, (B, n).
    """
    if isinstance(size, int):
        size = (size, size)
    size = (int(size[0]), int(size[1]))
    if device is None:
        ranks0 = batch_data_samples[0].gt_instances.ranks
        device = ranks0.device if isinstance(ranks0, Tensor) else 'cpu'
    masks_list = [_masks_tensor(s, device) for s in batch_data_samples]
    canvas = _canvas_shape(batch_data_samples,
                           [tuple(m.shape[-2:]) for m in masks_list])
    num_imgs = len(batch_data_samples)
    n_max = max(len(m) for m in masks_list)

    match_masks = torch.zeros((num_imgs, n_max) + canvas, device=device)
    next_targets = torch.zeros_like(match_masks)
    keypoints, bboxes = None, torch.zeros((num_imgs, n_max, 4), device=device)
    ranks = torch.zeros((num_imgs, n_max), dtype=torch.long, device=device)
    valid = torch.zeros((num_imgs, n_max), dtype=torch.bool, device=device)
    pose_labelled = torch.zeros_like(valid)
    scale = torch.tensor([canvas[1], canvas[0]],
                         dtype=torch.float32,
                         device=device)
    for b, (sample, masks) in enumerate(zip(batch_data_samples, masks_list)):
        gt = sample.gt_instances
        num, height, width = masks.shape
        inst_ranks = torch.as_tensor(gt.ranks, device=device).long()
        if inst_ranks.numel() != num:
            raise ValueError(f'{_sample_name(sample)}: {num} masks '
                             f'but {inst_ranks.numel()} ranks')
        if num > 0 and int(inst_ranks.min()) < 0:
            raise ValueError(f'{_sample_name(sample)}: ranks must be '
                             f'>= 1 (0 = unranked), got '
                             f'{inst_ranks.tolist()}')
        padded = masks.new_zeros((num, ) + canvas)
        padded[:, :height, :width] = masks
        match_masks[b, :num] = padded
        next_targets[b, :num] = build_next_targets(padded, inst_ranks)
        ranks[b, :num] = inst_ranks
        valid[b, :num] = True
        pose_labelled[b, :num] = torch.as_tensor(
            gt.keypoints_labelled,
            device=device).bool() if ('keypoints_labelled' in gt) else True

        kpts = torch.as_tensor(gt.keypoints, device=device).float()
        vis = torch.as_tensor(gt.keypoints_visible, device=device)
        if keypoints is None:
            keypoints = torch.zeros((num_imgs, n_max, kpts.shape[1], 3),
                                    device=device)
        keypoints[b, :num, :, :2] = kpts[..., :2] / scale
        keypoints[b, :num, :, 2] = (vis.float() > VISIBLE_THRESHOLD).float()

        boxes = gt.bboxes
        boxes = getattr(boxes, 'tensor', boxes)
        boxes = torch.as_tensor(boxes, device=device).float()
        bboxes[b, :num] = (boxes.reshape(-1, 4) / scale.repeat(2)).clamp(
            0.0, 1.0)

    if keypoints is None:
        keypoints = torch.zeros((num_imgs, n_max, 0, 3), device=device)
    if n_max > 0:
        resized_masks = F.interpolate(
            match_masks, size=size, mode='bilinear', align_corners=False)
        resized_next = F.interpolate(
            next_targets, size=size, mode='bilinear', align_corners=False)
    else:
        resized_masks = match_masks.new_zeros((num_imgs, 0) + size)
        resized_next = resized_masks.clone()
    return dict(
        masks=resized_masks,
        next_targets=resized_next,
        match_masks=match_masks > 0.5,
        keypoints=keypoints,
        bboxes=bboxes,
        ranks=ranks,
        valid=valid,
        pose_labelled=pose_labelled,
        sample_names=[_sample_name(s) for s in batch_data_samples])
