# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Salient object ranking metrics, one pure function per metric.

All functions take predicted masks ``(n, H, W)`` ordered most salient first
and ground-truth (GT) masks ``(m, H, W)`` ordered most salient first, at the
original image resolution. Masks are numpy arrays or torch tensors; boolean
masks are used as they are, any other dtype is binarised at ``> 0.5``.
``m == 0`` raises :class:`ValueError`; ``n == 0`` (no detection) is legal.

The same metric names are used in the literature for incompatible
definitions. Each function therefore takes a ``convention``:

``'posesor'`` (default)
    The PoseSOR reference (``evaluation/metrics.py`` of
    ``github:guanhuankang/ECCV24PoseSOR``), which produced the paper's
    tables. Matching is Hungarian on ``1 - IoU`` with pairs kept when
    ``IoU > 0.5``. Per-image NaN counts as 0 in the dataset mean (see
    :data:`NAN_POLICY`).
``'irsr'``
    SA-SOR of IRSR (Liu et al., "Instance-level relative saliency ranking
    with graph reasoning", TPAMI 2021), ``metric/SA-SOR.py`` of
    ``github:dragonlee258079/Saliency-Ranking`` (the PoseSOR repository
    ships a copy as ``misc/sasor.py``). Greedy per-GT matching at
    ``IoU >= 0.5``; images with a single GT are left out of the mean.
``'assr'``
    SOR and MAE of ASSR (Siris et al., "Inferring attention shift ranks of
    objects for image saliency", CVPR 2020),
    ``evaluation/evaluate.py`` of
    ``github:SirisAvishek/Attention_Shift_Ranks``.
    Both work on grey-level rank maps (rank 1 = 255, then 229, 204, 178,
    153).

IoU, everywhere except the ``irsr`` convention, is
``|p & g| / (|p | g| + 1e-6)`` from exact integer pixel counts
(:class:`MaskOverlaps`), computed for all pairs at once on bit-packed masks
here, or on run-length encodings by :mod:`posesor.evaluation.mask_rle`;
the ``irsr`` convention divides the same counts in float32 as IRSR does.
"""
import bisect
import math
import warnings
from typing import (Dict, Iterable, List, NamedTuple, Optional, Sequence,
                    Tuple, Union)

import numpy as np
from scipy.optimize import linear_sum_assignment

try:  # torch is optional for these pure functions
    import torch
except ImportError:  # pragma: no cover
    torch = None

ArrayLike = Union[np.ndarray, 'torch.Tensor']

#: Threshold that binarises non-boolean masks (``mask > 0.5``).
MASK_THRESHOLD = 0.5
#: Added to the union of IoU (reference ``metrics.py``).
IOU_EPS = 1e-6
#: A GT and a prediction match when their IoU is above this value.
MATCH_IOU_THRESHOLD = 0.5
#: Denominator epsilon of the joint error (reference ``metrics.jae``).
JAE_EPS = 1e-6
#: GT joints with a visibility flag above this count for JAE.
KEYPOINT_VISIBLE_THRESHOLD = 0.5
#: Grey levels of the ASSR rank maps for ranks 1..5 (``RANK_VALS`` in
#: ASSR's ``generate_saliency_map.py``; the GT maps use the same levels,
#: 255 x the rank-order values 1.0, 0.9, ..., 0.6).
ASSR_RANK_LEVELS = (255, 229, 204, 178, 153)
#: ASSR paints at most this many predictions into its rank map.
ASSR_MAX_PRED_RANKS = 5
#: ASSR counts a GT object as predicted when more than this fraction of
#: its pixels is non-zero in the predicted rank map (``SEG_THRESHOLD``).
ASSR_SEG_THRESHOLD = 0.5
#: Largest grey value of a rank map.
MAX_GREY = 255
#: Memory bound of the broadcast intersection array of
#: :func:`mask_overlaps` before it is split over GT rows.
MAX_OVERLAP_BYTES = 64 * 2**20

#: IRSR's script counts pixels and divides in float32; integer counts up
#: to this value are exact in float32.
FLOAT32_EXACT_INT = 2**24

METRICS = ('sa_sor', 'sor', 'mae', 'jae')
CONVENTIONS = ('posesor', 'irsr', 'assr')
#: Conventions implemented for each metric (the first is the default).
SUPPORTED_CONVENTIONS = {
    'sa_sor': ('posesor', 'irsr'),
    'sor': ('posesor', 'assr'),
    'mae': ('posesor', 'assr'),
    'jae': ('posesor', ),
}
#: How a per-image NaN enters the dataset mean of each (metric,
#: convention): ``'zero'`` counts the image with value 0 (PoseSOR's
#: ``Metrics.aggregate``), ``'skip'`` leaves the image out (IRSR's
#: ``evalu``, ASSR's ``extract_spr_value``, PoseSOR's ``None`` for JAE).
NAN_POLICY = {
    ('sa_sor', 'posesor'): 'zero',
    ('sor', 'posesor'): 'zero',
    ('mae', 'posesor'): 'zero',
    ('jae', 'posesor'): 'skip',
    ('sa_sor', 'irsr'): 'skip',
    ('sor', 'assr'): 'skip',
    ('mae', 'assr'): 'zero',
}

#: (metric, convention) pairs that need the dense masks themselves (rank
#: maps); all others are computed from :class:`MaskOverlaps` alone.
DENSE_PAIRS = (('sor', 'assr'), ('mae', 'assr'))


class MaskOverlaps(NamedTuple):
    """Pixel counts that the mask-based SOR metrics are computed from.

    Attributes:
        inter (np.ndarray): ``(m, n)`` int64 intersections (row = GT).
        union (np.ndarray): ``(m, n)`` int64 unions.
        num_diff (int): Pixels where the union of all predictions differs
            from the union of all GTs (PoseSOR's MAE numerator).
        image_size (tuple[int, int]): ``(H, W)``.
    """
    inter: np.ndarray
    union: np.ndarray
    num_diff: int
    image_size: Tuple[int, int]


# --------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------
def to_binary_masks(masks: ArrayLike,
                    name: str = 'masks',
                    shape: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Convert masks to a boolean numpy array.

    Args:
        masks (np.ndarray | torch.Tensor): ``(k, H, W)`` masks; bool masks
            are kept, others are binarised at ``> 0.5``. An empty input of
            any shape (``k == 0``) is accepted when ``shape`` is given.
        name (str): Name used in error messages.
        shape (tuple[int, int], optional): Expected ``(H, W)``.

    Returns:
        np.ndarray: ``(k, H, W)`` bool array.

    Raises:
        ValueError: If the masks are not 3-dimensional or their size
            differs from ``shape``.
    """
    if torch is not None and isinstance(masks, torch.Tensor):
        masks = masks.detach().cpu().numpy()
    masks = np.asarray(masks)
    if shape is not None and (masks.ndim != 3 or masks.shape[0] == 0) \
            and masks.size == 0:
        masks = np.zeros((0, ) + tuple(shape), dtype=bool)
    if masks.ndim != 3:
        raise ValueError(f'{name} must have shape (k, H, W), got '
                         f'{tuple(masks.shape)}')
    if shape is not None and tuple(masks.shape[1:]) != tuple(shape):
        raise ValueError(f'{name} have size {tuple(masks.shape[1:])}, '
                         f'expected {tuple(shape)}')
    if masks.dtype != bool:
        masks = masks > MASK_THRESHOLD
    return masks


def _prepare(pred_masks: ArrayLike,
             gt_masks: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Binarise both mask stacks and check ``m > 0`` and equal sizes."""
    gt = to_binary_masks(gt_masks, 'gt_masks')
    if gt.shape[0] == 0:
        raise ValueError('gt_masks is empty (m == 0): SOR metrics are '
                         'undefined for an image without salient objects')
    pred = to_binary_masks(pred_masks, 'pred_masks', shape=gt.shape[1:])
    return pred, gt


def _check_convention(metric: str, convention: str) -> None:
    if convention not in SUPPORTED_CONVENTIONS[metric]:
        raise ValueError(
            f'{metric} has no convention {convention!r}; choose one of '
            f'{SUPPORTED_CONVENTIONS[metric]}')


# --------------------------------------------------------------------------
# overlaps and matching
# --------------------------------------------------------------------------
def pack_masks(masks: np.ndarray) -> np.ndarray:
    """Pack boolean masks into 64-bit words (8 pixels per byte).

    Args:
        masks (np.ndarray): ``(k, H, W)`` bool masks.

    Returns:
        np.ndarray: ``(k, ceil(H * W / 64))`` uint64; padding bits are 0.
    """
    k = masks.shape[0]
    packed = np.packbits(masks.reshape(k, -1), axis=1)
    pad = (-packed.shape[1]) % np.dtype(np.uint64).itemsize
    if pad:
        packed = np.pad(packed, ((0, 0), (0, pad)))
    return np.ascontiguousarray(packed).view(np.uint64)


def popcount(words: np.ndarray) -> np.ndarray:
    """Number of set bits along the last axis of a uint64 array.

    Args:
        words (np.ndarray): ``(..., L)`` uint64.

    Returns:
        np.ndarray: ``(...)`` int64 counts.
    """
    if hasattr(np, 'bitwise_count'):  # numpy >= 2.0
        return np.bitwise_count(words).sum(axis=-1, dtype=np.int64)
    as_bytes = words.view(np.uint8)  # pragma: no cover - numpy 1.x
    return _BYTE_POPCOUNT[as_bytes].sum(axis=-1, dtype=np.int64)


#: Set bits of every byte value (popcount fallback for numpy < 2.0).
_BYTE_POPCOUNT = np.unpackbits(
    np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(axis=1)


def mask_overlaps(pred_masks: ArrayLike,
                  gt_masks: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """Pixel counts of intersection and union for every (GT, pred) pair.

    The masks are bit-packed and every pairwise intersection is counted in
    one broadcast ``AND`` + popcount over ``(m, n, H * W / 64)`` words
    (split over GT rows only when that array would exceed
    :data:`MAX_OVERLAP_BYTES`). The counts are exact integers.

    Args:
        pred_masks (np.ndarray | torch.Tensor): ``(n, H, W)`` masks.
        gt_masks (np.ndarray | torch.Tensor): ``(m, H, W)`` masks.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``intersection`` and ``union``, both
        ``(m, n)`` int64.
    """
    gt = to_binary_masks(gt_masks, 'gt_masks')
    pred = to_binary_masks(pred_masks, 'pred_masks', shape=gt.shape[1:])
    m, n = gt.shape[0], pred.shape[0]
    if m == 0 or n == 0:
        empty = np.zeros((m, n), dtype=np.int64)
        return empty, empty.copy()
    gt_bits, pred_bits = pack_masks(gt), pack_masks(pred)
    row_bytes = n * pred_bits.shape[1] * pred_bits.itemsize
    chunk = max(1, MAX_OVERLAP_BYTES // row_bytes)
    inter = np.empty((m, n), dtype=np.int64)
    for start in range(0, m, chunk):
        rows = gt_bits[start:start + chunk, None, :]
        inter[start:start + chunk] = popcount(rows & pred_bits[None])
    union = popcount(gt_bits)[:, None] + popcount(pred_bits)[None, :] - inter
    return inter, union


def mask_iou(pred_masks: ArrayLike, gt_masks: ArrayLike) -> np.ndarray:
    """IoU of every (GT, prediction) pair.

    ``IoU = |p & g| / (|p | g| + 1e-6)``, bit-identical to the reference's
    per-pair loop.

    Args:
        pred_masks (np.ndarray | torch.Tensor): ``(n, H, W)`` masks.
        gt_masks (np.ndarray | torch.Tensor): ``(m, H, W)`` masks.

    Returns:
        np.ndarray: ``(m, n)`` float64 IoU matrix (row = GT).
    """
    inter, union = mask_overlaps(pred_masks, gt_masks)
    return inter / (union + IOU_EPS)


def overlap_counts(pred: np.ndarray, gt: np.ndarray) -> MaskOverlaps:
    """All counts of :class:`MaskOverlaps` from dense boolean masks.

    Args:
        pred (np.ndarray): ``(n, H, W)`` bool masks.
        gt (np.ndarray): ``(m, H, W)`` bool masks.

    Returns:
        MaskOverlaps: The counts (bit-packed, exact).
    """
    inter, union = mask_overlaps(pred, gt)
    union_gt = np.bitwise_or.reduce(pack_masks(gt), axis=0)
    if pred.shape[0] == 0:
        diff = union_gt
    else:
        diff = np.bitwise_or.reduce(pack_masks(pred), axis=0) ^ union_gt
    return MaskOverlaps(inter, union, int(popcount(diff)), tuple(gt.shape[1:]))


def hungarian_match(
        ious: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one matching minimising ``1 - IoU`` (all pairs, no threshold).

    Args:
        ious (np.ndarray): ``(m, n)`` IoU matrix (row = GT).

    Returns:
        tuple: ``gt_inds`` and ``pred_inds`` (``(min(m, n),)`` int arrays,
        ``gt_inds`` ascending) and the matched IoUs, computed as
        ``1 - cost`` like the reference.
    """
    m, n = ious.shape
    if m == 0 or n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), np.zeros(0, dtype=np.float64)
    cost = 1.0 - ious
    gt_inds, pred_inds = linear_sum_assignment(cost)
    return gt_inds, pred_inds, 1.0 - cost[gt_inds, pred_inds]


# --------------------------------------------------------------------------
# correlation helpers
# --------------------------------------------------------------------------
def _is_constant(values: Sequence[float]) -> bool:
    """Fewer than two values, or all equal (short lists: plain Python)."""
    return len(values) < 2 or min(values) == max(values)


def corrcoef_entry(rows: np.ndarray, i: int, j: int) -> float:
    """Entry ``[i, j]`` of ``np.corrcoef(rows)`` for a ``(2, k)`` float64
    array, bit-identical to it: the same numpy operations on the same
    memory layouts (``np.cov``'s centring, ``dot(X, X.T.conj())`` and
    scaling, then ``corrcoef``'s two divisions and clipping), without
    their per-call checks, which cost more than the arithmetic on a few
    values. ``rows`` is centred in place.

    Args:
        rows (np.ndarray): ``(2, k)`` float64, ``k >= 2``, no constant row.
        i (int): Row of the entry.
        j (int): Column of the entry.

    Returns:
        float: The correlation coefficient.
    """
    # ndarray.mean is add.reduce then true_divide by the count
    means = np.true_divide(np.add.reduce(rows, axis=1), rows.shape[1])
    rows -= means[:, None]
    c = np.dot(rows, rows.T.conj()).tolist()
    # the rest on Python floats: the same IEEE operations, element by element
    scale = 1 / (rows.shape[1] - 1)
    value = c[i][j] * scale / math.sqrt(c[i][i] * scale) / math.sqrt(
        c[j][j] * scale)
    return min(max(value, -1.0), 1.0)


def _pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """``np.corrcoef(x, y)[0, 1]``; NaN (without warnings) when undefined."""
    if _is_constant(x) or _is_constant(y):
        return math.nan
    # the (2, k) array np.cov builds from two sequences
    x_row = np.array(x, ndmin=2, dtype=np.float64)
    rows = np.concatenate((x_row, np.array(y, ndmin=2, dtype=np.float64)))
    return corrcoef_entry(rows, 0, 1)


def _average_ranks(values: Sequence[float]) -> List[float]:
    """1-based ranks, ties sharing their mean rank (``rankdata``'s
    ``'average'``); exact half-integers. Plain Python: the lists hold a few
    values, where numpy's per-call cost dominates."""
    ordered = sorted(values)
    ranks = []
    for v in values:
        less = bisect.bisect_left(ordered, v)
        ranks.append(less + (bisect.bisect_right(ordered, v) - less + 1) / 2.0)
    return ranks


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho; NaN (without warnings) when undefined.

    Bit-identical to ``scipy.stats.spearmanr(x, y)[0]``, which ranks the
    columns of ``column_stack((x, y))`` and takes element ``[1, 0]`` of
    their ``np.corrcoef``; the ranks are computed directly here (scipy's
    per-call overhead was most of the SOR time).
    """
    if _is_constant(x) or _is_constant(y):
        return math.nan
    ranked = np.array(
        list(zip(_average_ranks(x), _average_ranks(y))), dtype=np.float64)
    # np.corrcoef(ranked, rowvar=False) works on the transposed view
    return corrcoef_entry(ranked.T, 1, 0)


# --------------------------------------------------------------------------
# SA-SOR
# --------------------------------------------------------------------------
def _sa_sor_posesor(
    ious: np.ndarray,
    match: Optional[Tuple[np.ndarray, np.ndarray,
                          np.ndarray]] = None) -> float:
    """SA-SOR of PoseSOR's ``Metrics.sa_sor`` from an IoU matrix.

    Hungarian pairs with IoU > 0.5 contribute ``(m - i, n - j)`` (rank
    values, larger = more salient); every GT rank ``r`` in ``1..m`` not
    yet present is appended as ``(r, 0)``. The result is Pearson's r of
    the two lists, NaN when either is constant. Consequences of the
    definition kept as they are: a single-GT image is always NaN (one
    point), and so is an image where nothing is matched.
    """
    m, n = ious.shape
    if match is None:
        match = hungarian_match(ious)
    gt_inds, pred_inds, matched = match
    keep = (matched > MATCH_IOU_THRESHOLD).tolist()
    gt_ranks = [m - i for i, k in zip(gt_inds.tolist(), keep) if k]
    pred_ranks = [n - j for j, k in zip(pred_inds.tolist(), keep) if k]
    present = set(gt_ranks)
    for rank in range(1, m + 1):
        if rank not in present:
            gt_ranks.append(rank)
            pred_ranks.append(0)
    return _pearson(gt_ranks, pred_ranks)


def _irsr_best(values: np.ndarray) -> np.ndarray:
    """Index of the largest value along the last axis, picked as IRSR
    picks it: the last entry of numpy's default ``argsort``.

    Among equal maxima the winner is whatever numpy's default sort puts
    last; it is kept as it is because it decides IRSR's matching (for the
    three predictions of the issue's float32 tie it is the later one, for
    other rows it can be an earlier one).
    """
    return values.argsort()[..., -1]


def _pearson_irsr(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r as IRSR's script gets it from ``pandas.Series.corr``
    (pandas >= 3): both sides centred, divided by their largest absolute
    value, then ``dot(x, y) / (n - 1)`` divided by the two standard
    deviations in turn, clipped to [-1, 1]. Bit-identical to that call
    (``np.corrcoef`` can differ in the last bit)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x - x.mean()
    y = y - y.mean()
    x_scale, y_scale = np.max(np.abs(x)), np.max(np.abs(y))
    if x_scale == 0 or y_scale == 0:
        return math.nan
    x = x / x_scale
    y = y / y_scale
    dof = len(x) - 1
    value = np.dot(x, y) / dof / np.sqrt(np.dot(x, x) / dof)
    return float(np.clip(value / np.sqrt(np.dot(y, y) / dof), -1.0, 1.0))


def _irsr_match(ious: np.ndarray) -> np.ndarray:
    """IRSR's greedy ``match``: per GT its best prediction if IoU >= 0.5.

    A prediction claimed by several GTs stays with the GT of highest IoU;
    the others become unmatched (-1). When there are more predictions than
    GTs, the unclaimed predictions are appended after the ``m`` GT entries
    (they take part in the re-ranking of :func:`_sa_sor_irsr`). Equal IoUs
    are resolved by numpy's default ``argsort``, as in IRSR (see
    :func:`_irsr_best`).

    Args:
        ious (np.ndarray): ``(m, n)`` IoU matrix, ``n > 0``.

    Returns:
        np.ndarray: prediction index per GT (-1 if unmatched), followed by
        the unclaimed prediction indices when ``m < n``.
    """
    m, n = ious.shape
    matched = _irsr_best(ious)
    matched[ious[np.arange(m), matched] < MATCH_IOU_THRESHOLD] = -1
    for pred_idx in set(matched[matched >= 0].tolist()):
        claimants = np.nonzero(matched == pred_idx)[0]
        if len(claimants) > 1:
            winner = claimants[_irsr_best(ious[claimants, pred_idx])]
            matched[claimants[claimants != winner]] = -1
    if m < n:
        claimed = set(matched.tolist())
        extra = [j for j in range(n) if j not in claimed]
        matched = np.concatenate([matched, np.asarray(extra, dtype=int)])
    return matched


def irsr_iou(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """IoU as IRSR's ``calc_iou`` computes it: float32 pixel counts and a
    float32 division.

    Float32 IoUs of different pairs can be equal where float64 ones are
    not (e.g. 4141/4142 and 4140/4141), which changes IRSR's matching; the
    counts are exact in float32 up to :data:`FLOAT32_EXACT_INT` pixels.

    Args:
        inter (np.ndarray): ``(m, n)`` intersection counts.
        union (np.ndarray): ``(m, n)`` union counts.

    Returns:
        np.ndarray: ``(m, n)`` float64 holding the float32 IoUs; 0 where
        the union is empty (IRSR divides 0 by 0 there).
    """
    inter32 = np.asarray(inter).astype(np.float32)
    union32 = np.asarray(union).astype(np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        ious = np.where(union32 > 0, inter32 / union32, np.float32(0))
    return ious.astype(np.float64)


def _sa_sor_irsr(inter: np.ndarray, union: np.ndarray,
                 pred_scores: np.ndarray) -> float:
    """SA-SOR of IRSR's ``metric/SA-SOR.py`` (per image).

    GT rank indices are ``m - i`` (1 = least salient). Matched predictions
    (see :func:`_irsr_match`, on the float32 IoUs of :func:`irsr_iou`) get
    the 1-based position of their score among the scores of all matched
    and appended predictions (ascending; equal scores share the lowest
    position), i.e. predictions are re-ranked by score; unmatched GTs get
    0. The result is Pearson's r of GT and predicted indices computed as
    IRSR's pandas call does (:func:`_pearson_irsr`), 0 when the predicted
    indices are constant (including "nothing matched" and ``n == 0``).

    Differences from the published script, all in degenerate inputs: an
    empty union gives IoU 0 instead of NaN (the script then matches two
    empty masks); the image-level exclusion of single-GT images is
    returned as NaN here and applied by the dataset mean
    (:data:`NAN_POLICY` ``'skip'``).
    """
    m, n = inter.shape
    if m == 1:
        return math.nan
    gt_index = np.arange(m, 0, -1)
    if n == 0:
        pred_index = np.zeros(m, dtype=int)
    else:
        matched = _irsr_match(irsr_iou(inter, union))
        unmatched_pos = np.nonzero(matched == -1)[0]
        used = matched[matched >= 0]
        scores = np.asarray(pred_scores, dtype=np.float64)[used]
        ordered = sorted(scores.tolist())
        pred_index = np.array([ordered.index(s) + 1 for s in scores],
                              dtype=int)
        for pos in unmatched_pos:
            pred_index = np.insert(pred_index, pos, 0)
        pred_index = pred_index[:m]
    if _is_constant(pred_index):
        return 0.0
    return _pearson_irsr(gt_index, pred_index)


def default_rank_scores(num_preds: int) -> np.ndarray:
    """Scores that encode the predicted order, as PoseSOR feeds IRSR's
    SA-SOR (``np.linspace(1.0, 0.5, n)``).

    Args:
        num_preds (int): Number of predictions ``n``.

    Returns:
        np.ndarray: ``(n,)`` decreasing scores.
    """
    return np.linspace(1.0, 0.5, num_preds)


def sa_sor(pred_masks: ArrayLike,
           gt_masks: ArrayLike,
           convention: str = 'posesor',
           pred_scores: Optional[ArrayLike] = None) -> float:
    """Segmentation-aware salient object ranking (SA-SOR) of one image.

    Args:
        pred_masks (np.ndarray | torch.Tensor): ``(n, H, W)`` predicted
            masks, most salient first.
        gt_masks (np.ndarray | torch.Tensor): ``(m, H, W)`` GT masks, most
            salient first.
        convention (str): ``'posesor'`` (reference ``Metrics.sa_sor``:
            Hungarian matching, IoU > 0.5, unmatched GT ranks appended with
            predicted rank 0, Pearson's r; NaN for a single GT or no match)
            or ``'irsr'`` (IRSR's ``SA-SOR.py``, see :func:`_sa_sor_irsr`;
            NaN for a single GT, meaning "excluded from the mean").
        pred_scores (np.ndarray | torch.Tensor, optional): ``(n,)`` rank
            scores (higher = more salient), only used by ``'irsr'``.
            Defaults to :func:`default_rank_scores`, i.e. the given order.

    Returns:
        float: Pearson correlation in [-1, 1], or NaN (see above).

    Raises:
        ValueError: If ``m == 0`` or the convention is unknown.
    """
    _check_convention('sa_sor', convention)
    pred, gt = _prepare(pred_masks, gt_masks)
    inter, union = mask_overlaps(pred, gt)
    if convention == 'posesor':
        return _sa_sor_posesor(inter / (union + IOU_EPS))
    return _sa_sor_irsr(inter, union,
                        _scores_or_default(pred_scores, pred.shape[0]))


def _scores_or_default(pred_scores: Optional[ArrayLike],
                       num_preds: int) -> np.ndarray:
    if pred_scores is None:
        return default_rank_scores(num_preds)
    if torch is not None and isinstance(pred_scores, torch.Tensor):
        pred_scores = pred_scores.detach().cpu().numpy()
    scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    if scores.shape[0] != num_preds:
        raise ValueError(f'pred_scores has {scores.shape[0]} entries for '
                         f'{num_preds} predicted masks')
    return scores


# --------------------------------------------------------------------------
# SOR
# --------------------------------------------------------------------------
def _sor_posesor(ious: np.ndarray) -> float:
    """SOR of PoseSOR's ``Metrics.sor`` from an IoU matrix.

    For each GT ``i`` in order, the first prediction ``j`` in order with
    IoU > 0.5 gives the pair ``(m - i, n - j)`` (a prediction may serve
    several GTs). Two or more pairs: ``(rho + 1) / 2`` with Spearman's rho
    (NaN when a side is constant); one pair: 1.0; none: NaN.
    """
    m, n = ious.shape
    if n == 0:
        return math.nan
    hits = ious > MATCH_IOU_THRESHOLD
    has_hit = hits.any(axis=1)
    gt_inds = has_hit.nonzero()[0]
    pred_inds = hits.argmax(axis=1)[has_hit]
    if len(gt_inds) > 1:
        rho = _spearman((n - pred_inds).tolist(), (m - gt_inds).tolist())
        return (rho + 1.0) / 2.0
    if len(gt_inds) == 1:
        return 1.0
    return math.nan


def rank_map(masks: np.ndarray, max_ranks: Optional[int] = None) -> np.ndarray:
    """Grey-level rank map as ASSR draws it.

    Mask ``k`` (0-based, most salient first) is painted with level
    ``floor(255 * (1 - 0.1 k))`` -- 255, 229, 204, 178, 153 for the five
    ASSR ranks, continued as 127, 102, ... (at least 1) for more objects --
    in order, so a later (less salient) mask overwrites an earlier one
    where they overlap, like ASSR's ``generate_saliency_map.py``.

    Args:
        masks (np.ndarray): ``(k, H, W)`` bool masks, most salient first.
        max_ranks (int, optional): Paint only the first ``max_ranks``
            masks (ASSR paints at most 5 predictions).

    Returns:
        np.ndarray: ``(H, W)`` uint8 map, 0 = background.
    """
    out = np.zeros(masks.shape[1:], dtype=np.uint8)
    count = masks.shape[0] if max_ranks is None else min(
        max_ranks, masks.shape[0])
    for k in range(count):
        out[masks[k]] = rank_level(k)
    return out


def rank_level(k: int) -> int:
    """Grey level of the ``k``-th (0-based) rank of :func:`rank_map`.

    Args:
        k (int): 0-based rank.

    Returns:
        int: ``floor(255 * (1 - 0.1 k))`` computed exactly, at least 1.
    """
    if k < len(ASSR_RANK_LEVELS):
        return ASSR_RANK_LEVELS[k]
    return max(1, (10 * MAX_GREY - MAX_GREY * k) // 10)


def _sor_assr(pred: np.ndarray, gt: np.ndarray) -> float:
    """SOR of ASSR's ``calculate_spr`` + ``eval_spr`` (per image).

    The top 5 predictions are painted into a rank map. A GT object gets the
    predicted level that is most frequent inside its mask (smallest on
    ties, as ``scipy.stats.mode``) if more than ``int(0.5 * area)`` of its
    pixels are non-zero, else 0. Objects with level 0 are dropped; with
    two or more left the score is ``(rho + 1) / 2`` of Spearman's rho
    between GT rank values (``m - i``) and levels, with one left 1.0, with
    none (or a constant side) NaN, meaning "image not used". The published
    script calls ``sc.mode(vals)[0][0]``, which fails on scipy >= 1.11;
    the intended mode is computed directly here.
    """
    m = gt.shape[0]
    pred_map = rank_map(pred, ASSR_MAX_PRED_RANKS)
    gt_ranks: List[int] = []
    pred_ranks: List[int] = []
    for i in range(m):
        inside = pred_map[gt[i]]
        values = inside[inside > 0]
        area = int(np.count_nonzero(gt[i]))
        level = 0
        if values.size > int(area * ASSR_SEG_THRESHOLD):
            level = int(np.bincount(values).argmax())
        if level > 0:
            gt_ranks.append(m - i)
            pred_ranks.append(level)
    if len(gt_ranks) > 1:
        return (_spearman(gt_ranks, pred_ranks) + 1.0) / 2.0
    if len(gt_ranks) == 1:
        return 1.0
    return math.nan


def sor(pred_masks: ArrayLike,
        gt_masks: ArrayLike,
        convention: str = 'posesor') -> float:
    """Salient object ranking (SOR) score of one image, in [0, 1].

    Args:
        pred_masks (np.ndarray | torch.Tensor): ``(n, H, W)`` predicted
            masks, most salient first.
        gt_masks (np.ndarray | torch.Tensor): ``(m, H, W)`` GT masks, most
            salient first.
        convention (str): ``'posesor'`` (reference ``Metrics.sor``: first
            prediction in order with IoU > 0.5 per GT, ``(rho + 1) / 2``,
            one pair 1.0, none NaN, NaN counted as 0 in the mean) or
            ``'assr'`` (rank-map mode inside each GT, see
            :func:`_sor_assr`; NaN images are excluded from the mean).

    Returns:
        float: ``(rho + 1) / 2``, 1.0 or NaN.

    Raises:
        ValueError: If ``m == 0`` or the convention is unknown.
    """
    _check_convention('sor', convention)
    pred, gt = _prepare(pred_masks, gt_masks)
    if convention == 'posesor':
        return _sor_posesor(mask_iou(pred, gt))
    return _sor_assr(pred, gt)


# --------------------------------------------------------------------------
# MAE
# --------------------------------------------------------------------------
def _mae_posesor(overlaps: MaskOverlaps) -> float:
    """Fraction of pixels where the unions of predictions and GTs differ.

    The reference's ``np.mean`` of the 0/1 difference map sums exactly and
    divides once, i.e. it is this correctly rounded quotient.
    """
    height, width = overlaps.image_size
    return overlaps.num_diff / (height * width)


def _mae_assr(pred: np.ndarray, gt: np.ndarray) -> float:
    pred_map = rank_map(pred, ASSR_MAX_PRED_RANKS).astype(np.float64)
    gt_map = rank_map(gt).astype(np.float64)
    return float(np.mean(np.abs(pred_map - gt_map)) / MAX_GREY)


def mae(pred_masks: ArrayLike,
        gt_masks: ArrayLike,
        convention: str = 'posesor') -> float:
    """Mean absolute error of one image, in [0, 1].

    Args:
        pred_masks (np.ndarray | torch.Tensor): ``(n, H, W)`` predicted
            masks, most salient first.
        gt_masks (np.ndarray | torch.Tensor): ``(m, H, W)`` GT masks, most
            salient first.
        convention (str): ``'posesor'`` (reference: mean ``|union of
            predictions - union of GTs|`` over pixels, binary and
            rank-agnostic) or ``'assr'`` (mean absolute difference of the
            grey rank maps of :func:`rank_map` divided by 255, ASSR's
            ``eval_mae``; top 5 predictions).

    Returns:
        float: The error.

    Raises:
        ValueError: If ``m == 0`` or the convention is unknown.
    """
    _check_convention('mae', convention)
    pred, gt = _prepare(pred_masks, gt_masks)
    if convention == 'posesor':
        return _mae_posesor(overlap_counts(pred, gt))
    return _mae_assr(pred, gt)


# --------------------------------------------------------------------------
# JAE
# --------------------------------------------------------------------------
def _as_numpy(x: ArrayLike) -> np.ndarray:
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _jae_from_match(gt_inds: np.ndarray, pred_inds: np.ndarray,
                    pred_keypoints: ArrayLike, gt_keypoints: ArrayLike,
                    gt_keypoints_visible: ArrayLike,
                    image_size: Tuple[int, int]) -> float:
    """JAE given Hungarian pairs; see :func:`jae`."""
    if len(gt_inds) == 0:
        return math.nan
    height, width = image_size
    scale = np.array([width, height], dtype=np.float64)
    gt_kpts = _as_numpy(gt_keypoints)[gt_inds][..., :2] / scale
    pred_kpts = _as_numpy(pred_keypoints)[pred_inds][..., :2] / scale
    visible = _as_numpy(gt_keypoints_visible)[gt_inds]
    visible = (visible > KEYPOINT_VISIBLE_THRESHOLD).astype(np.float64)
    if visible.sum() <= KEYPOINT_VISIBLE_THRESHOLD:
        return math.nan
    err = np.abs(gt_kpts - pred_kpts).reshape(-1, 2) * visible.reshape(-1, 1)
    return float(err.sum() / (JAE_EPS + visible.sum()))


def jae(pred_masks: ArrayLike, gt_masks: ArrayLike, pred_keypoints: ArrayLike,
        gt_keypoints: ArrayLike, gt_keypoints_visible: ArrayLike) -> float:
    """Joint absolute error (JAE) of one image (PoseSOR's ``Metrics.jae``).

    Predictions and GTs are paired by the Hungarian matching of
    :func:`hungarian_match` -- all ``min(m, n)`` pairs, without the IoU
    threshold, as in the reference. Over the visible joints of the paired
    GTs, JAE is the sum of ``|dx| + |dy|`` of coordinates normalised by the
    image width and height, divided by ``1e-6 +`` the number of visible
    joints.

    Args:
        pred_masks (np.ndarray | torch.Tensor): ``(n, H, W)`` predicted
            masks, most salient first.
        gt_masks (np.ndarray | torch.Tensor): ``(m, H, W)`` GT masks.
        pred_keypoints (np.ndarray | torch.Tensor): ``(n, 17, 2)`` predicted
            joints in original-image pixels (extra trailing columns are
            ignored).
        gt_keypoints (np.ndarray | torch.Tensor): ``(m, 17, 2)`` GT joints in
            pixels (extra trailing columns are ignored).
        gt_keypoints_visible (np.ndarray | torch.Tensor): ``(m, 17)``; a
            joint counts when its value is > 0.5 (COCO flags 1 and 2).

    Returns:
        float: The error, or NaN when no paired GT has a visible joint or
        there is no prediction (the reference returns ``None``, leaving
        the image out of the mean; with no prediction it crashes).

    Raises:
        ValueError: If ``m == 0``.
    """
    pred, gt = _prepare(pred_masks, gt_masks)
    gt_inds, pred_inds, _ = hungarian_match(mask_iou(pred, gt))
    return _jae_from_match(gt_inds, pred_inds, pred_keypoints, gt_keypoints,
                           gt_keypoints_visible, gt.shape[1:])


# --------------------------------------------------------------------------
# several metrics at once, and dataset means
# --------------------------------------------------------------------------
def metric_key(metric: str, convention: str) -> str:
    """Result key of a (metric, convention): ``'sa_sor'`` for the default
    ``posesor`` convention, ``'sa_sor_irsr'`` otherwise."""
    return metric if convention == 'posesor' else f'{metric}_{convention}'


def normalize_conventions(
    metrics: Iterable[str],
    convention: Union[str, Sequence[str],
                      Dict[str, Union[str, Sequence[str]]]] = 'posesor'
) -> List[Tuple[str, str]]:
    """Expand a convention argument into (metric, convention) pairs.

    Args:
        metrics (Iterable[str]): Metric names from :data:`METRICS`.
        convention (str | Sequence[str] | dict): One convention (or list)
            for every metric -- a metric without that convention keeps its
            default -- or a dict ``metric -> convention(s)`` (metrics not
            in the dict use ``'posesor'``).

    Returns:
        list[tuple[str, str]]: Unique pairs, in metric order.

    Raises:
        ValueError: For an unknown metric, or a convention that a metric
            named in a dict does not support.
    """
    pairs: List[Tuple[str, str]] = []
    for metric in metrics:
        if metric not in METRICS:
            raise ValueError(f'unknown SOR metric {metric!r}; choose from '
                             f'{METRICS}')
        if isinstance(convention, dict):
            chosen = convention.get(metric, 'posesor')
            chosen = [chosen] if isinstance(chosen, str) else list(chosen)
            for conv in chosen:
                _check_convention(metric, conv)
        else:
            chosen = [convention] if isinstance(convention,
                                                str) else list(convention)
            for conv in chosen:
                if conv not in CONVENTIONS:
                    raise ValueError(f'unknown convention {conv!r}; choose '
                                     f'from {CONVENTIONS}')
            chosen = [c for c in chosen if c in SUPPORTED_CONVENTIONS[metric]
                      ] or [SUPPORTED_CONVENTIONS[metric][0]]
        for conv in chosen:
            if (metric, conv) not in pairs:
                pairs.append((metric, conv))
    return pairs


def evaluate_image(
        pred_masks: Optional[ArrayLike],
        gt_masks: Optional[ArrayLike],
        pairs: Sequence[Tuple[str, str]],
        pred_scores: Optional[ArrayLike] = None,
        pred_keypoints: Optional[ArrayLike] = None,
        gt_keypoints: Optional[ArrayLike] = None,
        gt_keypoints_visible: Optional[ArrayLike] = None,
        overlaps: Optional[MaskOverlaps] = None) -> Dict[str, float]:
    """Compute several metrics of one image sharing one set of overlaps.

    Args:
        pred_masks (np.ndarray | torch.Tensor, optional): ``(n, H, W)``,
            most salient first. May be ``None`` when ``overlaps`` is given
            and no pair of :data:`DENSE_PAIRS` is asked.
        gt_masks (np.ndarray | torch.Tensor, optional): ``(m, H, W)``,
            most salient first; same rule as ``pred_masks``.
        pairs (Sequence[tuple[str, str]]): (metric, convention) pairs, e.g.
            from :func:`normalize_conventions`.
        pred_scores: ``(n,)`` rank scores for the ``irsr`` SA-SOR.
        pred_keypoints: ``(n, 17, 2)`` pixels, for JAE.
        gt_keypoints: ``(m, 17, 2)`` pixels, for JAE.
        gt_keypoints_visible: ``(m, 17)``, for JAE.
        overlaps (MaskOverlaps, optional): Precomputed pixel counts (e.g.
            from run-length encodings, :mod:`posesor.evaluation.mask_rle`);
            computed from the masks when omitted.

    Returns:
        dict[str, float]: :func:`metric_key` -> value (NaN where the
        metric is undefined for the image).

    Raises:
        ValueError: If ``m == 0``, JAE is asked without keypoints, or masks
            are missing where they are needed.
    """
    for metric, conv in pairs:
        _check_convention(metric, conv)
    need_dense = any(pair in DENSE_PAIRS for pair in pairs)
    pred = gt = None
    if overlaps is None or need_dense:
        if pred_masks is None or gt_masks is None:
            raise ValueError(f'evaluate_image needs pred_masks and gt_masks '
                             f'for {list(pairs)} (dense metrics or no '
                             f'overlaps given)')
        pred, gt = _prepare(pred_masks, gt_masks)
    if overlaps is None:
        overlaps = overlap_counts(pred, gt)
    inter, union = overlaps.inter, overlaps.union
    num_gt, num_pred = inter.shape
    if num_gt == 0:
        raise ValueError('gt_masks is empty (m == 0): SOR metrics are '
                         'undefined for an image without salient objects')
    ious = inter / (union + IOU_EPS)
    match = None
    if ('sa_sor', 'posesor') in pairs or ('jae', 'posesor') in pairs:
        match = hungarian_match(ious)
    results: Dict[str, float] = {}
    for metric, conv in pairs:
        key = metric_key(metric, conv)
        if (metric, conv) == ('sa_sor', 'posesor'):
            results[key] = _sa_sor_posesor(ious, match)
        elif (metric, conv) == ('sa_sor', 'irsr'):
            results[key] = _sa_sor_irsr(
                inter, union, _scores_or_default(pred_scores, num_pred))
        elif (metric, conv) == ('sor', 'posesor'):
            results[key] = _sor_posesor(ious)
        elif (metric, conv) == ('sor', 'assr'):
            results[key] = _sor_assr(pred, gt)
        elif (metric, conv) == ('mae', 'posesor'):
            results[key] = _mae_posesor(overlaps)
        elif (metric, conv) == ('mae', 'assr'):
            results[key] = _mae_assr(pred, gt)
        else:  # ('jae', 'posesor')
            if gt_keypoints is None or gt_keypoints_visible is None or (
                    num_pred > 0 and pred_keypoints is None):
                raise ValueError('jae needs pred_keypoints, gt_keypoints '
                                 'and gt_keypoints_visible')
            gt_inds, pred_inds, _ = match
            results[key] = _jae_from_match(gt_inds, pred_inds, pred_keypoints,
                                           gt_keypoints, gt_keypoints_visible,
                                           overlaps.image_size)
    return results


def aggregate(values: Sequence[Optional[float]],
              policy: str = 'zero') -> Tuple[float, int, int]:
    """Dataset mean of per-image values under a NaN policy.

    Args:
        values (Sequence[float | None]): Per-image values; ``None`` and NaN
            both mean "undefined for this image".
        policy (str): ``'zero'``: undefined images count with value 0
            (PoseSOR's ``Metrics.aggregate``, ASSR's MAE); ``'skip'``: they
            are left out (IRSR SA-SOR, ASSR SOR, PoseSOR JAE).

    Returns:
        tuple[float, int, int]: The mean (NaN when no image counts), the
        number of images counted and the number of undefined images.
    """
    if policy not in ('zero', 'skip'):
        raise ValueError(f"policy must be 'zero' or 'skip', got {policy!r}")
    arr = np.array([math.nan if v is None else float(v) for v in values],
                   dtype=np.float64)
    nan = np.isnan(arr)
    num_nan = int(nan.sum())
    if policy == 'zero':
        arr = np.where(nan, 0.0, arr)
    else:
        arr = arr[~nan]
    if arr.size == 0:
        return math.nan, 0, num_nan
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', RuntimeWarning)
        return float(arr.mean()), int(arr.size), num_nan
