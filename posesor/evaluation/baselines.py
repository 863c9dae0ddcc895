# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SOR baselines without a model, scored exactly as a model's predictions.

All but ``empty`` use the ground-truth masks and only reorder them:

- ``empty``: no prediction at all (the MAE of predicting background).
- ``gt_random``: a random order: perfect masks, chance ranking.
- ``gt_by_area``: largest mask first: an appearance-only heuristic
  (strong on the ``'pointing'`` synthetic rule, whose people are ranked by
  size).
- ``nearest_object``: people by area, each followed by the (not yet
  taken) object nearest to it (mask centroids), the other objects by area:
  appearance and proximity, no pose.
- ``pose_oracle``: reads the GT keypoints the way the ``'pose_order'``
  synthetic rule is defined (:mod:`posesor.datasets.synthetic`): people by
  the elevation of their straight (pointing) arm, highest first, each
  followed by the free object closest in angle to its pointing ray, then
  the other objects by their angle to the first person's ray. What a
  model that reads pose perfectly could reach with perfect masks.

``people`` are the annotations with ``class_id`` 1. They tell what a
trained model must beat: masks (MAE) against ``empty``, ranks (SA-SOR,
SOR, pose-order accuracy) against the appearance-only orders.

:func:`score_pose_baselines` does the same for the joints (JAE), with the
GT masks and poses that know only where each person is:

- ``joints_at_centroid``: all 17 joints at the centroid of the person's
  mask (a pose branch that only locates people scores about this).
- ``mean_pose_at_centroid``: the mean pose of the training split
  (joints relative to the mask centroid) placed at each person's centroid.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from posesor.datasets.sor_parsing import NUM_KEYPOINTS
from .metrics import SORMetric
from .pose_order import pose_order_accuracy, pose_order_hits, pose_order_pairs

BASELINES = ('empty', 'gt_random', 'gt_by_area', 'nearest_object',
             'pose_oracle')
POSE_BASELINES = ('joints_at_centroid', 'mean_pose_at_centroid')
PERSON_CLASS_ID = 1
# COCO-17 arm keypoints: (shoulder, elbow, wrist) left and right.
ARMS = ((5, 7, 9), (6, 8, 10))
#: An arm bent by less than this is straight, i.e. pointing (degrees).
STRAIGHT_ARM_DEG = 10.0


def _centroids(masks: np.ndarray) -> np.ndarray:
    """(m, 2) xy mask centroids (NaN for an empty mask)."""
    out = np.full((len(masks), 2), np.nan)
    for k, mask in enumerate(masks):
        ys, xs = np.nonzero(mask)
        if len(xs):
            out[k] = (xs.mean(), ys.mean())
    return out


def _angle_diff(a: float, b: float) -> float:
    d = (a - b) % (2 * math.pi)
    return min(d, 2 * math.pi - d)


def pointing_ray(keypoints: np.ndarray) -> Optional[Tuple[np.ndarray, float]]:
    """The pointing ray of a person: its straighter arm if straight.

    Args:
        keypoints (np.ndarray): (17, 2+) COCO keypoints in pixels.

    Returns:
        tuple | None: (shoulder xy, angle of shoulder -> wrist in image
        axes, radians), or ``None`` when neither arm is straight.
    """
    best = None
    for sho, elb, wri in ARMS:
        upper = keypoints[elb, :2] - keypoints[sho, :2]
        lower = keypoints[wri, :2] - keypoints[elb, :2]
        norm = np.linalg.norm(upper) * np.linalg.norm(lower)
        if norm == 0:
            continue
        bend = math.degrees(
            math.acos(float(np.clip(upper @ lower / norm, -1.0, 1.0))))
        if bend < STRAIGHT_ARM_DEG and (best is None or bend < best[0]):
            d = keypoints[wri, :2] - keypoints[sho, :2]
            best = (bend, keypoints[sho, :2].astype(np.float64),
                    math.atan2(float(d[1]), float(d[0])))
    return None if best is None else best[1:]


def _elevation(angle: float) -> float:
    return math.atan2(-math.sin(angle), abs(math.cos(angle)))


def _nearest_object_order(masks: np.ndarray,
                          is_person: np.ndarray) -> List[int]:
    areas = masks.reshape(len(masks), -1).sum(1)
    centres = _centroids(masks)
    people = sorted(np.flatnonzero(is_person), key=lambda k: -areas[k])
    free = sorted(np.flatnonzero(~is_person), key=lambda k: -areas[k])
    order = []
    for p in people:
        order.append(p)
        if free:
            dist = [np.linalg.norm(centres[o] - centres[p]) for o in free]
            order.append(free.pop(int(np.argmin(dist))))
    return order + free


def _pose_oracle_order(masks: np.ndarray, is_person: np.ndarray,
                       keypoints: np.ndarray) -> List[int]:
    centres = _centroids(masks)
    rays = {p: pointing_ray(keypoints[p]) for p in np.flatnonzero(is_person)}
    people = sorted(
        rays,
        key=lambda p: -math.inf
        if rays[p] is None else -_elevation(rays[p][1]))
    free = list(np.flatnonzero(~is_person))

    def off_ray(ray, o) -> float:
        d = centres[o] - ray[0]
        return _angle_diff(ray[1], math.atan2(float(d[1]), float(d[0])))

    order = []
    for p in people:
        order.append(p)
        if rays[p] is not None and free:
            errors = [off_ray(rays[p], o) for o in free]
            order.append(free.pop(int(np.argmin(errors))))
    leader = next((rays[p] for p in people if rays[p] is not None), None)
    if leader is not None:
        free.sort(key=lambda o: off_ray(leader, o))
    return order + free


def baseline_masks(name: str,
                   gt_masks: np.ndarray,
                   rng: np.random.Generator,
                   class_ids: Optional[np.ndarray] = None,
                   keypoints: Optional[np.ndarray] = None) -> np.ndarray:
    """Predicted masks of one baseline for one image.

    Args:
        name (str): One of :data:`BASELINES`.
        gt_masks (np.ndarray): (m, H, W) bool, most salient first.
        rng (np.random.Generator): Randomness of ``gt_random``.
        class_ids (np.ndarray, optional): (m,) GT ``class_id``; needed by
            ``nearest_object`` and ``pose_oracle``.
        keypoints (np.ndarray, optional): (m, 17, 2) GT keypoints; needed
            by ``pose_oracle``.

    Returns:
        np.ndarray: (n, H, W) bool, the predicted order.
    """
    if name == 'empty':
        return gt_masks[:0]
    if name == 'gt_random':
        return gt_masks[rng.permutation(len(gt_masks))]
    if name == 'gt_by_area':
        # Stable sort: ties keep the GT order.
        order = np.argsort(
            -gt_masks.reshape(len(gt_masks), -1).sum(1), kind='stable')
        return gt_masks[order]
    if name in ('nearest_object', 'pose_oracle'):
        if class_ids is None or (name == 'pose_oracle' and keypoints is None):
            raise ValueError(f'baseline {name!r} needs the GT class ids'
                             f'{" and keypoints" * (name == "pose_oracle")}')
        is_person = np.asarray(class_ids) == PERSON_CLASS_ID
        if name == 'nearest_object':
            order = _nearest_object_order(gt_masks, is_person)
        else:
            order = _pose_oracle_order(gt_masks, is_person, keypoints)
        return gt_masks[np.asarray(order, dtype=np.int64)]
    raise ValueError(f'unknown baseline {name!r}; choose from {BASELINES}')


def score_baselines(ann_file: str,
                    seed: int = 0,
                    names: Sequence = BASELINES,
                    rank_key: str = 'category_id') -> Dict[str, Dict]:
    """SA-SOR, SOR, MAE and pose-order accuracy of each baseline.

    Args:
        ann_file (str): SOR annotation JSON.
        seed (int): Seed of ``gt_random``.
        names (Sequence[str]): Baselines to score.
        rank_key (str): Annotation key of the rank.

    Returns:
        dict: baseline name -> SORMetric's metrics dict plus
        ``pose_order_accuracy`` and ``pose_order_chance`` (NaN when the
        annotations link no person to an object, see
        :mod:`posesor.evaluation.pose_order`).
    """
    results = {}
    for name in names:
        metric = SORMetric(ann_file=ann_file, rank_key=rank_key)
        rng = np.random.default_rng(seed)
        hits, num_gt = [], []
        for img_id in metric.gt:
            gt = metric.load_gt(img_id)
            anns = metric.gt[img_id]['annotations']
            class_ids = np.array([ann.get('class_id', 0) for ann in anns])
            masks = baseline_masks(name, gt['masks'], rng, class_ids,
                                   gt['keypoints'])
            metric.process(
                None, [dict(img_id=img_id, pred_instances=dict(masks=masks))])
            hits.append(
                pose_order_hits(masks, gt['masks'], pose_order_pairs(anns)))
            num_gt.append(len(anns))
        res = metric.compute_metrics(metric.results)
        order = pose_order_accuracy(hits, num_gt)
        res['pose_order_accuracy'] = order['accuracy']
        res['pose_order_chance'] = order['chance']
        results[name] = res
    return results


def mean_pose(ann_file: str, rank_key: str = 'category_id') -> np.ndarray:
    """Mean pose of the people of an annotation file.

    Args:
        ann_file (str): SOR annotation JSON (the training split).
        rank_key (str): Annotation key of the rank.

    Returns:
        np.ndarray: (17, 2) mean joint offsets (pixels) from the person's
        mask centroid, over people with at least one visible joint (joints
        not visible count with their annotated position).
    """
    metric = SORMetric(ann_file=ann_file, rank_key=rank_key)
    offsets = []
    for img_id in metric.gt:
        gt = metric.load_gt(img_id)
        people = gt['keypoints_visible'].sum(axis=1) > 0
        if people.any():
            centroids = _centroids(gt['masks'][people])
            offsets.append(gt['keypoints'][people] - centroids[:, None, :])
    if not offsets:
        raise ValueError(f'{ann_file}: no person with a visible joint')
    return np.concatenate(offsets).mean(axis=0)


def score_pose_baselines(train_ann_file: str,
                         test_ann_file: str,
                         rank_key: str = 'category_id') -> Dict[str, float]:
    """JAE of the pose baselines on a test split (see the module doc).

    Args:
        train_ann_file (str): Annotations of the mean pose.
        test_ann_file (str): Annotations scored.
        rank_key (str): Annotation key of the rank.

    Returns:
        dict: baseline name -> JAE as ``SORMetric`` reports it.
    """
    offsets = mean_pose(train_ann_file, rank_key)
    metrics = {
        name:
        SORMetric(ann_file=test_ann_file, metric=['jae'], rank_key=rank_key)
        for name in POSE_BASELINES
    }
    at_centroid = metrics['joints_at_centroid']
    for img_id in at_centroid.gt:  # decode each image once for both
        gt = at_centroid.load_gt(img_id)
        joints = np.repeat(
            _centroids(gt['masks'])[:, None, :], NUM_KEYPOINTS, axis=1)
        for name, placed in (('joints_at_centroid', joints),
                             ('mean_pose_at_centroid',
                              joints + offsets[None])):
            metrics[name].process(None, [
                dict(
                    img_id=img_id,
                    pred_instances=dict(
                        masks=gt['masks'], keypoints=np.nan_to_num(placed)))
            ])
    return {
        name: metric.compute_metrics(metric.results)['jae']
        for name, metric in metrics.items()
    }
