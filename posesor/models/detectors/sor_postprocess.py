# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Inference helpers of PoseSOR: query selection, rank scores, and the
reference's duplicate-merging post-process."""
from typing import Tuple

import numpy as np
import torch
from torch import Tensor

# Guard of the reference against empty masks in the overlap ratio.
AREA_EPS = 1e-6
# The reference's guard of 1 / k at the unused rank level k = 0.
RANK_WEIGHT_EPS = 1e-6
# The top-1 query is always kept: its score minus this margin is a threshold.
TOP1_MARGIN = 1e-6


def select_queries(scores: Tensor,
                   obj_threshold: float) -> Tuple[Tensor, Tensor, Tensor, int]:
    """Keep the queries whose objectness >= min(top-1 score, threshold).

    Args:
        scores (Tensor): (B, Nq, 1) objectness logits.
        obj_threshold (float): Objectness probability threshold.

    Returns:
        tuple: ``(bi, qi, ti, n_max)``: batch index, query index and slot
        index (0.. within each image, queries in ascending order) of every
        kept query, and the largest number kept in one image.
    """
    probs = scores.sigmoid()[..., 0]  # B, Nq
    top1 = probs.max(dim=1, keepdim=True).values - TOP1_MARGIN
    threshold = torch.clamp(top1, max=obj_threshold)
    hits = probs >= threshold
    bi, qi = torch.where(hits)
    ti = (hits.long().cumsum(dim=1) - 1)[bi, qi]
    n_max = int(hits.sum(dim=1).max()) if hits.numel() else 0
    return bi, qi, ti, n_max


def rank_scores_from_logits(rank_logits: Tensor) -> Tensor:
    """Expected inverse rank: sum_k softmax(logits)_k * w_k, w_0 = 0 and
    w_k = 1 / k (level 0 means "not salient").

    Args:
        rank_logits (Tensor): (..., L) logits over L rank levels.

    Returns:
        Tensor: (...) rank scores (higher = more salient).
    """
    levels = torch.arange(
        rank_logits.shape[-1],
        device=rank_logits.device,
        dtype=rank_logits.dtype)
    weights = 1.0 / (levels + RANK_WEIGHT_EPS)
    weights[0] = 0.0
    return (rank_logits.softmax(dim=-1) * weights).sum(dim=-1)


def merge_duplicates(
        masks: Tensor, scores: Tensor,
        maskness_threshold: float) -> Tuple[Tensor, Tensor, Tensor]:
    """The reference's duplicate merging, vectorised where exact.

    Instances are visited in the given (rank) order. Instance ``j`` after
    ``i`` is merged into ``i`` when their overlap ratio ("maskness",
    intersection over the smaller area) exceeds ``maskness_threshold`` and
    ``score_i + score_j < 1 + maskness``; ``i`` then takes the union mask and
    the larger score, and its later comparisons use the merged mask. Passes
    repeat until one merges nothing. Pairwise intersections come from one
    matrix product per pass; only the row of a grown mask is recomputed.

    Args:
        masks (Tensor): (n, H, W) bool masks, in rank order.
        scores (Tensor): (n,) objectness probabilities.
        maskness_threshold (float): Overlap-ratio threshold.

    Returns:
        tuple: ``keep`` (m,) indices of the surviving instances (ascending),
        their merged masks (m, H, W) bool and merged scores (m,).
    """
    keep = torch.arange(masks.shape[0], device=masks.device)
    masks = masks.clone()
    scores = scores.clone()
    while masks.shape[0] > 0:
        n = masks.shape[0]
        flat = masks.flatten(1).float()
        inter = (flat @ flat.T).double().cpu().numpy()
        areas = flat.sum(dim=1).double().cpu().numpy()
        score_list = scores.double().cpu().numpy()
        alive = np.ones(n, dtype=bool)
        for i in range(n):
            if not alive[i]:
                continue
            for j in range(i + 1, n):
                if not alive[j]:
                    continue
                maskness = inter[i, j] / min(areas[i] + AREA_EPS,
                                             areas[j] + AREA_EPS)
                if (maskness > maskness_threshold
                        and score_list[i] + score_list[j] < 1.0 + maskness):
                    masks[i] |= masks[j]
                    score_list[i] = max(score_list[i], score_list[j])
                    scores[i] = torch.maximum(scores[i], scores[j])
                    alive[j] = False
                    row = masks[i].flatten().float()
                    areas[i] = float(row.sum())
                    inter[i] = (flat @ row).double().cpu().numpy()
        if alive.all():
            break
        alive_t = torch.from_numpy(alive).to(masks.device)
        keep, masks, scores = keep[alive_t], masks[alive_t], scores[alive_t]
    return keep, masks, scores
