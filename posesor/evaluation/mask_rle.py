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
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

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
#: log2 of it: positions are split into word and bit with shifts and masks
_WORD_SHIFT = 6
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


def foreground_runs_all(runs: np.ndarray, offsets: np.ndarray) -> tuple:
    """Foreground runs of many decoded RLEs at once.

    Args:
        runs (np.ndarray): ``(r, )`` int64 run lengths of ``k`` RLEs,
            concatenated (each background first), e.g.
            :class:`~posesor.datasets.sor_parsing.RLERunLengths`.
        offsets (np.ndarray): ``(k + 1, )`` int64; RLE ``i`` owns
            ``runs[offsets[i]:offsets[i + 1]]``.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: int64 ``starts`` and
        ``ends`` (pixel positions within each RLE's own image) of all
        foreground runs, and ``(k + 1, )`` offsets of each RLE's runs in
        them.
    """
    lengths = np.diff(offsets)
    stops = np.cumsum(runs)
    before = np.concatenate([[0], stops])[offsets[:-1]]
    local_stops = stops - np.repeat(before, lengths)
    position = np.arange(runs.size) - np.repeat(offsets[:-1], lengths)
    foreground = position % 2 == 1
    ends = local_stops[foreground]
    fg_offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths // 2, out=fg_offsets[1:])
    return ends - runs[foreground], ends, fg_offsets


def gt_runs(rles: Sequence[RLE], height: int, width: int) -> GTRuns:
    """Foreground runs of the GT masks of one image and of their union.

    Args:
        rles (Sequence[dict]): ``m > 0`` compressed RLEs of size (H, W).
        height (int): ``H``.
        width (int): ``W``.

    Returns:
        GTRuns: The runs (:func:`gt_runs_many` of this one image).

    Raises:
        ValueError: If an RLE is malformed or runs past the image.
    """
    runs = [foreground_runs(rle, height * width) for rle in rles]
    offsets = np.zeros(len(runs) + 1, dtype=np.int64)
    np.cumsum([len(s) for s, _ in runs], out=offsets[1:])
    starts = np.concatenate([s for s, _ in runs])
    ends = np.concatenate([e for _, e in runs])
    return gt_runs_many(starts, ends, offsets, [range(len(runs))],
                        [height * width])[0]


def gt_runs_many(starts: np.ndarray, ends: np.ndarray, offsets: np.ndarray,
                 masks_of_images: Sequence[Sequence[int]],
                 num_pixels: Sequence[int]) -> List[Optional[GTRuns]]:
    """:class:`GTRuns` of many images, computed together.

    A few whole-array operations instead of a dozen small ones per image
    (:func:`gt_runs` is the one-image case): the images' runs are laid side
    by side in one pixel space (each image after the previous one plus a
    gap pixel, so that no union run crosses an image border) and merged in
    one sort.

    Args:
        starts (np.ndarray): ``(r, )`` int64 foreground run starts of ``k``
            masks (:func:`foreground_runs_all`).
        ends (np.ndarray): ``(r, )`` int64 run ends.
        offsets (np.ndarray): ``(k + 1, )`` runs of mask ``i`` are
            ``offsets[i]:offsets[i + 1]``.
        masks_of_images (Sequence[Sequence[int]]): Per image, the indices
            of its masks, most salient first.
        num_pixels (Sequence[int]): ``H * W`` of each image.

    Returns:
        list[GTRuns | None]: Per image its runs (None for an image without
        masks). They are views of shared arrays.
    """
    num_images = len(masks_of_images)
    masks_per_image = np.fromiter((len(m) for m in masks_of_images),
                                  dtype=np.int64,
                                  count=num_images)
    order = np.fromiter((i for m in masks_of_images for i in m),
                        dtype=np.int64,
                        count=int(masks_per_image.sum()))
    image_of_mask = np.repeat(np.arange(num_images), masks_per_image)
    lengths = offsets[order + 1] - offsets[order]
    mask_offsets = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(lengths, out=mask_offsets[1:])
    source = (
        np.repeat(offsets[order] - mask_offsets[:-1], lengths) +
        np.arange(mask_offsets[-1]))
    run_starts, run_ends = starts[source], ends[source]
    run_image = np.repeat(image_of_mask, lengths)
    covered = np.zeros(len(run_starts) + 1, dtype=np.int64)
    np.cumsum(run_ends - run_starts, out=covered[1:])
    areas = covered[mask_offsets[1:]] - covered[mask_offsets[:-1]]
    # union: one sort of all runs, images apart in a shared pixel space
    base = np.zeros(num_images + 1, dtype=np.int64)
    np.cumsum(np.asarray(num_pixels, dtype=np.int64) + 1, out=base[1:])
    shifted = run_starts + base[run_image]
    order_runs = np.argsort(shifted, kind='stable')
    sorted_starts = shifted[order_runs]
    sorted_ends = run_ends[order_runs] + base[run_image[order_runs]]
    new = np.ones(len(order_runs), dtype=bool)
    new[1:] = sorted_starts[1:] > np.maximum.accumulate(sorted_ends)[:-1]
    firsts = np.flatnonzero(new)
    union_image = run_image[order_runs][firsts]
    union_starts = sorted_starts[firsts] - base[union_image]
    union_ends = (np.maximum.reduceat(sorted_ends, firsts)
                  if len(firsts) else sorted_ends[:0]) - base[union_image]
    union_covered = np.zeros(len(firsts) + 1, dtype=np.int64)
    np.cumsum(union_ends - union_starts, out=union_covered[1:])
    # per image: run, mask and union-run ranges
    run_range = np.zeros(num_images + 1, dtype=np.int64)
    np.cumsum(np.bincount(run_image, minlength=num_images), out=run_range[1:])
    union_range = np.zeros(num_images + 1, dtype=np.int64)
    np.cumsum(
        np.bincount(union_image, minlength=num_images), out=union_range[1:])
    mask_range = np.zeros(num_images + 1, dtype=np.int64)
    np.cumsum(masks_per_image, out=mask_range[1:])
    # boundary positions, per image [starts, ends, union starts, union ends]
    num_runs = np.diff(run_range)
    num_union = np.diff(union_range)
    position_range = np.zeros(num_images + 1, dtype=np.int64)
    np.cumsum(2 * (num_runs + num_union), out=position_range[1:])
    positions = np.empty(position_range[-1], dtype=np.int64)
    run_slot = (
        position_range[run_image] + np.arange(len(run_starts)) -
        run_range[run_image])
    positions[run_slot] = run_starts
    positions[run_slot + num_runs[run_image]] = run_ends
    union_slot = (
        position_range[union_image] + 2 * num_runs[union_image] +
        np.arange(len(firsts)) - union_range[union_image])
    positions[union_slot] = union_starts
    positions[union_slot + num_union[union_image]] = union_ends
    word_index = positions >> _WORD_SHIFT  # positions are >= 0
    low_bits = (np.uint64(1) <<
                (positions &
                 (_WORD_BITS - 1)).astype(np.uint64)) - np.uint64(1)
    out: List[Optional[GTRuns]] = []
    for k in range(num_images):
        if masks_per_image[k] == 0:
            out.append(None)
            continue
        r0, r1 = run_range[k], run_range[k + 1]
        u0, u1 = union_range[k], union_range[k + 1]
        m0, m1 = mask_range[k], mask_range[k + 1]
        p0, p1 = position_range[k], position_range[k + 1]
        out.append(
            GTRuns(
                starts=run_starts[r0:r1],
                ends=run_ends[r0:r1],
                offsets=mask_offsets[m0:m1 + 1] - mask_offsets[m0],
                areas=areas[m0:m1],
                union_starts=union_starts[u0:u1],
                union_ends=union_ends[u0:u1],
                union_area=int(union_covered[u1] - union_covered[u0]),
                word_index=word_index[p0:p1],
                low_bits=low_bits[p0:p1]))
    return out


def _words(masks: np.ndarray) -> np.ndarray:
    """``(n, H, W)`` uint8 masks viewed as the widest unsigned words that
    divide a row (8 pixels per uint64 when ``W % 8 == 0``)."""
    for dtype in (np.uint64, np.uint32, np.uint16):
        if masks.shape[2] % np.dtype(dtype).itemsize == 0:
            return masks.view(dtype)
    return masks


def bounding_box(words: np.ndarray) -> Tuple[int, int, int, int]:
    """Tight box of the non-zero pixels of one mask.

    Rows are found with one OR-reduction of the mask viewed as wide words
    (much faster than ``cv2.boundingRect``, which visits every byte), and
    columns with a second one over those rows only.

    Args:
        words (np.ndarray): ``(H, W / b)`` a uint8 mask viewed as
            ``b``-byte words (see :func:`_words`).

    Returns:
        tuple[int, int, int, int]: ``x0, y0, x1, y1`` (ends exclusive); all
        zero for an empty mask.
    """
    # ndarray.nonzero: np.flatnonzero's wrappers cost more than the search
    rows = np.bitwise_or.reduce(words, axis=1).nonzero()[0]
    if rows.size == 0:
        return 0, 0, 0, 0
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.bitwise_or.reduce(
        words[y0:y1], axis=0).view(np.uint8).nonzero()[0]
    return int(cols[0]), y0, int(cols[-1]) + 1, y1


def pack_columns(masks: np.ndarray, extra_rows: int = 0) -> np.ndarray:
    """Bit-pack masks in COCO (column-major) pixel order.

    Only the bounding box of each mask is transposed (OpenCV's blocked
    transpose), widened to columns whose first bit starts a byte, and
    packed into its place; the rest stays zero.

    Args:
        masks (np.ndarray): ``(n, H, W)`` bool masks.
        extra_rows (int): Zero rows appended to the output (room for
            results computed from the packed masks).

    Returns:
        np.ndarray: ``(n + extra_rows, L)`` uint64, bit ``b`` of word ``w``
        is pixel ``64 w + b`` in column-major order; one zero word is
        appended so that the end position ``H * W`` can be looked up.
    """
    n, height, width = masks.shape
    if masks.dtype == bool:
        masks = masks.view(np.uint8)
    elif masks.dtype != np.uint8:
        masks = (masks > 0).astype(np.uint8)
    masks = np.ascontiguousarray(masks)
    word_bytes = _WORD_BITS // 8
    num_words = -(-height * width // _WORD_BITS) + 1
    out = np.zeros((n + extra_rows, num_words * word_bytes), dtype=np.uint8)
    words = _words(masks)
    for k in range(n):
        # box, transposition and packing of one mask while it is in cache
        x0, y0, x1, y1 = bounding_box(words[k])
        if x1 == x0:
            continue
        # columns from a multiple of 8 start on a byte boundary
        first = x0 - x0 % _BYTE_BITS
        last = min(width, x1 + (-x1) % _BYTE_BITS)
        block = np.zeros((last - first, height), dtype=np.uint8)
        # OpenCV reads and writes the strided views in place (and returns
        # a new array if it ever cannot)
        dst = block[x0 - first:x1 - first, y0:y1]
        done = cv2.transpose(masks[k, y0:y1, x0:x1], dst=dst)
        if done is not dst:
            dst[...] = done
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
    rows = pack_columns(masks, extra_rows=1)
    np.bitwise_or.reduce(rows[:n], axis=0, out=rows[n])  # union of preds
    # set bits before each word; int32 is exact below 2**31 pixels
    dtype = np.int32 if rows.shape[1] * _WORD_BITS < 2**31 else np.int64
    prefix = np.zeros((n + 1, rows.shape[1] + 1), dtype=dtype)
    np.cumsum(_popcount(rows), axis=1, dtype=dtype, out=prefix[:, 1:])
    num_runs, num_union = len(gt.starts), len(gt.union_starts)
    # predictions at the GT run boundaries, the union at the union's
    index, low = gt.word_index[:2 * num_runs], gt.low_bits[:2 * num_runs]
    # np.take: half the time of fancy indexing here
    before = (
        np.take(prefix[:n], index, axis=1) +
        _popcount(np.take(rows[:n], index, axis=1) & low))
    per_run = before[:, num_runs:] - before[:, :num_runs]
    cum = np.zeros((n, num_runs + 1), dtype=np.int64)
    np.cumsum(per_run, axis=1, out=cum[:, 1:])
    inter = (np.take(cum, gt.offsets[1:], axis=1) -
             np.take(cum, gt.offsets[:-1], axis=1)).T
    index, low = gt.word_index[2 * num_runs:], gt.low_bits[2 * num_runs:]
    union_before = (
        np.take(prefix[n], index) + _popcount(np.take(rows[n], index) & low))
    both = int((union_before[num_union:] - union_before[:num_union]).sum())
    areas_ = prefix[:, -1].astype(np.int64)
    unions = gt.areas[:, None] + areas_[None, :n] - inter
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
