# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Pose-order accuracy: hand-computed cases and the registered metric."""
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from posesor.evaluation import (PoseOrderMetric, pose_order_accuracy,
                                pose_order_hits, pose_order_pairs)
from posesor.evaluation.pose_order import match_predictions

H = W = 8


def _masks(n):
    """n disjoint masks: mask k fills column k."""
    masks = np.zeros((n, H, W), bool)
    for k in range(n):
        masks[k, :, k] = True
    return masks


# P1 (id 10) -> O1 (11); P2 (12) -> O2 (13); decoy 14
ANNS = [
    dict(id=10, image_id=1, points_at=11),
    dict(id=11, image_id=1),
    dict(id=12, image_id=1, points_at=13),
    dict(id=13, image_id=1),
    dict(id=14, image_id=1),
]


def test_pairs():
    assert pose_order_pairs(ANNS) == [(0, 1), (2, 3)]
    assert pose_order_pairs(ANNS[1:2]) == []
    with pytest.raises(KeyError, match='points_at 99'):
        pose_order_pairs([dict(id=1, image_id=7, points_at=99)])


def test_hits_hand_computed():
    gt = _masks(5)
    pairs = pose_order_pairs(ANNS)
    # the GT order: both pairs right
    assert pose_order_hits(gt, gt, pairs).tolist() == [True, True]
    # P2, O2, O1, P1, decoy: only the second pair is person-then-object
    assert pose_order_hits(gt[[2, 3, 1, 0, 4]], gt,
                           pairs).tolist() == [False, True]
    # an unmatched prediction between P1 and O1 breaks that pair
    junk = np.zeros((1, H, W), bool)
    junk[0, 0, :] = True  # a row: IoU <= 1/8 with every column
    pred = np.concatenate([gt[[0]], junk, gt[[1, 2, 3]]])
    assert pose_order_hits(pred, gt, pairs).tolist() == [False, True]
    # a missed object is a miss
    assert pose_order_hits(gt[[0, 2, 3]], gt, pairs).tolist() == [False, True]
    assert pose_order_hits(gt[:0], gt, pairs).tolist() == [False, False]


def test_matching_needs_iou_above_half():
    gt = np.zeros((1, H, W), bool)
    gt[0, :, :2] = True  # 16 pixels
    pred = np.zeros((1, H, W), bool)
    pred[0, :, 1:3] = True  # IoU 8 / 24
    assert match_predictions(pred, gt).tolist() == [-1]
    pred[0, :, 0] = True  # IoU 16 / 24
    assert match_predictions(pred, gt).tolist() == [0]


def test_accuracy_and_chance():
    hits = [np.array([True, False]), np.array([True]), np.array([], bool)]
    res = pose_order_accuracy(hits, [5, 4, 3])
    assert res['accuracy'] == pytest.approx(2 / 3)
    # chance: 1/m per pair, averaged over pairs
    assert res['chance'] == pytest.approx((2 / 5 + 1 / 4) / 3)
    assert res['num_pairs'] == 3
    empty = pose_order_accuracy([], [])
    assert empty['num_pairs'] == 0 and np.isnan(empty['accuracy'])


def test_chance_matches_random_orders():
    gt = _masks(5)
    pairs = pose_order_pairs(ANNS)
    rng = np.random.default_rng(0)
    hits = [
        pose_order_hits(gt[rng.permutation(5)], gt, pairs) for _ in range(4000)
    ]
    res = pose_order_accuracy(hits, [5] * len(hits))
    assert res['chance'] == pytest.approx(0.2)
    assert abs(res['accuracy'] - 0.2) < 0.02


def test_metric_end_to_end(tmp_path):
    gt = _masks(5)
    anns = []
    for k, (ann, mask) in enumerate(zip(ANNS, gt)):
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        rle['counts'] = rle['counts'].decode('ascii')
        anns.append(
            dict(
                ann,
                category_id=k + 1,
                segmentation=rle,
                bbox=[k, 0, 1, H],
                area=H,
                iscrowd=0))
    ann_file = tmp_path / 'ann.json'
    ann_file.write_text(
        json.dumps(
            dict(
                images=[dict(id=1, file_name='a.jpg', height=H, width=W)],
                annotations=anns)))
    metric = PoseOrderMetric(ann_file=str(ann_file))
    metric.dataset_meta = {}
    metric.process(
        None, [dict(img_id=1, pred_instances=dict(masks=gt[[2, 3, 1, 0, 4]]))])
    res = metric.evaluate(1)
    assert res['pose_order/accuracy'] == pytest.approx(0.5)
    assert res['pose_order/chance'] == pytest.approx(0.2)
    with pytest.raises(KeyError, match='image id 2'):
        metric.process(None, [dict(img_id=2, pred_instances=dict(masks=gt))])
