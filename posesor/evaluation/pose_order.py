# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Pose-order accuracy: is each pointed-at object ranked right after the
person who points at it?

A diagnostic beside SA-SOR and SOR for data whose annotations link a
person to the object it points at (``points_at`` on the person's
annotation, the annotation id of the object; written by
:mod:`posesor.datasets.synthetic`). For one image with ``m`` GT instances
(most salient first) and ``n`` predicted masks (predicted order):

1. predictions and GT instances are matched one-to-one by the Hungarian
   algorithm on mask IoU, keeping pairs with IoU > 0.5 (as the ``posesor``
   SA-SOR does);
2. a (person, object) pair counts as correct when both are matched and the
   object's prediction comes *directly* after the person's prediction in
   the predicted order (position + 1; an unmatched prediction in between
   breaks the pair).

Accuracy is the fraction of correct pairs over all pairs of the data set.
Its chance level is what the GT masks in a uniformly random order score:
the object directly follows its person with probability ``1 / m``, so the
chance level is the mean of ``1 / m`` over the pairs.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment

#: Predictions and GT instances match above this mask IoU.
MATCH_IOU = 0.5


def pose_order_pairs(anns: Sequence[dict]) -> List[Tuple[int, int]]:
    """(person, object) index pairs of one image's rank-sorted annotations.

    Args:
        anns (Sequence[dict]): Annotations of one image, most salient
            first; a person's ``points_at`` holds its object's ``id``.

    Returns:
        list[tuple[int, int]]: Indices into ``anns``.

    Raises:
        KeyError: If a ``points_at`` id is not an annotation of the image.
    """
    index = {ann['id']: k for k, ann in enumerate(anns) if 'id' in ann}
    pairs = []
    for k, ann in enumerate(anns):
        target = ann.get('points_at')
        if target is None:
            continue
        if target not in index:
            raise KeyError(f'annotation id {ann.get("id")!r}: points_at '
                           f'{target!r} is not an annotation of image '
                           f'{ann.get("image_id")!r}')
        pairs.append((k, index[target]))
    return pairs


def _iou(pred_masks: np.ndarray, gt_masks: np.ndarray) -> np.ndarray:
    """(n, m) IoU of (n, H, W) and (m, H, W) binary masks."""
    pred = pred_masks.reshape(len(pred_masks), -1).astype(np.float64)
    gt = gt_masks.reshape(len(gt_masks), -1).astype(np.float64)
    inter = pred @ gt.T
    union = pred.sum(1)[:, None] + gt.sum(1)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def match_predictions(pred_masks: np.ndarray,
                      gt_masks: np.ndarray,
                      iou_thr: float = MATCH_IOU) -> np.ndarray:
    """Predicted position of each GT instance (-1 when unmatched).

    Args:
        pred_masks (np.ndarray): (n, H, W) binary, predicted order.
        gt_masks (np.ndarray): (m, H, W) binary.
        iou_thr (float): A matched pair needs IoU > ``iou_thr``.

    Returns:
        np.ndarray: (m,) int64.
    """
    position = np.full(len(gt_masks), -1, dtype=np.int64)
    if len(pred_masks) == 0 or len(gt_masks) == 0:
        return position
    ious = _iou(pred_masks > 0, gt_masks > 0)
    rows, cols = linear_sum_assignment(-ious)
    keep = ious[rows, cols] > iou_thr
    position[cols[keep]] = rows[keep]
    return position


def pose_order_hits(pred_masks: np.ndarray,
                    gt_masks: np.ndarray,
                    pairs: Sequence[Tuple[int, int]],
                    iou_thr: float = MATCH_IOU) -> np.ndarray:
    """Whether each (person, object) pair is ranked person-then-object.

    Args:
        pred_masks (np.ndarray): (n, H, W) binary, predicted order.
        gt_masks (np.ndarray): (m, H, W) binary, GT order.
        pairs (Sequence[tuple[int, int]]): GT index pairs, see
            :func:`pose_order_pairs`.
        iou_thr (float): Matching IoU threshold.

    Returns:
        np.ndarray: (len(pairs),) bool.
    """
    position = match_predictions(pred_masks, gt_masks, iou_thr)
    return np.array([
        position[p] >= 0 and position[o] == position[p] + 1 for p, o in pairs
    ],
                    dtype=bool)


def pose_order_accuracy(hits: Sequence[np.ndarray],
                        num_gt: Sequence[int]) -> Dict[str, float]:
    """Data-set accuracy and chance level from per-image hits.

    Args:
        hits (Sequence[np.ndarray]): Per image, the output of
            :func:`pose_order_hits`.
        num_gt (Sequence[int]): Per image, its number of GT instances.

    Returns:
        dict: ``accuracy`` (correct pairs / pairs), ``chance`` (mean of
        ``1 / m`` over the pairs) and ``num_pairs``; accuracy and chance
        are NaN without pairs.
    """
    num_pairs = sum(len(h) for h in hits)
    if num_pairs == 0:
        return dict(accuracy=float('nan'), chance=float('nan'), num_pairs=0)
    correct = sum(int(np.count_nonzero(h)) for h in hits)
    chance = sum(len(h) / m for h, m in zip(hits, num_gt) if len(h))
    return dict(
        accuracy=correct / num_pairs,
        chance=chance / num_pairs,
        num_pairs=num_pairs)
