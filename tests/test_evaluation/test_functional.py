# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Tests of the SOR metric functions.

Hand-computed cases use three disjoint boxes on a 20 x 30 image:
A (25 px, rank 1), B (30 px, rank 2), C (42 px, rank 3).
"""
import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.optimize import linear_sum_assignment

from posesor.evaluation import functional as F
from posesor.evaluation.functional import mae, mask_iou, sa_sor, sor

H, W = 20, 30
HW = H * W
# ASSR grey map denominator: 255 * number of pixels
GREY_HW = 255 * HW


def box(y0, y1, x0, x1):
    m = np.zeros((H, W), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


A = box(0, 5, 0, 5)  # 25 px
B = box(0, 5, 10, 16)  # 30 px
C = box(10, 16, 0, 7)  # 42 px
X = box(15, 20, 20, 30)  # 50 px, false positive
C_PART = box(10, 15, 0, 7)  # 35 px, IoU(C_PART, C) = 35 / 42
GT = np.stack([A, B, C])


def stack(*masks):
    if not masks:
        return np.zeros((0, H, W), dtype=bool)
    return np.stack(masks)


def same(a, b, tol=1e-9):
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


# (name, preds, sa_sor posesor, sa_sor irsr, sor posesor, sor assr,
#  mae posesor, mae assr)
HAND_CASES = [
    ('perfect', stack(A, B, C), 1.0, 1.0, 1.0, 1.0, 0.0, 0.0),
    # ranks (3, 2, 1) vs (1, 2, 3); ASSR maps differ by 51 on A and C
    ('reversed', stack(C, B, A), -1.0, -1.0, 0.0, 0.0, 0.0,
     51 * (25 + 42) / GREY_HW),
    # SA-SOR lists gt [3, 1, 2] / pred [2, 1, 0] -> r = 1 / 2
    ('missed_gt', stack(A, C), 0.5, 0.5, 1.0, 1.0, 30 / HW,
     (229 * 30 + 25 * 42) / GREY_HW),
    # gt [3, 2, 1] / pred [4, 2, 1] -> r = 3 / sqrt(2 * 42 / 9)
    ('extra_fp', stack(A, X, B, C), 9 / math.sqrt(84), 9 / math.sqrt(84), 1.0,
     1.0, 50 / HW, (229 * 50 + 25 * 30 + 26 * 42) / GREY_HW),
    ('no_prediction', stack(), math.nan, 0.0, math.nan, math.nan, 97 / HW,
     (255 * 25 + 229 * 30 + 204 * 42) / GREY_HW),
    # A partial copy of C predicted first: Hungarian and IRSR pick the exact
    # C, the first-hit rule of SOR pairs C with the copy: pred ranks
    # (3, 2, 4) -> rho = -0.5 -> 0.25. ASSR paints C over the copy.
    ('duplicate', stack(C_PART, A, B, C), 1.0, 1.0, 0.25, 1.0, 0.0,
     (26 * 25 + 25 * 30 + 26 * 42) / GREY_HW),
]


@pytest.mark.parametrize('case', HAND_CASES, ids=[c[0] for c in HAND_CASES])
def test_hand_cases(case):
    _, preds, sa_p, sa_i, sor_p, sor_a, mae_p, mae_a = case
    assert same(sa_sor(preds, GT), sa_p)
    assert same(sa_sor(preds, GT, convention='irsr'), sa_i)
    assert same(sor(preds, GT), sor_p)
    assert same(sor(preds, GT, convention='assr'), sor_a)
    assert same(mae(preds, GT), mae_p)
    assert same(mae(preds, GT, convention='assr'), mae_a)
    # the combined entry point gives the same numbers
    pairs = F.normalize_conventions(['sa_sor', 'sor', 'mae'],
                                    dict(
                                        sa_sor=['posesor', 'irsr'],
                                        sor=['posesor', 'assr'],
                                        mae=['posesor', 'assr']))
    values = F.evaluate_image(preds, GT, pairs)
    assert same(values['sa_sor'], sa_p)
    assert same(values['sa_sor_irsr'], sa_i)
    assert same(values['sor'], sor_p)
    assert same(values['sor_assr'], sor_a)
    assert same(values['mae'], mae_p)
    assert same(values['mae_assr'], mae_a)


def test_single_gt():
    gt = stack(A)
    # one point: Pearson undefined (posesor NaN, counted as 0 later);
    # IRSR leaves single-GT images out (NaN here)
    assert math.isnan(sa_sor(stack(A), gt))
    assert math.isnan(sa_sor(stack(A), gt, convention='irsr'))
    assert sor(stack(A), gt) == 1.0
    assert sor(stack(X, A), gt, convention='assr') == 1.0
    assert math.isnan(sor(stack(B), gt))
    assert math.isnan(sor(stack(B), gt, convention='assr'))
    assert mae(stack(A), gt) == 0.0


def test_irsr_rank_scores_and_appended_predictions():
    # IRSR re-ranks matched predictions by their score: giving B a higher
    # score than A swaps them although they come in the order A, B, C.
    scores = np.array([0.5, 0.9, 0.1])
    assert same(sa_sor(stack(A, B, C), GT, 'irsr', pred_scores=scores), 0.5)
    # m < n: unclaimed predictions are appended and re-ranked together
    # with the matched ones; pred [A, X, X2, C] for GT [A, B, C]:
    # indices gt [3, 2, 1], pred [4, 0, 1] -> r = 9 / sqrt(156)
    x2 = box(16, 20, 10, 14)
    assert same(sa_sor(stack(A, X, x2, C), GT, 'irsr'), 9 / math.sqrt(156))
    assert same(sa_sor(stack(A, X, x2, C), GT), 9 / math.sqrt(156))


def row_major_range(start, stop, h=100, w=100):
    """Mask of the pixels ``[start, stop)`` in row-major order."""
    m = np.zeros(h * w, dtype=bool)
    m[start:stop] = True
    return m.reshape(h, w)


def test_irsr_float32_ties_go_to_the_later_prediction():
    # the reproducer: 4141/4142 and 4140/4141 differ in float64
    # but are equal in float32, where IRSR keeps the later prediction
    gt = np.stack([row_major_range(0, 4141), row_major_range(6000, 7000)])
    preds = np.stack([
        row_major_range(0, 4142),
        row_major_range(6000, 7000),
        row_major_range(0, 4140)
    ])
    assert np.float32(4141) / np.float32(4142) == \
        np.float32(4140) / np.float32(4141)
    assert 4141 / 4142 != 4140 / 4141
    scores = [1.0, 0.75, 0.5]
    # GT0 -> prediction 2 (score 0.5), GT1 -> prediction 1 (0.75):
    # predicted indices [1, 2] against GT indices [2, 1]; IRSR's script
    # (np.corrcoef through pandas) gives -0.9999999999999999 here
    assert sa_sor(
        preds, gt, 'irsr', pred_scores=scores) == pytest.approx(
            -1.0, abs=1e-12)
    # the posesor convention (float64, Hungarian) keeps prediction 0
    assert sa_sor(preds, gt) == pytest.approx(1.0)
    inter, union = F.mask_overlaps(preds, gt)
    ious = F.irsr_iou(inter, union)
    assert ious.dtype == np.float64
    assert ious[0, 0] == ious[0, 2] == float(
        np.float32(4141) / np.float32(4142))


def test_irsr_ties_follow_numpy_argsort_like_irsr():
    # GT0 has the same IoU with predictions 0 and 1 (copies); IRSR takes
    # the last entry of np.argsort, which for a row [a, a, 0, b] need not
    # be the later copy (it is not with numpy's AVX-512 sort)
    gt = np.stack([
        row_major_range(823, 4409),
        row_major_range(4384, 8704),
        row_major_range(4473, 6610)
    ])
    preds = np.stack([
        row_major_range(824, 4407),
        row_major_range(824, 4407),
        row_major_range(4471, 6611),
        row_major_range(4382, 8704)
    ])
    scores = [0.81551041, 0.50597263, 0.21706718, 0.07513269]
    assert same(
        sa_sor(preds, gt, 'irsr', pred_scores=scores),
        ref_irsr(preds, gt, scores),
        tol=1e-12)


def test_irsr_exact_ties_between_predictions_and_between_gts():
    # two predictions with the same IoU (0.6) with GT0: np.argsort puts the
    # later one last for three values
    gt = np.stack([row_major_range(0, 100), row_major_range(5000, 5100)])
    preds = np.stack([
        row_major_range(0, 60),
        row_major_range(5000, 5100),
        row_major_range(40, 100)
    ])
    # GT0 -> pred 2 (score 0.5), GT1 -> pred 1: indices [1, 2] -> -1
    assert sa_sor(preds, gt, 'irsr') == pytest.approx(-1.0, abs=1e-12)
    # one prediction claimed by two GTs with equal IoU (60 / 100): the
    # later GT keeps it, the earlier one becomes unmatched
    gt = np.stack([row_major_range(0, 60), row_major_range(40, 100)])
    preds = row_major_range(0, 100)[None]
    # predicted indices [0, 1] against GT indices [2, 1]
    assert sa_sor(preds, gt, 'irsr') == pytest.approx(-1.0, abs=1e-12)


def test_irsr_iou_threshold_is_inclusive():
    # IoU exactly 0.5 matches in IRSR (>= 0.5, no epsilon) but not in
    # PoseSOR (> 0.5 with +1e-6 in the union).
    gt = stack(box(0, 2, 0, 2), box(10, 12, 10, 12))
    half_first = box(0, 2, 0, 4)  # IoU 4 / 8
    pred = stack(half_first, box(10, 12, 10, 12))
    assert F.mask_iou(pred, gt)[0, 0] < 0.5
    # posesor: only GT 2 (rank value 1) is matched, to pred rank value 1;
    # GT rank value 2 is appended with 0: gt [1, 2], pred [1, 0] -> -1
    assert same(sa_sor(pred, gt), -1.0)
    # irsr: both matched: gt index [2, 1], pred index [2, 1]
    assert same(sa_sor(pred, gt, 'irsr'), 1.0)
    swapped = stack(box(10, 12, 10, 12), half_first)
    assert same(sa_sor(swapped, gt, 'irsr'), -1.0)
    # posesor: gt [1, 2], pred [2, 0] -> -1
    assert same(sa_sor(swapped, gt), -1.0)


def test_assr_coverage_and_top5():
    # a prediction covering exactly half of a GT does not count (> 50%)
    half_c = box(10, 13, 0, 7)  # 21 of 42 px
    assert math.isnan(sor(stack(half_c), stack(C), convention='assr'))
    more_c = box(10, 14, 0, 7)  # 28 of 42 px
    assert sor(stack(more_c), stack(C), convention='assr') == 1.0
    # only the first five predictions are painted
    fps = [box(19, 20, k, k + 1) for k in range(5)]
    assert math.isnan(sor(stack(*fps, A), stack(A), convention='assr'))
    assert sor(stack(*fps[:4], A), stack(A), convention='assr') == 1.0


def test_rank_levels():
    assert [F.rank_level(k)
            for k in range(7)] == [255, 229, 204, 178, 153, 127, 102]
    assert F.rank_level(20) == 1
    masks = stack(A, B)
    rmap = F.rank_map(masks)
    assert rmap[0, 0] == 255 and rmap[0, 10] == 229 and rmap[19, 29] == 0


def test_jae():
    gt_kpts = np.zeros((3, 17, 2))
    gt_kpts[0] = [2, 2]
    gt_kpts[1] = [12, 2]
    gt_kpts[2] = [3, 12]
    visible = np.zeros((3, 17))
    visible[0] = 1  # 17 visible joints
    visible[1, :5] = 2  # 5 visible joints
    pred_kpts = gt_kpts.copy()
    pred_kpts[0, :, 0] += 3  # dx = 3 / 30 = 0.1
    pred_kpts[1, :, 1] += 4  # dy = 4 / 20 = 0.2
    pred_kpts[2] += 10  # invisible: ignored
    expected = (17 * 0.1 + 5 * 0.2) / (22 + 1e-6)
    assert same(F.jae(GT, GT, pred_kpts, gt_kpts, visible), expected)
    # torch inputs, predictions in another order: Hungarian pairs them
    order = [2, 0, 1]
    assert same(
        F.jae(
            torch.from_numpy(GT[order]), GT,
            torch.from_numpy(pred_kpts[order]), gt_kpts, visible), expected)
    # all Hungarian pairs count, even with IoU 0 (as in the reference)
    far = np.full((1, 17, 2), 0.0)
    assert same(
        F.jae(stack(X), stack(A), far, gt_kpts[:1], visible[:1]),
        17 * (2 / 30 + 2 / 20) / (17 + 1e-6))
    # no visible joint, or no prediction: undefined (left out of the mean)
    assert math.isnan(
        F.jae(stack(A), stack(C), pred_kpts[:1], gt_kpts[2:], visible[2:]))
    assert math.isnan(
        F.jae(stack(), GT, np.zeros((0, 17, 2)), gt_kpts, visible))


@pytest.mark.parametrize('fn', [
    lambda p, g: sa_sor(p, g), lambda p, g: sa_sor(p, g, 'irsr'),
    lambda p, g: sor(p, g), lambda p, g: sor(p, g, 'assr'),
    lambda p, g: mae(p, g), lambda p, g: mae(p, g, 'assr'),
    lambda p, g: F.jae(p, g, np.zeros((1, 17, 2)), np.zeros(
        (0, 17, 2)), np.zeros((0, 17)))
])
def test_empty_gt_raises(fn):
    with pytest.raises(ValueError, match='m == 0'):
        fn(stack(A), stack())


def test_bad_inputs():
    with pytest.raises(ValueError, match='no convention'):
        sa_sor(stack(A), GT, convention='assr')
    with pytest.raises(ValueError, match='no convention'):
        sor(stack(A), GT, convention='irsr')
    with pytest.raises(ValueError, match='size'):
        sor(np.zeros((1, 5, 5), bool), GT)
    with pytest.raises(ValueError, match=r'\(k, H, W\)'):
        mae(A, GT)
    with pytest.raises(ValueError, match='pred_scores'):
        sa_sor(stack(A), GT, 'irsr', pred_scores=[1.0, 0.5])


def test_soft_masks_are_binarised():
    soft = np.stack([A, B, C]).astype(np.float32) * 0.6
    assert sa_sor(soft, GT) == 1.0
    assert mae(soft * 0.8, GT) == 97 / HW  # 0.48 is background


# --------------------------------------------------------------------------
# randomized checks against straightforward per-pair implementations
# --------------------------------------------------------------------------
def direct_iou(p, g):
    inter = np.logical_and(p > 0.5, g > 0.5).sum()
    union = np.logical_or(p > 0.5, g > 0.5).sum()
    return inter / (union + 1e-6)


def ref_posesor(preds, gts, pred_kpts=None, gt_kpts=None, gt_vis=None):
    """Re-implementation of the PoseSOR reference definitions with per-pair
    loops over lists of masks, padding an empty prediction list with one
    empty mask as the reference does."""
    preds = list(preds) if len(preds) else [np.zeros_like(gts[0])]
    n_gt, n_pred = len(gts), len(preds)
    cost = np.array([[1.0 - direct_iou(p, g) for p in preds] for g in gts])
    gi, pj = linear_sum_assignment(cost)
    ious = 1.0 - cost[gi, pj]
    # SA-SOR
    keep = ious > 0.5
    g_r = list(n_gt - gi[keep])
    p_r = list(n_pred - pj[keep])
    for r in range(1, n_gt + 1):
        if r not in g_r:
            g_r.append(r)
            p_r.append(0)
    with _quiet():
        sa = np.corrcoef(g_r, p_r)[0, 1]
    # SOR
    g_r, p_r = [], []
    for i in range(n_gt):
        for j in range(n_pred):
            if direct_iou(preds[j], gts[i]) > 0.5:
                g_r.append(n_gt - i)
                p_r.append(n_pred - j)
                break
    if len(g_r) > 1:
        with _quiet():
            s = (stats.spearmanr(p_r, g_r)[0] + 1.0) / 2.0
    elif len(g_r) == 1:
        s = 1.0
    else:
        s = math.nan
    # MAE on merged maps
    merged_p = np.zeros(gts[0].shape)
    for p in preds:
        merged_p = np.maximum(merged_p, p.astype(float))
    merged_g = np.zeros(gts[0].shape)
    for g in gts:
        merged_g = np.maximum(merged_g, g.astype(float))
    m = float(np.mean(np.abs(merged_p - merged_g)))
    out = dict(sa_sor=float(sa), sor=float(s), mae=m)
    if gt_kpts is not None and pred_kpts is not None and len(pred_kpts):
        h, w = gts[0].shape
        g = gt_kpts[gi] / np.array([w, h])
        p = np.stack([pred_kpts[j] for j in pj]) / np.array([w, h])
        lab = (gt_vis[gi].reshape(-1) > 0.5).astype(float)
        err = np.sum(
            np.abs(g.reshape(-1, 2) - p.reshape(-1, 2)) *
            lab[:, None]) / (1e-6 + lab.sum())
        out['jae'] = float(err) if lab.sum() > 0.5 else math.nan
    return out


class _quiet:
    """Silence numpy/scipy warnings about constant inputs."""

    def __enter__(self):
        import warnings
        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter('ignore')

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def ref_irsr(preds, gts, scores):
    """Re-implementation of IRSR's SA-SOR with loops (``match`` +
    ``get_rank_index``)."""
    if len(gts) == 1:
        return math.nan
    gt_index = np.arange(len(gts), 0, -1)
    if len(preds) == 0:
        rank_index = np.zeros(len(gts), dtype=int)
    else:
        iou = np.zeros((len(gts), len(preds)))
        for i, g in enumerate(gts):
            for j, p in enumerate(preds):
                # IRSR's calc_iou: float32 counts, float32 quotient
                union = np.logical_or(g, p).astype(np.float32).sum()
                inter = np.logical_and(g, p).astype(np.float32).sum()
                iou[i, j] = inter / union if union else 0
        best = iou.argsort()[:, -1]
        for i in range(len(gts)):
            if iou[i, best[i]] < 0.5:
                best[i] = -1
        for j in set(best.tolist()):
            if j < 0:
                continue
            who = np.nonzero(best == j)[0]
            if len(who) > 1:
                keep = who[iou[who, j].argsort()[-1]]
                best[who[who != keep]] = -1
        if len(best) < len(preds):
            for j in range(len(preds)):
                if j not in best:
                    best = np.append(best, j)
        unmatched = np.argwhere(best == -1).squeeze(1)
        used = best[best >= 0]
        s = list(np.asarray(scores)[used])
        rank_index = np.array([sorted(s).index(a) + 1 for a in s])
        for pos in unmatched:
            rank_index = np.insert(rank_index, pos, 0)
        rank_index = rank_index[:len(gts)]
    if np.var(rank_index) == 0:
        return 0.0
    return float(np.corrcoef(gt_index, rank_index)[0, 1])


def ref_assr(preds, gts):
    """Re-implementation of ASSR's SOR and rank-map MAE with loops."""
    levels = [255, 229, 204, 178, 153]
    pmap = np.zeros(gts[0].shape)
    for k in range(min(5, len(preds))):
        pmap = np.where(preds[k], levels[k], pmap)
    gmap = np.zeros(gts[0].shape)
    for k in range(len(gts)):
        gmap = np.where(gts[k], levels[k], gmap)
    mae_v = float(np.mean(np.abs(pmap / 255.0 - gmap / 255.0)))
    g_r, p_r = [], []
    for i, g in enumerate(gts):
        inside = np.where(g, pmap, 0)
        vals = inside[inside > 0]
        r = 0
        if len(vals) > int(g.sum() * 0.5):
            r = stats.mode(vals, keepdims=False).mode
        if r > 0:
            g_r.append(len(gts) - i)
            p_r.append(r)
    if len(g_r) > 1:
        with _quiet():
            s = (stats.spearmanr(g_r, p_r)[0] + 1.0) / 2.0
    elif len(g_r) == 1:
        s = 1.0
    else:
        s = math.nan
    return dict(sor_assr=float(s), mae_assr=mae_v)


def random_case(rng, h=24, w=32):
    """Random GT rectangles; predictions are jittered copies in a shuffled
    order, some dropped, plus random false positives."""
    m = int(rng.integers(1, 6))
    gts = []
    for _ in range(m):
        y0, x0 = rng.integers(0, h - 4), rng.integers(0, w - 4)
        y1 = rng.integers(y0 + 2, h + 1)
        x1 = rng.integers(x0 + 2, w + 1)
        g = np.zeros((h, w), bool)
        g[y0:y1, x0:x1] = True
        gts.append(g)
    preds = []
    for g in gts:
        if rng.random() < 0.2:
            continue
        p = g.copy()
        flip = rng.random((h, w)) < rng.uniform(0, 0.3)
        p[flip] = ~p[flip]
        preds.append(p)
    for _ in range(int(rng.integers(0, 3))):
        preds.append(rng.random((h, w)) < 0.2)
    order = rng.permutation(len(preds)) if rng.random() < 0.7 else \
        np.arange(len(preds))
    preds = [preds[k] for k in order]
    if rng.random() < 0.1:
        preds = []
    return np.array(preds).reshape(-1, h, w), np.stack(gts)


def test_mask_iou_matches_direct_computation():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n, m = int(rng.integers(0, 6)), int(rng.integers(1, 6))
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
        preds = rng.random((n, h, w)) < rng.uniform(0, 1)
        gts = rng.random((m, h, w))  # float masks, binarised at 0.5
        ious = mask_iou(preds, gts)
        assert ious.shape == (m, n)
        direct = np.array([[direct_iou(p, g) for p in preds]
                           for g in gts]).reshape(m, n)
        # bit-identical to the per-pair formula
        assert np.array_equal(ious, direct)
    # torch input gives the same matrix
    t = torch.rand(3, 9, 11) > 0.5
    g = torch.rand(2, 9, 11) > 0.5
    assert np.array_equal(mask_iou(t, g), mask_iou(t.numpy(), g.numpy()))


def test_random_inputs_agree_with_reference_definitions():
    rng = np.random.default_rng(1234)
    pairs = F.normalize_conventions(['sa_sor', 'sor', 'mae', 'jae'],
                                    dict(
                                        sa_sor=['posesor', 'irsr'],
                                        sor=['posesor', 'assr'],
                                        mae=['posesor', 'assr']))
    num_defined = 0
    for _ in range(150):
        preds, gts = random_case(rng)
        n, m = len(preds), len(gts)
        pred_kpts = rng.uniform(0, 30, (n, 17, 2))
        gt_kpts = rng.uniform(0, 30, (m, 17, 2))
        gt_vis = rng.integers(0, 3, (m, 17))
        ref = ref_posesor(preds, gts, pred_kpts, gt_kpts, gt_vis)
        ref['sa_sor_irsr'] = ref_irsr(preds, gts, np.linspace(1.0, 0.5, n))
        ref.update(ref_assr(preds, gts))
        got = F.evaluate_image(
            preds,
            gts,
            pairs,
            pred_keypoints=pred_kpts,
            gt_keypoints=gt_kpts,
            gt_keypoints_visible=gt_vis)
        assert same(got['sa_sor'], sa_sor(preds, gts))
        assert same(got['sor'], sor(preds, gts))
        assert same(got['mae'], mae(preds, gts))
        for key, value in ref.items():
            assert same(got[key], value, tol=1e-9), (key, got[key], value)
        if n == 0:
            assert math.isnan(got['jae'])
        num_defined += not math.isnan(got['sa_sor'])
    # the random cases are not all degenerate
    assert num_defined > 50


def test_aggregate_policies():
    values = [1.0, math.nan, 0.5, None]
    assert F.aggregate(values, 'zero') == (0.375, 4, 2)
    assert F.aggregate(values, 'skip') == (0.75, 2, 2)
    mean, count, num_nan = F.aggregate([math.nan], 'skip')
    assert math.isnan(mean) and count == 0 and num_nan == 1
    with pytest.raises(ValueError):
        F.aggregate([1.0], 'mean')


def test_normalize_conventions():
    assert F.normalize_conventions(['sa_sor', 'sor',
                                    'mae']) == [('sa_sor', 'posesor'),
                                                ('sor', 'posesor'),
                                                ('mae', 'posesor')]
    # one convention for all: metrics without it keep their default
    assert F.normalize_conventions(['sa_sor', 'sor', 'jae'],
                                   'assr') == [('sa_sor', 'posesor'),
                                               ('sor', 'assr'),
                                               ('jae', 'posesor')]
    assert F.normalize_conventions(['sa_sor'], ['posesor', 'irsr']) == [
        ('sa_sor', 'posesor'), ('sa_sor', 'irsr')
    ]
    assert F.metric_key('sa_sor', 'irsr') == 'sa_sor_irsr'
    with pytest.raises(ValueError, match='unknown SOR metric'):
        F.normalize_conventions(['ap'])
    with pytest.raises(ValueError, match='no convention'):
        F.normalize_conventions(['jae'], dict(jae='assr'))
    with pytest.raises(ValueError, match='unknown convention'):
        F.normalize_conventions(['sor'], 'coco')


def test_overlaps_chunked_and_popcount_fallback(monkeypatch):
    rng = np.random.default_rng(5)
    preds = rng.random((7, 13, 17)) < 0.4
    gts = rng.random((4, 13, 17)) < 0.4
    full = mask_iou(preds, gts)
    # split the broadcast over GT rows: same result
    monkeypatch.setattr(F, 'MAX_OVERLAP_BYTES', 1)
    assert np.array_equal(mask_iou(preds, gts), full)
    # byte-table popcount (numpy < 2) equals np.bitwise_count
    words = rng.integers(0, 2**63, (3, 5), dtype=np.uint64)
    table = F._BYTE_POPCOUNT[words.view(np.uint8)].sum(-1)
    assert np.array_equal(F.popcount(words), table)


def test_spearman_is_bit_identical_to_scipy():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(2, 12))
        x = rng.integers(0, 6, n).tolist()  # ties included
        y = rng.integers(0, 6, n).tolist()
        with _quiet():
            want = stats.spearmanr(x, y)[0]
        got = F._spearman(x, y)
        assert (math.isnan(got) and math.isnan(want)) or got == want


def test_pearson_is_bit_identical_to_numpy_corrcoef():
    """The rank correlations skip np.corrcoef's checks but keep its
    arithmetic: equal to the last bit, on rank lists and on floats."""
    rng = np.random.default_rng(8)
    for _ in range(300):
        n = int(rng.integers(2, 20))
        ranks = rng.integers(0, 6, (2, n)).tolist()  # ties included
        floats = rng.normal(size=(2, n)).tolist()
        for x, y in (ranks, floats):
            got = F._pearson(x, y)
            if len(set(x)) < 2 or len(set(y)) < 2:
                assert math.isnan(got)
                continue
            assert got == float(np.corrcoef(x, y)[0, 1])
            rows = np.array([x, y], dtype=np.float64)
            assert F.corrcoef_entry(rows, 1, 0) == float(
                np.corrcoef(np.array([x, y]))[1, 0])
