# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank's training targets beyond PoseSOR's (:func:`~posesor.models.
task_modules.build_sor_targets`).

- Box targets come from the ground-truth masks (the reference's
  ``torchvision.ops.masks_to_boxes``), not from the annotated boxes.
- The visiting order of the matched queries is the rank order of their
  targets, which must therefore be sorted most salient first.
"""
from typing import Dict

import torch
from torch import Tensor

from posesor.models.task_modules import QuerySlots


def boxes_from_masks(masks: Tensor) -> Tensor:
    """Normalised xyxy boxes of binary masks, as the reference computes them
    (``torchvision.ops.masks_to_boxes``, i.e. the last foreground row and
    column, divided by the grid size, clamped to [0, 1]); empty masks give
    zero boxes.

    Args:
        masks (Tensor): (n, H, W) binary masks.

    Returns:
        Tensor: (n, 4) normalised xyxy.
    """
    n, height, width = masks.shape
    boxes = masks.new_zeros((n, 4), dtype=torch.float32)
    fg = masks > 0.5
    rows, cols = fg.any(dim=2), fg.any(dim=1)
    for i in range(n):
        ys, xs = torch.nonzero(rows[i]).flatten(), torch.nonzero(
            cols[i]).flatten()
        if len(ys) == 0:
            continue
        boxes[i] = torch.stack([xs.min(),
                                ys.min(),
                                xs.max(),
                                ys.max()]).float()
    scale = boxes.new_tensor([width, height, width, height])
    return (boxes / scale).clamp(0.0, 1.0)


def visiting_orders(scores: Tensor, targets: Dict,
                    matched: QuerySlots) -> Tensor:
    """The teacher-forced visiting order of every query.

    A query matched to the ground-truth instance of index t is visited at
    step t + 1; the others never (0). The instances must be sorted most
    salient first (``SORDataset`` does so).

    Args:
        scores (Tensor): (B, Nq, 1) objectness logits (shape and dtype).
        targets (dict): From :func:`~posesor.models.task_modules.
            build_sor_targets`: ``ranks`` (B, n), ``valid`` (B, n) and
            ``sample_names``.
        matched (QuerySlots): The matching (slot = ground-truth index).

    Returns:
        Tensor: (B, Nq, 1) visiting orders, 0 = not visited.

    Raises:
        ValueError: If an image's ranked instances are not in rank order.
    """
    for b, ranks in enumerate(targets['ranks']):
        valid = targets['valid'][b]
        ranked = ranks[valid & (ranks > 0)]
        if bool((ranked[1:] < ranked[:-1]).any()):
            raise ValueError(f"SeqRank: {targets['sample_names'][b]}: ground "
                             f'truth is not in rank order '
                             f'({ranks[valid].tolist()})')
    orders = torch.zeros_like(scores)
    orders[matched.batch_inds, matched.query_inds,
           0] = (matched.slot_inds + 1).to(scores.dtype)
    return orders
