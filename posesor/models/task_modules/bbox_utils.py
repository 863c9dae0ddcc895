# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Box format conversions of PoseSOR.

PoseSOR's box heads predict ``(cx, cy, h, w)`` (height *before* width) in
normalised image coordinates, unlike mmdet's ``(cx, cy, w, h)``.
"""
import torch
from torch import Tensor


def cxcyhw_to_xyxy(boxes: Tensor) -> Tensor:
    """Convert ``(cx, cy, h, w)`` boxes to ``(x1, y1, x2, y2)``.

    Args:
        boxes (Tensor): Boxes, shape (..., 4).

    Returns:
        Tensor: Corner boxes, shape (..., 4).
    """
    cx, cy, h, w = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
                       dim=-1)


def xyxy_to_cxcyhw(boxes: Tensor) -> Tensor:
    """Convert ``(x1, y1, x2, y2)`` boxes to ``(cx, cy, h, w)``.

    Args:
        boxes (Tensor): Corner boxes, shape (..., 4).

    Returns:
        Tensor: Centre boxes, shape (..., 4).
    """
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, y2 - y1, x2 - x1],
                       dim=-1)
