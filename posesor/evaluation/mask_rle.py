# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Exact mask overlap counts on run-length encodings (pycocotools).

SOR metrics need, per image, the pixel counts of intersection and union of
every (ground truth, prediction) pair and of the unions of all predictions
and all ground truths. Counting them on run-length encodings (RLE) in
pycocotools' C code avoids decoding the ground truth again for every
evaluation and scanning full-resolution masks once per pair.

The RLEs here are **row-major**: pycocotools encodes a Fortran-ordered
``(h, w)`` array column by column, so a C-ordered ``(n, H, W)`` stack is
handed to it, without a copy, as the Fortran-ordered ``(W, H, n)`` stack of
the transposed masks. Every count (area, intersection, union) is invariant
to transposing both masks, so the counts are those of the masks themselves;
such RLEs are only ever combined with each other, never with COCO's
column-major annotation RLEs.
"""
import warnings
from typing import Any, Dict, List, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from .functional import MaskOverlaps

RLE = Dict[str, Any]


def encode_row_major(masks: np.ndarray) -> List[RLE]:
    """Encode boolean masks as row-major RLEs.

    Args:
        masks (np.ndarray): ``(n, H, W)`` bool or {0, 1} uint8 masks.

    Returns:
        list[dict]: ``n`` RLEs (``size`` is ``[W, H]``, ``counts`` bytes).
    """
    if masks.shape[0] == 0:
        return []
    masks = np.ascontiguousarray(masks)
    if masks.dtype == bool:
        masks = masks.view(np.uint8)
    elif masks.dtype != np.uint8:
        masks = (masks > 0).astype(np.uint8)
    # C-ordered (n, H, W) == Fortran-ordered (W, H, n): no copy
    return mask_utils.encode(masks.transpose(2, 1, 0))


def decode_row_major(rles: Sequence[RLE], height: int,
                     width: int) -> np.ndarray:
    """Decode row-major RLEs of :func:`encode_row_major`.

    Args:
        rles (Sequence[dict]): ``n`` row-major RLEs.
        height (int): Mask height ``H``.
        width (int): Mask width ``W``.

    Returns:
        np.ndarray: ``(n, H, W)`` bool masks.
    """
    if len(rles) == 0:
        return np.zeros((0, height, width), dtype=bool)
    with warnings.catch_warnings():
        # pycocotools' decoder triggers numpy 2's ``__array__(copy=...)``
        # deprecation warning; the decoded masks are unaffected.
        warnings.simplefilter('ignore', DeprecationWarning)
        # the Fortran-ordered (W, H, n) stack
        stack = mask_utils.decode(list(rles))
    return stack.transpose(2, 1, 0).astype(bool)


def areas(rles: Sequence[RLE]) -> np.ndarray:
    """Foreground pixel counts of RLEs.

    Args:
        rles (Sequence[dict]): ``n`` RLEs.

    Returns:
        np.ndarray: ``(n, )`` int64.
    """
    if len(rles) == 0:
        return np.zeros(0, dtype=np.int64)
    return mask_utils.area(list(rles)).astype(np.int64)


def union_rle(rles: Sequence[RLE]) -> RLE:
    """Union of one or more RLEs of the same size."""
    return mask_utils.merge(list(rles), intersect=False)


def intersections(pred_rles: Sequence[RLE], gt_rles: Sequence[RLE],
                  pred_areas: np.ndarray) -> np.ndarray:
    """Exact intersection counts of every (GT, prediction) pair.

    pycocotools' ``iou`` with every GT flagged as a crowd returns
    ``|p & g| / |p|`` (0 when they do not meet) for all pairs in one C
    call; multiplying by the integer ``|p|`` and rounding recovers
    ``|p & g|`` exactly (the quotient is correctly rounded and both counts
    are far below 2**52).

    Args:
        pred_rles (Sequence[dict]): ``n`` prediction RLEs.
        gt_rles (Sequence[dict]): ``m`` GT RLEs of the same size.
        pred_areas (np.ndarray): ``(n, )`` areas of the predictions.

    Returns:
        np.ndarray: ``(m, n)`` int64.
    """
    m, n = len(gt_rles), len(pred_rles)
    if m == 0 or n == 0:
        return np.zeros((m, n), dtype=np.int64)
    ratio = np.asarray(
        mask_utils.iou(list(pred_rles), list(gt_rles), [1] * m),
        dtype=np.float64).reshape(n, m)
    return np.rint(ratio * pred_areas[:, None]).astype(np.int64).T


def rle_overlaps(pred_rles: Sequence[RLE], gt_rles: Sequence[RLE],
                 gt_areas: np.ndarray, gt_union: RLE, height: int,
                 width: int) -> MaskOverlaps:
    """All counts of :class:`MaskOverlaps` from row-major RLEs.

    Args:
        pred_rles (Sequence[dict]): ``n`` prediction RLEs.
        gt_rles (Sequence[dict]): ``m`` GT RLEs (``m > 0``).
        gt_areas (np.ndarray): ``(m, )`` GT areas.
        gt_union (dict): Union of the GT RLEs.
        height (int): ``H``.
        width (int): ``W``.

    Returns:
        MaskOverlaps: The counts.
    """
    pred_areas = areas(pred_rles)
    inter = intersections(pred_rles, gt_rles, pred_areas)
    union = gt_areas[:, None] + pred_areas[None, :] - inter
    gt_union_area = int(mask_utils.area(gt_union))
    if len(pred_rles) == 0:
        num_diff = gt_union_area
    else:
        pred_union = union_rle(pred_rles)
        both = mask_utils.merge([pred_union, gt_union], intersect=True)
        num_diff = (int(mask_utils.area(pred_union)) + gt_union_area -
                    2 * int(mask_utils.area(both)))
    return MaskOverlaps(inter, union, num_diff, (height, width))
