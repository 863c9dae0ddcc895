# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Diagnostics of ranking results: which rank each object received.

:func:`matched_pred_ranks` pairs ground-truth (GT) objects and predictions
the way the ``posesor`` SA-SOR does (Hungarian matching on ``1 - IoU``,
pairs kept when ``IoU > 0.5``), and :class:`RankConfusion` counts GT rank
against predicted rank over a dataset.
"""
from typing import List, Optional

import numpy as np

from .functional import (IOU_EPS, MATCH_IOU_THRESHOLD, MaskOverlaps,
                         hungarian_match)

#: Predicted rank of a GT object that no prediction matched.
UNMATCHED = 0


def matched_pred_ranks(overlaps: MaskOverlaps) -> np.ndarray:
    """Predicted rank of every GT object of one image.

    Args:
        overlaps (MaskOverlaps): Counts of ``n`` predictions (most salient
            first) against ``m`` GTs (most salient first).

    Returns:
        np.ndarray: ``(m, )`` int64; entry ``i`` is the 1-based position
        of the prediction matched to GT rank ``i + 1``, or
        :data:`UNMATCHED` (0).
    """
    ious = overlaps.inter / (overlaps.union + IOU_EPS)
    gt_inds, pred_inds, matched = hungarian_match(ious)
    ranks = np.full(ious.shape[0], UNMATCHED, dtype=np.int64)
    keep = matched > MATCH_IOU_THRESHOLD
    ranks[gt_inds[keep]] = pred_inds[keep] + 1
    return ranks


class RankConfusion:
    """GT rank x predicted rank counts of matched objects.

    Row ``r - 1`` holds the GT objects of rank ``r``; column ``p - 1`` the
    ones matched to the ``p``-th prediction, the last column the objects
    no prediction matched. Ranks above ``max_rank`` are counted in the last
    rank row / column (``max_rank+``).

    Args:
        max_rank (int): Number of rank rows and columns.
    """

    def __init__(self, max_rank: int = 5) -> None:
        if max_rank < 1:
            raise ValueError(f'max_rank must be >= 1, got {max_rank}')
        self.max_rank = max_rank
        self.matrix = np.zeros((max_rank, max_rank + 1), dtype=np.int64)
        self.num_images = 0

    def update(self, pred_ranks: np.ndarray) -> None:
        """Add one image.

        Args:
            pred_ranks (np.ndarray): ``(m, )`` output of
                :func:`matched_pred_ranks`.
        """
        pred_ranks = np.asarray(pred_ranks, dtype=np.int64)
        rows = np.minimum(np.arange(len(pred_ranks)), self.max_rank - 1)
        cols = np.where(pred_ranks == UNMATCHED, self.max_rank,
                        np.minimum(pred_ranks, self.max_rank) - 1)
        np.add.at(self.matrix, (rows, cols), 1)
        self.num_images += 1

    def labels(self) -> List[str]:
        """Names of the ranks, the last one ``'k+'``."""
        names = [str(r) for r in range(1, self.max_rank + 1)]
        names[-1] += '+'
        return names

    def normalized(self) -> np.ndarray:
        """Rows divided by their totals (empty rows stay 0).

        Returns:
            np.ndarray: ``(max_rank, max_rank + 1)`` float64.
        """
        totals = self.matrix.sum(axis=1, keepdims=True)
        return np.divide(
            self.matrix,
            totals,
            out=np.zeros(self.matrix.shape),
            where=totals > 0)

    def exact_rate(self) -> Optional[float]:
        """Fraction of GT objects (of the ranks below ``max_rank``) matched
        at their own rank; None when there is none."""
        ranks = self.max_rank - 1
        total = self.matrix[:ranks].sum()
        if total == 0:
            return None
        return float(np.trace(self.matrix[:ranks, :ranks]) / total)
