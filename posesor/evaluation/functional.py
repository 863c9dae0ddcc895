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
``'dsgnn'``
    SA-SOR, SOR and MAE of DSGNN (Wu et al., "Domain separation graph
    neural networks for saliency object ranking", CVPR 2024), the
    ``SORDataset.evaluate`` of ``mmdet/datasets/sor.py`` in
    ``github:Wu-ZJ/DSGNN``: IRSR's SA-SOR with the matched and appended
    rank scores cut to the GT count before they are ranked; SOR on a map of
    rank numbers (1 = most salient) of all predictions; MAE on float32
    rank maps of DSGNN's grey levels (153 from the fifth rank on).
``'qagnet'``
    SA-SOR, SOR and MAE of QAGNet (Deng et al., "Advancing saliency
    ranking with human fixations", CVPR 2024), ``inference.py`` and
    ``rankevaluation/`` of ``github:EricDengbowen/QAGNet`` (ASSR data):
    predictions with an objectness score above 0.7 only; IRSR's SA-SOR
    on their rank scores; SOR and MAE on QAGNet's colour map, where a more
    salient prediction keeps the pixels it shares with a less salient one.
``'qagnet_limited'``
    QAGNet's "limited version" (``EVALUATION.LIMITED: True``, ASSR data):
    as ``'qagnet'``, then at most the 5 predictions of highest rank score.

What distinguishes the conventions is data (:data:`CONVENTION_OPTIONS`,
:data:`PRED_FILTERS`, :data:`NAN_POLICY`): each names an implementation
kind and its options.

IoU, everywhere except IRSR's SA-SOR (conventions ``irsr``, ``dsgnn``,
``qagnet``), is ``|p & g| / (|p | g| + 1e-6)`` from exact integer pixel
counts (:class:`MaskOverlaps`), computed for all pairs at once on
bit-packed masks here, or on run-length encodings by
:mod:`posesor.evaluation.mask_rle`; IRSR's SA-SOR divides the same counts
in float32 as IRSR does.
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

#: DSGNN's grey level of rank index ``k`` (0 = most salient) in its MAE
#: maps: the ASSR levels, then 153 for every further rank
#: (``SORDataset.RANK_PIXEL``).
DSGNN_LAST_LEVEL = 153
#: QAGNet's colour map on ASSR data: rank position ``a`` (1 = least
#: salient) of ``n`` predictions gets ``floor(25.5 * (a + 10 - n))``, at
#: least 25 when ``n > 10``.
QAGNET_COLOUR_STEP = MAX_GREY / 10
QAGNET_COLOUR_SLOTS = 10
QAGNET_MIN_COLOUR = 25

METRICS = ('sa_sor', 'sor', 'mae', 'jae')
CONVENTIONS = ('posesor', 'irsr', 'assr', 'dsgnn', 'qagnet', 'qagnet_limited')
#: ``convention='all'`` selects every convention of every metric.
ALL_CONVENTIONS = 'all'
#: Conventions implemented for each metric (the first is the default).
SUPPORTED_CONVENTIONS = {
    'sa_sor': ('posesor', 'irsr', 'dsgnn', 'qagnet', 'qagnet_limited'),
    'sor': ('posesor', 'assr', 'dsgnn', 'qagnet', 'qagnet_limited'),
    'mae': ('posesor', 'assr', 'dsgnn', 'qagnet', 'qagnet_limited'),
    'jae': ('posesor', ),
}
#: What each (metric, convention) computes: an implementation ``kind`` and
#: its options.
#:
#: SA-SOR kinds: ``'hungarian'`` (:func:`_sa_sor_posesor`) and
#: ``'greedy'`` (:func:`_sa_sor_irsr`; ``cut_scores_to_gt`` keeps only the
#: first ``m`` matched and appended rank scores before ranking them).
#: SOR kinds: ``'first_hit'`` (:func:`_sor_posesor`) and ``'rank_map'``
#: (:func:`_sor_rank_map`; ``pred_map`` names the map of
#: :func:`prediction_map`, ``gt_values`` whether GT ``i`` (0 = most
#: salient) enters the correlation as ``m - i`` (``'descending'``) or
#: ``i + 1`` (``'ascending'``)). MAE kinds: ``'binary_union'``
#: (:func:`_mae_posesor`) and ``'rank_map'`` (:func:`_mae_rank_map`;
#: ``pred_map`` and ``gt_map`` name the maps, ``arithmetic`` how grey
#: levels become the mean, see :data:`MAE_ARITHMETIC`).
CONVENTION_OPTIONS: Dict[Tuple[str, str], Dict[str, Union[str, bool]]] = {
    ('sa_sor', 'posesor'):
    dict(kind='hungarian'),
    ('sa_sor', 'irsr'):
    dict(kind='greedy', cut_scores_to_gt=False),
    ('sa_sor', 'dsgnn'):
    dict(kind='greedy', cut_scores_to_gt=True),
    ('sa_sor', 'qagnet'):
    dict(kind='greedy', cut_scores_to_gt=False),
    ('sor', 'posesor'):
    dict(kind='first_hit'),
    ('sor', 'assr'):
    dict(kind='rank_map', pred_map='assr', gt_values='descending'),
    ('sor', 'dsgnn'):
    dict(kind='rank_map', pred_map='dsgnn_rank', gt_values='ascending'),
    ('sor', 'qagnet'):
    dict(kind='rank_map', pred_map='qagnet', gt_values='descending'),
    ('mae', 'posesor'):
    dict(kind='binary_union'),
    ('mae', 'assr'):
    dict(
        kind='rank_map', pred_map='assr', gt_map='assr', arithmetic='float64'),
    ('mae', 'dsgnn'):
    dict(
        kind='rank_map',
        pred_map='dsgnn_grey',
        gt_map='dsgnn_grey',
        arithmetic='float32_of_quotient'),
    ('mae', 'qagnet'):
    dict(
        kind='rank_map',
        pred_map='qagnet',
        gt_map='assr',
        arithmetic='float32_quotient'),
    ('jae', 'posesor'):
    dict(kind='hungarian'),
}
#: QAGNet's limited version computes as QAGNet (on fewer predictions).
CONVENTION_OPTIONS.update({
    (metric, 'qagnet_limited'): options
    for (metric, conv), options in CONVENTION_OPTIONS.copy().items()
    if conv == 'qagnet'
})
#: Implementation kinds that read the rank scores of the predictions.
SCORED_KINDS = ('greedy', 'rank_map')
#: How the grey levels of two rank maps become the MAE: ``'float64'``
#: (``mean(|p - g|) / 255`` in float64), ``'float32_of_quotient'``
#: (``float32(level / 255)`` per pixel, DSGNN), ``'float32_quotient'``
#: (``float32(level) / 255`` in float32, QAGNet's PNG loader); both
#: float32 forms average ``|g - p|`` in float32 as
#: ``sklearn.metrics.mean_absolute_error`` does.
MAE_ARITHMETIC = ('float64', 'float32_of_quotient', 'float32_quotient')


class PredFilter(NamedTuple):
    """Predictions a convention drops before it scores an image.

    Attributes:
        score_thr (float, optional): Keep predictions whose objectness
            score is above this value (QAGNet's ``RESULT_THRESHOLD``).
            Not applied to an image whose predictions carry no score.
        max_preds (int, optional): Then keep at most this many, those of
            highest rank score.
    """
    score_thr: Optional[float] = None
    max_preds: Optional[int] = None


#: Prediction filter of each convention (none where not listed).
PRED_FILTERS: Dict[str, PredFilter] = {
    'qagnet': PredFilter(score_thr=0.7),
    # QAGNet's top 5 on ASSR data (8 on IRSR, 41 on SIFR)
    'qagnet_limited': PredFilter(score_thr=0.7, max_preds=5),
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
    ('sa_sor', 'dsgnn'): 'skip',
    ('sor', 'dsgnn'): 'skip',
    ('mae', 'dsgnn'): 'zero',
    ('sa_sor', 'qagnet'): 'skip',
    ('sor', 'qagnet'): 'skip',
    ('mae', 'qagnet'): 'zero',
    ('sa_sor', 'qagnet_limited'): 'skip',
    ('sor', 'qagnet_limited'): 'skip',
    ('mae', 'qagnet_limited'): 'zero',
}

#: (metric, convention) pairs that need the dense masks themselves (rank
#: maps); all others are computed from :class:`MaskOverlaps` alone.
DENSE_PAIRS = tuple(pair for pair, options in CONVENTION_OPTIONS.items()
                    if options['kind'] == 'rank_map')


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


def _sa_sor_irsr(inter: np.ndarray,
                 union: np.ndarray,
                 pred_scores: np.ndarray,
                 cut_scores_to_gt: bool = False) -> float:
    """SA-SOR of IRSR's ``metric/SA-SOR.py`` (per image).

    GT rank indices are ``m - i`` (1 = least salient). Matched predictions
    (see :func:`_irsr_match`, on the float32 IoUs of :func:`irsr_iou`) get
    the 1-based position of their score among the scores of all matched
    and appended predictions (ascending; equal scores share the lowest
    position), i.e. predictions are re-ranked by score; unmatched GTs get
    0. The result is Pearson's r of GT and predicted indices computed as
    IRSR's pandas call does (:func:`_pearson_irsr`), 0 when the predicted
    indices are constant (including "nothing matched" and ``n == 0``).
    With ``cut_scores_to_gt`` (DSGNN's ``get_rank_index``) only the first
    ``m`` of the matched-then-appended scores are ranked, so fewer
    unmatched predictions compete with the matched ones.

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
        if cut_scores_to_gt:
            used = used[:m]
        scores = np.asarray(pred_scores, dtype=np.float64)[used]
        pred_index = np.array(score_positions(scores.tolist()), dtype=int)
        for pos in unmatched_pos:
            pred_index = np.insert(pred_index, pos, 0)
        pred_index = pred_index[:m]
    if _is_constant(pred_index):
        return 0.0
    return _pearson_irsr(gt_index, pred_index)


def score_positions(scores: Sequence[float]) -> List[int]:
    """1-based position of each score in the ascending order of all of
    them, equal scores sharing the lowest (``sorted(s).index(x) + 1``, how
    IRSR, DSGNN and QAGNet turn rank scores into rank numbers).

    Args:
        scores (Sequence[float]): Rank scores, higher = more salient.

    Returns:
        list[int]: Positions, ``n`` = most salient.
    """
    ordered = sorted(scores)
    return [bisect.bisect_left(ordered, s) + 1 for s in scores]


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
           pred_scores: Optional[ArrayLike] = None,
           pred_objectness: Optional[ArrayLike] = None) -> float:
    """Segmentation-aware salient object ranking (SA-SOR) of one image.

    Args:
        pred_masks (np.ndarray | torch.Tensor): ``(n, H, W)`` predicted
            masks, most salient first.
        gt_masks (np.ndarray | torch.Tensor): ``(m, H, W)`` GT masks, most
            salient first.
        convention (str): ``'posesor'`` (reference ``Metrics.sa_sor``:
            Hungarian matching, IoU > 0.5, unmatched GT ranks appended with
            predicted rank 0, Pearson's r; NaN for a single GT or no match)
            or ``'irsr'``, ``'dsgnn'``, ``'qagnet'`` (IRSR's ``SA-SOR.py``
            and its variants, see :func:`_sa_sor_irsr`; NaN for a single
            GT, meaning "excluded from the mean").
        pred_scores (np.ndarray | torch.Tensor, optional): ``(n,)`` rank
            scores (higher = more salient), used by the greedy conventions.
            Defaults to :func:`default_rank_scores`, i.e. the given order.
        pred_objectness (np.ndarray | torch.Tensor, optional): ``(n,)``
            objectness scores for the convention's :data:`PRED_FILTERS`.

    Returns:
        float: Pearson correlation in [-1, 1], or NaN (see above).

    Raises:
        ValueError: If ``m == 0`` or the convention is unknown.
    """
    return _single_metric('sa_sor', convention, pred_masks, gt_masks,
                          pred_scores, pred_objectness)


def _single_metric(metric: str, convention: str, pred_masks: ArrayLike,
                   gt_masks: ArrayLike, pred_scores: Optional[ArrayLike],
                   pred_objectness: Optional[ArrayLike]) -> float:
    """One (metric, convention) of one image through
    :func:`evaluate_image`."""
    _check_convention(metric, convention)
    values = evaluate_image(
        pred_masks,
        gt_masks, [(metric, convention)],
        pred_scores=pred_scores,
        pred_objectness=pred_objectness)
    return values[metric_key(metric, convention)]


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


def _grey_paint(masks: np.ndarray,
                values: Sequence[int],
                first_wins: bool = False) -> np.ndarray:
    """Paint ``values[k]`` into the pixels of ``masks[k]``, in order.

    Args:
        masks (np.ndarray): ``(k, H, W)`` bool masks.
        values (Sequence[int]): One positive value per mask.
        first_wins (bool): Keep the first value painted on a pixel
            (QAGNet) instead of the last (ASSR, DSGNN).

    Returns:
        np.ndarray: ``(H, W)`` map, 0 = background; uint8 when every value
        is a grey level.
    """
    small = max(values, default=0) <= MAX_GREY
    out = np.zeros(masks.shape[1:], dtype=np.uint8 if small else np.int64)
    order = range(len(values))
    for k in (reversed(order) if first_wins else order):
        out[masks[k]] = values[k]
    return out


def _dsgnn_grey(index: int) -> int:
    """DSGNN's grey level of 0-based rank index ``index``."""
    return ASSR_RANK_LEVELS[min(index, len(ASSR_RANK_LEVELS) - 1)]


def _qagnet_colour(position: int, num_preds: int) -> int:
    """QAGNet's colour (ASSR data) of rank position ``position`` (1 = least
    salient) among ``num_preds`` predictions, as ``math.floor`` of the same
    float product."""
    colour = math.floor(QAGNET_COLOUR_STEP *
                        (position + (QAGNET_COLOUR_SLOTS - num_preds)))
    if num_preds > QAGNET_COLOUR_SLOTS:
        colour = max(colour, QAGNET_MIN_COLOUR)
    return colour


def prediction_map(pred: np.ndarray, scores: np.ndarray,
                   encoding: str) -> np.ndarray:
    """Predicted rank map of a rank-map convention.

    Args:
        pred (np.ndarray): ``(n, H, W)`` bool masks, most salient first.
        scores (np.ndarray): ``(n,)`` rank scores (higher = more salient).
        encoding (str): ``'assr'``: :func:`rank_map` of the first 5 masks
            by their order; ``'dsgnn_rank'``: every mask painted in order
            with its rank number ``n + 1 - p`` (``p`` from
            :func:`score_positions`, so 1 = most salient);
            ``'dsgnn_grey'``: every mask in order with
            DSGNN's grey level of rank index ``n - p``; ``'qagnet'``: the
            colour of :func:`_qagnet_colour` of ``p``, most salient
            position painted first and keeping its pixels (equal positions
            in mask order).

    Returns:
        np.ndarray: ``(H, W)`` unsigned integer map, 0 = background.
    """
    n = pred.shape[0]
    if encoding == 'assr':
        return rank_map(pred, ASSR_MAX_PRED_RANKS)
    positions = score_positions(np.asarray(scores).tolist())
    if encoding == 'dsgnn_rank':
        return _grey_paint(pred, [n + 1 - p for p in positions])
    if encoding == 'dsgnn_grey':
        return _grey_paint(pred, [_dsgnn_grey(n - p) for p in positions])
    if encoding == 'qagnet':
        # stable sort: highest position first, mask order among equals
        order = sorted(range(n), key=lambda k: -positions[k])
        colours = [_qagnet_colour(positions[k], n) for k in order]
        return _grey_paint(pred[order], colours, first_wins=True)
    raise ValueError(f'unknown prediction map {encoding!r}')


def gt_map(gt: np.ndarray, encoding: str) -> np.ndarray:
    """GT rank map of a rank-map convention.

    Args:
        gt (np.ndarray): ``(m, H, W)`` bool masks, most salient first.
        encoding (str): ``'assr'`` (:func:`rank_map`, the ASSR GT PNG
            levels) or ``'dsgnn_grey'`` (DSGNN's levels, 153 from the
            fifth rank on), painted in order.

    Returns:
        np.ndarray: ``(H, W)`` uint8 map, 0 = background.
    """
    if encoding == 'assr':
        return rank_map(gt)
    if encoding == 'dsgnn_grey':
        return _grey_paint(gt, [_dsgnn_grey(i) for i in range(gt.shape[0])])
    raise ValueError(f'unknown GT map {encoding!r}')


def _sor_rank_map(pred_map: np.ndarray, gt: np.ndarray,
                  gt_values: str) -> float:
    """SOR on a predicted rank map (ASSR's ``calculate_spr`` +
    ``eval_spr`` and the DSGNN and QAGNet copies; per image).

    A GT object gets the map value that is most frequent inside its mask
    (smallest on ties, as ``scipy.stats.mode``) if more than
    ``int(0.5 * area)`` of its pixels are non-zero, else 0. Objects with
    value 0 are dropped; with two or more left the score is
    ``(rho + 1) / 2`` of Spearman's rho between GT values (``m - i`` or
    ``i + 1``, see :data:`CONVENTION_OPTIONS`) and map values, with one
    left 1.0, with none (or a constant side) NaN, meaning "image not
    used". The published scripts call ``sc.mode(vals)[0][0]``, which fails
    on scipy >= 1.11; the intended mode is computed directly here.
    """
    m = gt.shape[0]
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
            gt_ranks.append(m - i if gt_values == 'descending' else i + 1)
            pred_ranks.append(level)
    if len(gt_ranks) > 1:
        return (_spearman(gt_ranks, pred_ranks) + 1.0) / 2.0
    if len(gt_ranks) == 1:
        return 1.0
    return math.nan


def sor(pred_masks: ArrayLike,
        gt_masks: ArrayLike,
        convention: str = 'posesor',
        pred_scores: Optional[ArrayLike] = None,
        pred_objectness: Optional[ArrayLike] = None) -> float:
    """Salient object ranking (SOR) score of one image, in [0, 1].

    Args:
        pred_masks (np.ndarray | torch.Tensor): ``(n, H, W)`` predicted
            masks, most salient first.
        gt_masks (np.ndarray | torch.Tensor): ``(m, H, W)`` GT masks, most
            salient first.
        convention (str): ``'posesor'`` (reference ``Metrics.sor``: first
            prediction in order with IoU > 0.5 per GT, ``(rho + 1) / 2``,
            one pair 1.0, none NaN, NaN counted as 0 in the mean) or
            ``'assr'``, ``'dsgnn'``, ``'qagnet'`` (rank-map mode inside
            each GT, see :func:`_sor_rank_map`; NaN images are excluded
            from the mean).
        pred_scores (np.ndarray | torch.Tensor, optional): ``(n,)`` rank
            scores for the maps of ``'dsgnn'`` and ``'qagnet'``; default:
            the given order.
        pred_objectness (np.ndarray | torch.Tensor, optional): ``(n,)``
            objectness scores for the convention's :data:`PRED_FILTERS`.

    Returns:
        float: ``(rho + 1) / 2``, 1.0 or NaN.

    Raises:
        ValueError: If ``m == 0`` or the convention is unknown.
    """
    return _single_metric('sor', convention, pred_masks, gt_masks, pred_scores,
                          pred_objectness)


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


def _mae_rank_map(pred_map: np.ndarray, gt_grey: np.ndarray,
                  arithmetic: str) -> float:
    """Mean absolute difference of two grey rank maps, in [0, 1].

    Args:
        pred_map (np.ndarray): ``(H, W)`` grey levels of the prediction.
        gt_grey (np.ndarray): ``(H, W)`` grey levels of the GT.
        arithmetic (str): One of :data:`MAE_ARITHMETIC`.

    Returns:
        float: The error.
    """
    if arithmetic == 'float64':
        diff = np.abs(pred_map.astype(np.float64) - gt_grey)
        return float(np.mean(diff) / MAX_GREY)
    if arithmetic == 'float32_of_quotient':
        pred = (pred_map / MAX_GREY).astype(np.float32)
        gt = (gt_grey / MAX_GREY).astype(np.float32)
    elif arithmetic == 'float32_quotient':
        pred = pred_map.astype(np.float32) / np.float32(MAX_GREY)
        gt = gt_grey.astype(np.float32) / np.float32(MAX_GREY)
    else:
        raise ValueError(f'unknown MAE arithmetic {arithmetic!r}')
    # mean_absolute_error: float32 column mean of |pred - gt|
    return float(np.abs(pred - gt).reshape(-1, 1).mean(axis=0)[0])


def mae(pred_masks: ArrayLike,
        gt_masks: ArrayLike,
        convention: str = 'posesor',
        pred_scores: Optional[ArrayLike] = None,
        pred_objectness: Optional[ArrayLike] = None) -> float:
    """Mean absolute error of one image, in [0, 1].

    Args:
        pred_masks (np.ndarray | torch.Tensor): ``(n, H, W)`` predicted
            masks, most salient first.
        gt_masks (np.ndarray | torch.Tensor): ``(m, H, W)`` GT masks, most
            salient first.
        convention (str): ``'posesor'`` (reference: mean ``|union of
            predictions - union of GTs|`` over pixels, binary and
            rank-agnostic) or ``'assr'``, ``'dsgnn'``, ``'qagnet'`` (mean
            absolute difference of grey rank maps, see
            :data:`CONVENTION_OPTIONS` and :func:`_mae_rank_map`).
        pred_scores (np.ndarray | torch.Tensor, optional): ``(n,)`` rank
            scores for the maps of ``'dsgnn'`` and ``'qagnet'``.
        pred_objectness (np.ndarray | torch.Tensor, optional): ``(n,)``
            objectness scores for the convention's :data:`PRED_FILTERS`.

    Returns:
        float: The error.

    Raises:
        ValueError: If ``m == 0`` or the convention is unknown.
    """
    return _single_metric('mae', convention, pred_masks, gt_masks, pred_scores,
                          pred_objectness)


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
            in the dict use ``'posesor'``). ``'all'`` (alone, or as the
            convention of a metric in a dict) selects every convention the
            metric has.

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
            if chosen == [ALL_CONVENTIONS]:
                chosen = list(SUPPORTED_CONVENTIONS[metric])
            for conv in chosen:
                _check_convention(metric, conv)
        else:
            chosen = [convention] if isinstance(convention,
                                                str) else list(convention)
            if chosen == [ALL_CONVENTIONS]:
                chosen = list(CONVENTIONS)
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
        overlaps: Optional[MaskOverlaps] = None,
        pred_objectness: Optional[ArrayLike] = None) -> Dict[str, float]:
    """Compute several metrics of one image sharing one set of overlaps.

    Args:
        pred_masks (np.ndarray | torch.Tensor, optional): ``(n, H, W)``,
            most salient first. May be ``None`` when ``overlaps`` is given
            and no pair of :data:`DENSE_PAIRS` is asked.
        gt_masks (np.ndarray | torch.Tensor, optional): ``(m, H, W)``,
            most salient first; same rule as ``pred_masks``.
        pairs (Sequence[tuple[str, str]]): (metric, convention) pairs, e.g.
            from :func:`normalize_conventions`.
        pred_scores: ``(n,)`` rank scores (higher = more salient) for the
            greedy SA-SOR and the rank maps that rank by score; default:
            the given order (:func:`default_rank_scores`).
        pred_keypoints: ``(n, 17, 2)`` pixels, for JAE.
        gt_keypoints: ``(m, 17, 2)`` pixels, for JAE.
        gt_keypoints_visible: ``(m, 17)``, for JAE.
        overlaps (MaskOverlaps, optional): Precomputed pixel counts (e.g.
            from run-length encodings, :mod:`posesor.evaluation.mask_rle`);
            computed from the masks when omitted.
        pred_objectness: ``(n,)`` objectness scores, for the conventions of
            :data:`PRED_FILTERS`; without them no prediction is filtered
            by score.

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
    num_gt, num_pred = overlaps.inter.shape
    if num_gt == 0:
        raise ValueError('gt_masks is empty (m == 0): SOR metrics are '
                         'undefined for an image without salient objects')
    filtered = any(PRED_FILTERS.get(conv) for _, conv in pairs)
    # rank scores only where used (np.linspace costs as much as a metric)
    scores = None
    if filtered or any(CONVENTION_OPTIONS[pair]['kind'] in SCORED_KINDS
                       for pair in pairs):
        scores = _scores_or_default(pred_scores, num_pred)
    objectness = None
    if filtered and pred_objectness is not None:
        objectness = _scores_or_default(pred_objectness, num_pred)
    results: Dict[str, float] = {}
    views: Dict[Optional[PredFilter], _PredView] = {}
    gt_maps: Dict[str, np.ndarray] = {}
    for metric, conv in pairs:
        filt = PRED_FILTERS.get(conv)
        if filt not in views:
            keep = kept_predictions(filt, scores, objectness)
            views[filt] = _PredView(overlaps, pred, scores, keep)
        view = views[filt]
        options = CONVENTION_OPTIONS[(metric, conv)]
        key = metric_key(metric, conv)
        if metric == 'jae':
            if gt_keypoints is None or gt_keypoints_visible is None or (
                    num_pred > 0 and pred_keypoints is None):
                raise ValueError('jae needs pred_keypoints, gt_keypoints '
                                 'and gt_keypoints_visible')
            gt_inds, pred_inds, _ = view.match()
            results[key] = _jae_from_match(gt_inds, pred_inds, pred_keypoints,
                                           gt_keypoints, gt_keypoints_visible,
                                           overlaps.image_size)
        else:
            results[key] = _evaluate_pair(metric, options, view, gt, gt_maps)
    return results


def kept_predictions(filt: Optional[PredFilter], scores: np.ndarray,
                     objectness: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """Indices of the predictions a convention scores, in order.

    Args:
        filt (PredFilter, optional): The convention's filter.
        scores (np.ndarray): ``(n,)`` rank scores.
        objectness (np.ndarray, optional): ``(n,)`` objectness scores; the
            score threshold is skipped without them.

    Returns:
        np.ndarray | None: Ascending indices, or None for "all".
    """
    if filt is None:
        return None
    keep = np.arange(len(scores))
    if filt.score_thr is not None and objectness is not None:
        keep = keep[objectness > filt.score_thr]
    if filt.max_preds is not None and len(keep) > filt.max_preds:
        # highest rank scores, earlier predictions first among equals
        best = sorted(keep.tolist(), key=lambda k: -scores[k])
        keep = np.sort(np.asarray(best[:filt.max_preds], dtype=np.int64))
    return keep


class _PredView:
    """The predictions one convention sees (all or a filtered subset) with
    their overlaps, masks, rank scores and, once asked, Hungarian match."""

    def __init__(self, overlaps: MaskOverlaps, pred: Optional[np.ndarray],
                 scores: Optional[np.ndarray],
                 keep: Optional[np.ndarray]) -> None:
        self.overlaps = overlaps
        self.inter, self.union = overlaps.inter, overlaps.union
        self.pred, self.scores = pred, scores
        if keep is not None:
            self.inter, self.union = self.inter[:, keep], self.union[:, keep]
            self.scores = scores[keep]
            if pred is not None:
                self.pred = pred[keep]
        self.filtered = keep is not None
        self.ious = self.inter / (self.union + IOU_EPS)
        self._match = None
        self._maps: Dict[str, np.ndarray] = {}

    def match(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._match is None:
            self._match = hungarian_match(self.ious)
        return self._match

    def rank_map(self, encoding: str) -> np.ndarray:
        """:func:`prediction_map` of these predictions (SOR and MAE of a
        convention share it)."""
        if encoding not in self._maps:
            self._maps[encoding] = prediction_map(self.pred, self.scores,
                                                  encoding)
        return self._maps[encoding]


def _evaluate_pair(metric: str, options: Dict[str, Union[str, bool]],
                   view: _PredView, gt: Optional[np.ndarray],
                   gt_maps: Dict[str, np.ndarray]) -> float:
    """Value of one metric under one option set of
    :data:`CONVENTION_OPTIONS` (``gt_maps`` caches :func:`gt_map`)."""
    kind = options['kind']
    if metric == 'sa_sor':
        if kind == 'hungarian':
            return _sa_sor_posesor(view.ious, view.match())
        return _sa_sor_irsr(view.inter, view.union, view.scores,
                            bool(options['cut_scores_to_gt']))
    if metric == 'sor':
        if kind == 'first_hit':
            return _sor_posesor(view.ious)
        return _sor_rank_map(
            view.rank_map(options['pred_map']), gt, options['gt_values'])
    if kind == 'binary_union':
        if view.filtered:
            raise ValueError('the binary-union MAE has no prediction filter')
        return _mae_posesor(view.overlaps)
    encoding = options['gt_map']
    if encoding not in gt_maps:
        gt_maps[encoding] = gt_map(gt, encoding)
    return _mae_rank_map(
        view.rank_map(options['pred_map']), gt_maps[encoding],
        options['arithmetic'])


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
