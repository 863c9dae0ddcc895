# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""QAGNet's pairwise saliency ranking loss."""
from typing import List

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn


def pairwise_rank_loss(scores: Tensor, saliency: Tensor) -> Tensor:
    """The pairwise ranking loss of one image.

    Over every pair (i, j) of objects of different saliency, with i the more
    salient, ``softplus(s_j - s_i) * |r_i - r_j| / W``: a logistic loss on
    the score difference, weighted by the rank gap and normalised by
    ``W = sum_{k=1}^{n-1} k (n - k)`` (the sum of the gaps of n distinct
    consecutive ranks). Pairs of equal saliency add nothing.

    The reference divides 0 by W = 0 when an image has a single object (a
    NaN that stops its training); such images (and empty ones) give 0 here.

    Args:
        scores (Tensor): (n,) saliency logits of the matched queries.
        saliency (Tensor): (n,) their objects' saliency levels (higher =
            more salient; only differences matter).

    Returns:
        Tensor: The loss, a scalar.
    """
    num = scores.numel()
    if num < 2:
        return scores.sum() * 0
    saliency = saliency.to(scores.dtype)
    gap = saliency[:, None] - saliency[None, :]  # r_i - r_j
    margin = (scores[None, :] - scores[:, None]) * gap.sign()
    weights = gap.abs().triu(diagonal=1)  # each pair once, ties weigh 0
    ks = torch.arange(1, num, device=scores.device, dtype=scores.dtype)
    return (F.softplus(margin) * weights).sum() / (ks * (num - ks)).sum()


@MODELS.register_module()
class PairwiseRankLoss(nn.Module):
    """QAGNet's rank loss: :func:`pairwise_rank_loss` averaged over the
    images of a batch (images without pairs count as 0), times
    ``loss_weight``.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, scores: List[Tensor], saliency: List[Tensor]) -> Tensor:
        """Average the per-image losses.

        Args:
            scores (list[Tensor]): Per image, (n_i,) saliency logits of the
                matched queries.
            saliency (list[Tensor]): Per image, (n_i,) saliency levels of
                their objects (higher = more salient).

        Returns:
            Tensor: The weighted batch loss.
        """
        if not scores:
            raise ValueError('PairwiseRankLoss: empty batch')
        total = sum(pairwise_rank_loss(s, r) for s, r in zip(scores, saliency))
        return self.loss_weight * total / len(scores)
