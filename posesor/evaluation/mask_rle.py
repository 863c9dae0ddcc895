# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Exact mask overlap counts on COCO run-length encodings (pycocotools).

SOR metrics need, per image, the pixel counts of intersection and union of
every (ground truth, prediction) pair and of the unions of all predictions
and all ground truths. Counting them on run-length encodings (RLE) in
pycocotools' C code needs no decoding of the ground truth at all (COCO RLE
annotations are used as they are) and no scan of full-resolution masks per
pair: only the predictions are encoded, once.

COCO RLEs run down the columns, while masks are C-ordered ``(n, H, W)``
arrays; :func:`encode` transposes each mask with OpenCV's blocked
transpose (an order of magnitude faster than a strided numpy copy) into a
buffer that *is* the Fortran-ordered ``(H, W, n)`` stack pycocotools
encodes.
"""
import warnings
from typing import Any, Dict, List, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .functional import MaskOverlaps

RLE = Dict[str, Any]
#: First character of the compressed COCO counts alphabet.
_RLE_CHAR_OFFSET = 48
#: Bits carried by one character of the compressed counts.
_RLE_CHUNK_BITS = 5
#: Continuation flag of a character (more chunks follow).
_RLE_MORE = 0x20
#: Sign flag of the last chunk of a count.
_RLE_SIGN = 0x10


def encode(masks: np.ndarray) -> List[RLE]:
    """Encode boolean masks as compressed COCO RLEs.

    Args:
        masks (np.ndarray): ``(n, H, W)`` bool or {0, 1} uint8 masks.

    Returns:
        list[dict]: ``n`` RLEs (``size`` ``[H, W]``, ``counts`` bytes).
    """
    n, height, width = masks.shape
    if n == 0:
        return []
    if masks.dtype == bool:
        masks = masks.view(np.uint8)
    elif masks.dtype != np.uint8:
        masks = (masks > 0).astype(np.uint8)
    # (n, W, H) in C order == (H, W, n) in Fortran order
    columns = np.empty((n, width, height), dtype=np.uint8)
    for k in range(n):
        columns[k] = cv2.transpose(np.ascontiguousarray(masks[k]))
    return mask_utils.encode(columns.transpose(2, 1, 0))


def decode(rles: Sequence[RLE], height: int, width: int) -> np.ndarray:
    """Decode COCO RLEs of one size into a C-ordered stack.

    Args:
        rles (Sequence[dict]): ``n`` RLEs of size ``(H, W)``.
        height (int): ``H``.
        width (int): ``W``.

    Returns:
        np.ndarray: ``(n, H, W)`` bool masks.
    """
    if len(rles) == 0:
        return np.zeros((0, height, width), dtype=bool)
    with warnings.catch_warnings():
        # pycocotools' decoder triggers numpy 2's ``__array__(copy=...)``
        # deprecation warning; the decoded masks are unaffected.
        warnings.simplefilter('ignore', DeprecationWarning)
        columns = mask_utils.decode(list(rles))  # (H, W, n), Fortran
    out = np.empty((len(rles), height, width), dtype=np.uint8)
    for k in range(len(rles)):
        out[k] = cv2.transpose(columns[:, :, k].T)
    return out.view(bool)


def counts_total(rle: RLE) -> int:
    """Sum of the run lengths of a compressed RLE (``H * W`` when valid).

    The counts string is decoded in numpy (5-bit chunks, sign extension,
    counts after the second stored as differences), without decoding the
    mask.

    Args:
        rle (dict): Compressed RLE (``counts`` bytes or str).

    Returns:
        int: The total; -1 if the string is truncated or a count is
        negative.
    """
    counts = rle['counts']
    if isinstance(counts, str):
        counts = counts.encode('ascii')
    chars = np.frombuffer(counts, dtype=np.uint8).astype(np.int64)
    chars -= _RLE_CHAR_OFFSET
    if chars.size == 0:
        return 0
    last = (chars & _RLE_MORE) == 0
    if not last[-1]:
        return -1
    ends = np.nonzero(last)[0]
    starts = np.concatenate([[0], ends[:-1] + 1])
    group = np.repeat(np.arange(len(ends)), ends - starts + 1)
    shift = _RLE_CHUNK_BITS * (np.arange(len(chars)) - starts[group])
    values = np.bitwise_or.reduceat((chars & 0x1f) << shift, starts)
    negative = (chars[ends] & _RLE_SIGN) != 0
    values[negative] |= -1 << (shift[ends][negative] + _RLE_CHUNK_BITS)
    # counts from the fourth on are stored as differences to the count two
    # before: two running sums, over odd and over even (from 2) positions
    values[1::2] = np.cumsum(values[1::2])
    values[2::2] = np.cumsum(values[2::2])
    if np.any(values < 0):
        return -1
    return int(values.sum())


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


def union(rles: Sequence[RLE]) -> RLE:
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
    """All counts of :class:`~posesor.evaluation.functional.MaskOverlaps`
    from RLEs.

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
    unions = gt_areas[:, None] + pred_areas[None, :] - inter
    gt_union_area = int(mask_utils.area(gt_union))
    if len(pred_rles) == 0:
        num_diff = gt_union_area
    else:
        pred_union = union(pred_rles)
        both = mask_utils.merge([pred_union, gt_union], intersect=True)
        num_diff = (int(mask_utils.area(pred_union)) + gt_union_area -
                    2 * int(mask_utils.area(both)))
    return MaskOverlaps(inter, unions, num_diff, (height, width))
