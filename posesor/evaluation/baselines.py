# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Trivial SOR baselines, scored exactly as a model's predictions are.

- ``empty``: no prediction at all (the MAE of predicting background).
- ``gt_random``: the ground-truth masks in a random order: perfect masks,
  chance ranking.
- ``gt_by_area``: the ground-truth masks ranked by area, largest first:
  perfect masks and an appearance-only ranking heuristic (strong on the
  synthetic data, whose people are ranked by size).

They tell what a trained model must beat: masks (MAE) against ``empty``,
ranks (SA-SOR, SOR) against ``gt_random`` and ``gt_by_area``.
"""
from typing import Dict, Sequence

import numpy as np

from .metrics import SORMetric

BASELINES = ('empty', 'gt_random', 'gt_by_area')


def baseline_masks(name: str, gt_masks: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Predicted masks of one baseline for one image.

    Args:
        name (str): One of :data:`BASELINES`.
        gt_masks (np.ndarray): (m, H, W) bool, most salient first.
        rng (np.random.Generator): Randomness of ``gt_random``.

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
    raise ValueError(f'unknown baseline {name!r}; choose from {BASELINES}')


def score_baselines(ann_file: str,
                    seed: int = 0,
                    names: Sequence = BASELINES,
                    rank_key: str = 'category_id') -> Dict[str, Dict]:
    """SA-SOR, SOR and MAE of each baseline over a whole annotation file.

    Args:
        ann_file (str): SOR annotation JSON.
        seed (int): Seed of ``gt_random``.
        names (Sequence[str]): Baselines to score.
        rank_key (str): Annotation key of the rank.

    Returns:
        dict: baseline name -> SORMetric's metrics dict.
    """
    results = {}
    for name in names:
        metric = SORMetric(ann_file=ann_file, rank_key=rank_key)
        rng = np.random.default_rng(seed)
        for img_id in metric.gt:
            gt = metric.load_gt(img_id)
            masks = baseline_masks(name, gt['masks'], rng)
            metric.process(
                None, [dict(img_id=img_id, pred_instances=dict(masks=masks))])
        results[name] = metric.compute_metrics(metric.results)
    return results
