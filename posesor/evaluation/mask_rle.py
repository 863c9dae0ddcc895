# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Exact mask overlap counts from COCO run-length encodings.

SOR metrics need, per image, the pixel counts of intersection and union of
every (ground truth, prediction) pair and of the unions of all predictions
and all ground truths. Here the ground truth (GT) is never decoded: COCO RLE
annotations are turned once into the pixel ranges of their foreground runs
(:class:`GTRuns`). Predictions are transposed to the column order of COCO
RLEs (OpenCV's blocked transpose) and bit-packed; the number of predicted
pixels inside every GT run then comes from prefix popcounts of the packed
words, for all pairs at once. All counts are exact integers.
"""
import warnings
from typing import Any, Dict, List, NamedTuple, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .functional import MaskOverlaps

RLE = Dict[str, Any]

#: First character of the compressed COCO counts alphabet.
_CHAR_OFFSET = 48
#: Bits carried by one character of the compressed counts.
_CHUNK_BITS = 5
#: Payload bits of a character.
_CHUNK_MASK = 0x1f
#: Continuation flag of a character (more chunks follow).
_MORE = 0x20
#: Sign flag of the last chunk of a count.
_SIGN = 0x10
#: Bits per packed word and per byte.
_WORD_BITS = 64
_BYTE_BITS = 8


class GTRuns(NamedTuple):
    """Foreground runs of the GT masks of one image, in COCO (column-major)
    pixel order.

    Attributes:
        starts (np.ndarray): ``(R, )`` int64 first pixel of each run.
        ends (np.ndarray): ``(R, )`` int64 pixel after each run.
        offsets (np.ndarray): ``(m + 1, )`` runs of GT ``i`` are
            ``offsets[i]:offsets[i + 1]``.
        areas (np.ndarray): ``(m, )`` int64 GT areas.
        union_starts (np.ndarray): Runs of the union of the GTs.
        union_ends (np.ndarray): Ends of those runs.
        union_area (int): Area of the union.
        word_index (np.ndarray): ``(2 R + 2 U, )`` packed word holding
            each of ``starts``, ``ends``, ``union_starts``, ``union_ends``
            (in that order).
        low_bits (np.ndarray): ``(2 R + 2 U, )`` uint64 masks of the bits
            of that word before the position.
    """
    starts: np.ndarray
    ends: np.ndarray
    offsets: np.ndarray
    areas: np.ndarray
    union_starts: np.ndarray
    union_ends: np.ndarray
    union_area: int
    word_index: np.ndarray
    low_bits: np.ndarray


def rle_counts(rle: RLE) -> np.ndarray:
    """Run lengths of a compressed COCO RLE, decoded in numpy.

    Each count is stored in 5-bit chunks (with a continuation and, in the
    last chunk, a sign flag); counts from the fourth on are differences to
    the count two before.

    Args:
        rle (dict): Compressed RLE (``counts`` bytes or str).

    Returns:
        np.ndarray: int64 run lengths, background first.

    Raises:
        ValueError: If the string is truncated or a count is negative.
    """
    counts = rle['counts']
    if isinstance(counts, str):
        counts = counts.encode('ascii')
    chars = np.frombuffer(counts, dtype=np.uint8).astype(np.int64)
    if chars.size == 0:
        return np.zeros(0, dtype=np.int64)
    chars -= _CHAR_OFFSET
    last = (chars & _MORE) == 0
    if not last[-1]:
        raise ValueError('RLE counts string is truncated')
    ends = np.nonzero(last)[0]
    starts = np.concatenate([[0], ends[:-1] + 1])
    first = np.repeat(starts, ends - starts + 1)
    shift = _CHUNK_BITS * (np.arange(len(chars)) - first)
    values = np.bitwise_or.reduceat((chars & _CHUNK_MASK) << shift, starts)
    negative = (chars[ends] & _SIGN) != 0
    values[negative] |= -1 << (shift[ends][negative] + _CHUNK_BITS)
    values[1::2] = np.cumsum(values[1::2])
    values[2::2] = np.cumsum(values[2::2])
    if np.any(values < 0):
        raise ValueError('RLE has a negative run length')
    return values


def foreground_runs(rle: RLE, num_pixels: int) -> tuple:
    """``(starts, ends)`` of the foreground runs of a compressed RLE.

    Args:
        rle (dict): Compressed RLE.
        num_pixels (int): ``H * W``.

    Returns:
        tuple[np.ndarray, np.ndarray]: int64 run starts and ends.

    Raises:
        ValueError: If the RLE is malformed or runs past ``num_pixels``.
    """
    counts = rle_counts(rle)
    stops = np.cumsum(counts)
    if stops.size and stops[-1] > num_pixels:
        raise ValueError(f'RLE counts cover {int(stops[-1])} pixels of an '
                         f'image of {num_pixels}')
    ends = stops[1::2]
    return ends - counts[1::2], ends


def gt_runs(rles: Sequence[RLE], height: int, width: int) -> GTRuns:
    """Foreground runs of the GT masks of one image and of their union.

    Args:
        rles (Sequence[dict]): ``m > 0`` compressed RLEs of size (H, W).
        height (int): ``H``.
        width (int): ``W``.

    Returns:
        GTRuns: The runs.

    Raises:
        ValueError: If an RLE is malformed or runs past the image.
    """
    runs = [foreground_runs(rle, height * width) for rle in rles]
    starts = np.concatenate([s for s, _ in runs])
    ends = np.concatenate([e for _, e in runs])
    offsets = np.zeros(len(runs) + 1, dtype=np.int64)
    np.cumsum([len(s) for s, _ in runs], out=offsets[1:])
    lengths = np.concatenate([[0], np.cumsum(ends - starts)])
    # union: merge the runs of all GTs, sorted by start
    order = np.argsort(starts, kind='stable')
    sorted_starts, sorted_ends = starts[order], ends[order]
    reach = np.maximum.accumulate(sorted_ends)
    new = np.ones(len(order), dtype=bool)
    new[1:] = sorted_starts[1:] > reach[:-1]
    firsts = np.nonzero(new)[0]
    union_starts = sorted_starts[firsts]
    union_ends = np.maximum.reduceat(
        sorted_ends, firsts) if len(firsts) else sorted_ends[:0]
    positions = np.concatenate([starts, ends, union_starts, union_ends])
    low = (positions % _WORD_BITS).astype(np.uint64)
    return GTRuns(
        starts=starts,
        ends=ends,
        offsets=offsets,
        areas=lengths[offsets[1:]] - lengths[offsets[:-1]],
        union_starts=union_starts,
        union_ends=union_ends,
        union_area=int((union_ends - union_starts).sum()),
        word_index=positions // _WORD_BITS,
        low_bits=(np.uint64(1) << low) - np.uint64(1))


def pack_columns(masks: np.ndarray) -> np.ndarray:
    """Bit-pack masks in COCO (column-major) pixel order.

    Only the bounding box of each mask is transposed (OpenCV's blocked
    transpose), widened to columns whose first bit starts a byte, and
    packed into its place; the rest stays zero.

    Args:
        masks (np.ndarray): ``(n, H, W)`` bool masks.

    Returns:
        np.ndarray: ``(n, L)`` uint64, bit ``b`` of word ``w`` is pixel
        ``64 w + b`` in column-major order; one zero word is appended so
        that the end position ``H * W`` can be looked up.
    """
    n, height, width = masks.shape
    if masks.dtype == bool:
        masks = masks.view(np.uint8)
    elif masks.dtype != np.uint8:
        masks = (masks > 0).astype(np.uint8)
    word_bytes = _WORD_BITS // 8
    num_words = -(-height * width // _WORD_BITS) + 1
    out = np.zeros((n, num_words * word_bytes), dtype=np.uint8)
    for k in range(n):
        mask = np.ascontiguousarray(masks[k])
        x0, y0, box_w, box_h = cv2.boundingRect(mask)  # of non-zero pixels
        if box_w == 0:
            continue
        x1, y1 = x0 + box_w, y0 + box_h
        # columns from a multiple of 8 start on a byte boundary
        first = x0 - x0 % _BYTE_BITS
        last = min(width, x1 + (-x1) % _BYTE_BITS)
        block = np.zeros((last - first, height), dtype=np.uint8)
        block[x0 - first:x1 - first,
              y0:y1] = cv2.transpose(np.ascontiguousarray(mask[y0:y1, x0:x1]))
        packed = np.packbits(block.reshape(-1), bitorder='little')
        start = first * height // _BYTE_BITS
        out[k, start:start + packed.size] = packed
    return out.view('<u8')


def _transposed(masks: np.ndarray) -> np.ndarray:
    """``(n, W, H)`` uint8 C-ordered transposes of ``(n, H, W)`` masks."""
    n, height, width = masks.shape
    if masks.dtype == bool:
        masks = masks.view(np.uint8)
    elif masks.dtype != np.uint8:
        masks = (masks > 0).astype(np.uint8)
    columns = np.empty((n, width, height), dtype=np.uint8)
    for k in range(n):
        cv2.transpose(np.ascontiguousarray(masks[k]), dst=columns[k])
    return columns


def _popcount(words: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 word (uint8)."""
    if hasattr(np, 'bitwise_count'):  # numpy >= 2.0
        return np.bitwise_count(words)
    as_bytes = words[..., None].view(np.uint8)  # pragma: no cover
    return np.unpackbits(as_bytes, axis=-1).sum(axis=-1, dtype=np.uint8)


def overlaps_with_runs(masks: np.ndarray, gt: GTRuns) -> MaskOverlaps:
    """All counts of :class:`~posesor.evaluation.functional.MaskOverlaps`
    of predicted masks against GT runs.

    The predictions and their union are bit-packed in column order; the
    set bits before every run boundary are a prefix sum of word popcounts
    plus the popcount of the masked boundary word, for all rows and
    boundaries at once.

    Args:
        masks (np.ndarray): ``(n, H, W)`` bool predicted masks.
        gt (GTRuns): Runs of the ``m`` GTs of the same image.

    Returns:
        MaskOverlaps: The counts.
    """
    n, height, width = masks.shape
    m = len(gt.areas)
    if n == 0:
        inter = np.zeros((m, 0), dtype=np.int64)
        return MaskOverlaps(inter, inter.copy(), gt.union_area,
                            (height, width))
    words = pack_columns(masks)
    rows = np.concatenate(
        [words, np.bitwise_or.reduce(words, axis=0, keepdims=True)])
    prefix = np.zeros((n + 1, rows.shape[1] + 1), dtype=np.int64)
    np.cumsum(_popcount(rows), axis=1, dtype=np.int64, out=prefix[:, 1:])
    before = prefix[:, gt.word_index] + _popcount(rows[:, gt.word_index]
                                                  & gt.low_bits)
    num_runs, num_union = len(gt.starts), len(gt.union_starts)
    per_run = before[:n, num_runs:2 * num_runs] - before[:n, :num_runs]
    cum = np.zeros((n, num_runs + 1), dtype=np.int64)
    np.cumsum(per_run, axis=1, out=cum[:, 1:])
    inter = (cum[:, gt.offsets[1:]] - cum[:, gt.offsets[:-1]]).T
    areas_ = prefix[:, -1]
    unions = gt.areas[:, None] + areas_[None, :n] - inter
    union_first = 2 * num_runs
    both = int((before[n, union_first + num_union:] -
                before[n, union_first:union_first + num_union]).sum())
    num_diff = int(areas_[n]) + gt.union_area - 2 * both
    return MaskOverlaps(inter, unions, num_diff, (height, width))


def encode(masks: np.ndarray) -> List[RLE]:
    """Encode boolean masks as compressed COCO RLEs.

    Args:
        masks (np.ndarray): ``(n, H, W)`` bool or {0, 1} uint8 masks.

    Returns:
        list[dict]: ``n`` RLEs (``size`` ``[H, W]``, ``counts`` bytes).
    """
    if masks.shape[0] == 0:
        return []
    # (n, W, H) in C order == (H, W, n) in Fortran order
    return mask_utils.encode(_transposed(masks).transpose(2, 1, 0))


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
        cv2.transpose(columns[:, :, k].T, dst=out[k])
    return out.view(bool)
