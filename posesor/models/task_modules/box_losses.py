# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The box losses of PoseSOR-style heads on matched query-target pairs."""
from typing import Dict

from torch import Tensor, nn

from .bbox_utils import cxcyhw_to_xyxy, xyxy_to_cxcyhw


def box_losses(box_logits: Tensor, gt_boxes: Tensor, loss_bbox: nn.Module,
               loss_giou: nn.Module) -> Dict[str, Tensor]:
    """L1 on normalised ``(cx, cy, h, w)`` and GIoU on xyxy, as the
    references compute them (the predicted box is ``sigmoid`` of its
    logits).

    Args:
        box_logits (Tensor): (M, 4) ``(cx, cy, h, w)`` logits of the
            matched queries.
        gt_boxes (Tensor): (M, 4) normalised xyxy targets.
        loss_bbox (nn.Module): Weighted L1 loss.
        loss_giou (nn.Module): Weighted GIoU loss.

    Returns:
        dict[str, Tensor]: ``loss_bbox`` and ``loss_giou`` (zeros that keep
        the graph when M = 0).
    """
    if box_logits.shape[0] == 0:
        zero = box_logits.sum() * 0.0
        return dict(loss_bbox=zero, loss_giou=zero.clone())
    pred_xyxy = cxcyhw_to_xyxy(box_logits.float().sigmoid())
    gt_boxes = gt_boxes.to(pred_xyxy.dtype)
    return dict(
        loss_bbox=loss_bbox(
            xyxy_to_cxcyhw(pred_xyxy), xyxy_to_cxcyhw(gt_boxes)),
        loss_giou=loss_giou(pred_xyxy, gt_boxes))
