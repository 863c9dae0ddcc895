# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The DSGNN and QAGNet conventions against their authors' scripts, and the
conventions table.

``tests/data/sor_conventions/dsgnn_qagnet_1000.npz`` holds 1000 random
cases and the values DSGNN's ``SORDataset.evaluate`` and QAGNet's
``inference`` (``LIMITED`` False and True) gave them on the CPU
(``tools/misc/make_convention_fixtures.py`` made it; its docstring says
how). The scripts' SA-SOR goes through
``pandas.Series.corr`` of pandas 2.2 (``np.corrcoef``), which can differ in
the last bit from the pandas >= 3 arithmetic this project reproduces, hence
the 1e-12 tolerance there; SOR and MAE are compared exactly.
"""
import importlib.util
import math
import os.path as osp

import numpy as np
import pytest

from posesor.evaluation import functional as F
from posesor.evaluation.convention_table import (convention_thresholds,
                                                 format_convention_table)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FIXTURE = osp.join(REPO, 'tests', 'data', 'sor_conventions',
                   'dsgnn_qagnet_1000.npz')
NEW = ('dsgnn', 'qagnet', 'qagnet_limited')
METRICS3 = ('sa_sor', 'sor', 'mae')
#: Last-bit differences of pandas 2.2's Pearson r (see the module doc).
PEARSON_TOL = 1e-12
MIN_CASES = 1000


def load_generator():
    path = osp.join(REPO, 'tools', 'misc', 'make_convention_fixtures.py')
    spec = importlib.util.spec_from_file_location('make_fixtures', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def fixture_cases():
    data = dict(np.load(FIXTURE))
    return data, load_generator().case_arrays(data)


def same(a, b, tol=0.0):
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= tol


def score_case(case, pairs):
    return F.evaluate_image(
        case['pred'],
        case['gt'],
        pairs,
        pred_scores=case['rank_scores'],
        pred_objectness=case['objectness'])


def test_new_conventions_equal_the_original_scripts(fixture_cases):
    data, cases = fixture_cases
    assert len(cases) >= MIN_CASES
    pairs = [(metric, conv) for conv in NEW for metric in METRICS3]
    per_image = {pair: [] for pair in pairs}
    for c, case in enumerate(cases):
        got = score_case(case, pairs)
        for metric, conv in pairs:
            value = got[F.metric_key(metric, conv)]
            ref = float(data[f'{conv}_{metric}'][c])
            tol = PEARSON_TOL if metric == 'sa_sor' else 0.0
            assert same(value, ref, tol), (c, metric, conv, value, ref)
            per_image[(metric, conv)].append(value)
    # dataset means: the scripts average in their own order (and SOR
    # normalises the mean of rho), equal up to rounding
    for (metric, conv), values in per_image.items():
        mean, _, _ = F.aggregate(values, F.NAN_POLICY[(metric, conv)])
        ref = float(data[f'{conv}_dataset_{metric}'])
        assert mean == pytest.approx(ref, abs=1e-9), (metric, conv)


def test_fixture_cases_tell_the_conventions_apart(fixture_cases):
    """The cases exercise every option in which the new conventions differ
    from the old ones (else equality above would prove little)."""
    _, cases = fixture_cases
    pairs = F.normalize_conventions(METRICS3, 'all')
    differ = {}
    for case in cases:
        got = score_case(case, pairs)
        for a, b in (('sa_sor_dsgnn', 'sa_sor_irsr'), ('sa_sor_qagnet',
                                                       'sa_sor_irsr'),
                     ('sor_dsgnn', 'sor_assr'), ('sor_qagnet', 'sor_assr'),
                     ('mae_dsgnn', 'mae_assr'), ('mae_qagnet', 'mae_assr'),
                     ('sor_qagnet_limited',
                      'sor_qagnet'), ('mae_qagnet_limited', 'mae_qagnet')):
            if not same(got[a], got[b], 1e-9):
                differ[(a, b)] = differ.get((a, b), 0) + 1
    assert len(differ) == 8 and min(differ.values()) >= 10, differ


# --------------------------------------------------------------------------
# hand-computed cases of the new options
# --------------------------------------------------------------------------
H, W = 10, 20


def box(y0, y1, x0, x1):
    m = np.zeros((H, W), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


A, B, C = box(0, 4, 0, 4), box(0, 4, 6, 10), box(5, 9, 0, 4)
X, Y = box(5, 9, 12, 16), box(0, 4, 14, 18)


def test_dsgnn_cuts_the_scores_to_the_gt_count():
    gt = np.stack([A, B, C])
    # A and C found; two false positives X, Y, scored between them
    pred = np.stack([A, X, Y, C])
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    # IRSR ranks the scores of [A, C, X, Y] -> A 4, C 1: gt (3, 2, 1) vs
    # pred (4, 0, 1); DSGNN ranks only [A, C, X] -> A 3, C 1: (3, 0, 1)
    irsr = F.sa_sor(pred, gt, 'irsr', pred_scores=scores)
    dsgnn = F.sa_sor(pred, gt, 'dsgnn', pred_scores=scores)
    assert irsr == pytest.approx(np.corrcoef([3, 2, 1], [4, 0, 1])[0, 1])
    assert dsgnn == pytest.approx(np.corrcoef([3, 2, 1], [3, 0, 1])[0, 1])
    assert irsr != pytest.approx(dsgnn)


def test_prediction_maps():
    pred = np.stack([A, box(0, 4, 2, 8), C])  # the second overlaps A
    scores = np.array([0.9, 0.8, 0.8])  # a tie: positions 3, 1, 1
    dsgnn_rank = F.prediction_map(pred, scores, 'dsgnn_rank')
    # rank numbers n + 1 - position, later masks painted over earlier ones
    assert dsgnn_rank[0, 0] == 1 and dsgnn_rank[0, 3] == 3
    assert dsgnn_rank[6, 1] == 3
    dsgnn_grey = F.prediction_map(pred, scores, 'dsgnn_grey')
    assert dsgnn_grey[0, 0] == 255 and dsgnn_grey[0, 3] == 204
    # QAGNet (n = 3): floor(25.5 * (position + 7)); the most salient keeps
    # the shared pixels
    qagnet = F.prediction_map(pred, scores, 'qagnet')
    assert qagnet[0, 0] == 255 and qagnet[0, 3] == 255
    assert qagnet[0, 6] == 204 and qagnet[6, 1] == 204
    # twelve predictions: colours below 25 are raised to 25
    many = np.stack([box(0, 1, k, k + 1) for k in range(12)])
    colours = F.prediction_map(many, np.arange(12, 0, -1), 'qagnet')[0, :12]
    expected = [max(math.floor(25.5 * (a - 2)), 25) for a in range(12, 0, -1)]
    assert colours.tolist() == expected
    # DSGNN paints every prediction, 153 from the fifth rank on; ASSR only
    # the first five
    assert F.prediction_map(many, np.arange(12, 0, -1),
                            'dsgnn_grey')[0, 11] == 153
    assert F.prediction_map(many, np.arange(12, 0, -1), 'assr')[0, 11] == 0


def test_sor_mode_ties_depend_on_the_map_values():
    """scipy's mode keeps the smallest value: the most salient rank number
    in DSGNN's map, the least salient grey level in ASSR's and QAGNet's."""
    gt = np.stack([A, B])
    # A half covered by the first prediction, half by the second, which
    # also covers B
    pred = np.stack([box(0, 4, 0, 2), box(0, 4, 2, 4) | B])
    # DSGNN: A -> rank 1, B -> rank 2: rho = 1
    assert F.sor(pred, gt, 'dsgnn') == 1.0
    # ASSR (255 | 229) and QAGNet (255 | 229): A -> 229, B -> 229: the
    # predicted side is constant, the image is not used
    assert math.isnan(F.sor(pred, gt, 'assr'))
    assert math.isnan(F.sor(pred, gt, 'qagnet'))


def test_qagnet_filter_and_mae_arithmetic():
    gt = np.stack([A, B])
    pred = np.stack([A, B])
    # objectness 0.9 and 0.7: QAGNet keeps score > 0.7 only
    objectness = np.array([0.9, 0.7])
    values = F.evaluate_image(
        pred,
        gt, [('sa_sor', 'qagnet'), ('sa_sor', 'irsr'), ('mae', 'qagnet')],
        pred_objectness=objectness)
    assert values['sa_sor_irsr'] == pytest.approx(1.0)
    # B is lost: pred index (1, 0) vs gt (2, 1) -> r = 1
    assert values['sa_sor_qagnet'] == pytest.approx(1.0)
    # one prediction: colour floor(25.5 * 10) = 255 on A; GT map 255 on A,
    # 229 on B (16 px each)
    expected = np.float32(229) / np.float32(255) * np.float32(16 / (H * W))
    assert values['mae_qagnet'] == pytest.approx(float(expected), rel=1e-6)
    # without objectness nothing is filtered
    unfiltered = F.mae(pred, gt, 'qagnet')
    assert unfiltered < values['mae_qagnet']
    assert F.kept_predictions(F.PRED_FILTERS['qagnet'], np.ones(2),
                              None).tolist() == [0, 1]


def test_max_preds_filter_keeps_the_highest_rank_scores():
    filt = F.PredFilter(max_preds=2)
    keep = F.kept_predictions(filt, np.array([0.2, 0.9, 0.5, 0.9]), None)
    assert keep.tolist() == [1, 3]


def test_all_conventions_and_table():
    pairs = F.normalize_conventions(['sa_sor', 'sor', 'mae'], 'all')
    assert pairs == [(m, c) for m in ('sa_sor', 'sor', 'mae')
                     for c in F.SUPPORTED_CONVENTIONS[m]]
    assert F.normalize_conventions(['sor'], dict(sor='all')) == [
        ('sor', c) for c in F.SUPPORTED_CONVENTIONS['sor']
    ]
    gt = np.stack([A, B, C])
    values = F.evaluate_image(np.stack([A, C]), gt, pairs)
    summary = {}
    for (metric, conv) in pairs:
        key = F.metric_key(metric, conv)
        summary.update({key: values[key], f'{key}_count': 1, f'{key}_nan': 0})
    summary.update(
        num_images=1,
        num_images_without_gt=0,
        num_images_missing=0,
        qagnet_score_thr=0.7,
        qagnet_score_thr_images=0)
    table = format_convention_table(summary, pairs)
    lines = table.splitlines()
    assert lines[0].split(' | ')[0].strip() == 'convention'
    rows = {line.split(' | ')[0].strip(): line for line in lines[2:-1]}
    assert set(rows) == set(F.CONVENTIONS)
    # irsr has no SOR/MAE, assr no SA-SOR
    assert rows['irsr'].split(' | ')[2].strip() == '-'
    assert rows['assr'].split(' | ')[1].strip() == '-'
    assert f'{values["sa_sor"]:.4f} (1 used, 0 as 0)' in rows['posesor']
    assert '(1 used, 0 excl.)' in rows['dsgnn']
    assert 'score > 0.7 (0 images)' in rows['qagnet']
    assert 'scores cut to m' in convention_thresholds('dsgnn', pairs, summary)
    assert 'SA-SOR IoU > 0.5' in rows['posesor']
    assert 'SOR coverage > 0.5' in rows['assr']


def test_bad_conventions():
    with pytest.raises(ValueError, match='unknown convention'):
        F.normalize_conventions(['sor'], ['all', 'posesor'])
    with pytest.raises(ValueError, match='no convention'):
        F.sor(np.stack([A]), np.stack([A]), 'irsr')
    with pytest.raises(ValueError, match='unknown prediction map'):
        F.prediction_map(np.stack([A]), np.ones(1), 'jpeg')
