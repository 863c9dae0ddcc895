# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Gaussian focal loss on spatially-softmaxed joint heatmaps.

PoseSOR supervises each visible joint's heatmap (logits over the stride-4
grid) as follows. The target is a Gaussian around the joint with standard
deviation ``sigma`` in normalised coordinates, evaluated on a grid whose
pixel ``j`` sits at ``j / (W - 1)`` and rescaled so that its maximum is
(almost) 1. The prediction is the softmax of the logits over all pixels.
The CornerNet-style Gaussian focal loss is computed only on the pixels where
the target exceeds ``region_threshold`` plus ``num_random_points`` random
pixels (one draw shared by all joints) and averaged over all those pixels.

mmdet's :class:`~mmdet.models.losses.GaussianFocalLoss` differs (positives
are pixels equal to exactly 1, ``log(p + eps)`` instead of
``log(max(p, eps))``, all pixels, no softmax), so this loss is separate.
"""
from typing import Tuple

import torch
import torch.nn as nn
from mmdet.registry import MODELS
from torch import Tensor


def gaussian_focal_loss_elementwise(preds: Tensor,
                                    targets: Tensor,
                                    alpha: float = 2.0,
                                    beta: float = 4.0,
                                    pos_threshold: float = 0.99,
                                    eps: float = 1e-6) -> Tensor:
    """Element-wise Gaussian focal loss (CornerNet).

    Positives (``targets >= pos_threshold``) contribute
    ``-(1 - p)^alpha * log(max(p, eps))``; the others contribute
    ``-(1 - t)^beta * p^alpha * log(max(1 - p, eps))``.

    Args:
        preds (Tensor): Probabilities, any shape.
        targets (Tensor): Gaussian targets in [0, 1], same shape.
        alpha (float): Focusing exponent. Defaults to 2.
        beta (float): Exponent of the negative down-weighting. Defaults to 4.
        pos_threshold (float): Targets at or above it are positives.
            Defaults to 0.99.
        eps (float): Floor inside the logarithms. Defaults to 1e-6.

    Returns:
        Tensor: Loss per element, same shape as ``preds``.
    """
    floor = torch.full_like(preds, eps)
    pos = -(1.0 - preds).pow(alpha) * torch.log(torch.maximum(preds, floor))
    neg = -(1.0 - targets).pow(beta) * preds.pow(alpha) * torch.log(
        torch.maximum(1.0 - preds, floor))
    return torch.where(targets >= pos_threshold, pos, neg)


@MODELS.register_module()
class SoftmaxGaussianFocalLoss(nn.Module):
    """Point-sampled Gaussian focal loss on softmax heatmaps.

    Args:
        sigma (float): Gaussian standard deviation in normalised image
            coordinates. Defaults to 0.01.
        alpha (float): Focal exponent. Defaults to 2.
        beta (float): Negative down-weighting exponent. Defaults to 4.
        pos_threshold (float): Target value from which a pixel is a positive.
            Defaults to 0.99.
        region_threshold (float): Pixels whose target exceeds it are always
            supervised. Defaults to 0.1.
        num_random_points (int): Extra random pixels (shared by all joints).
            Defaults to 100.
        eps (float): Log floor of the focal loss. Defaults to 1e-6.
        norm_eps (float): Added to the Gaussian's maximum before rescaling.
            Defaults to 1e-6.
        loss_weight (float): Weight of the loss. Defaults to 1.
    """

    def __init__(self,
                 sigma: float = 0.01,
                 alpha: float = 2.0,
                 beta: float = 4.0,
                 pos_threshold: float = 0.99,
                 region_threshold: float = 0.1,
                 num_random_points: int = 100,
                 eps: float = 1e-6,
                 norm_eps: float = 1e-6,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.sigma = sigma
        self.alpha = alpha
        self.beta = beta
        self.pos_threshold = pos_threshold
        self.region_threshold = region_threshold
        self.num_random_points = num_random_points
        self.eps = eps
        self.norm_eps = norm_eps
        self.loss_weight = loss_weight

    def gaussian_targets(self, coords: Tensor, size: Tuple[int,
                                                           int]) -> Tensor:
        """Max-normalised Gaussian target maps.

        Args:
            coords (Tensor): Joint ``(x, y)`` in [0, 1], shape (M, 2).
            size (tuple[int, int]): Heatmap ``(H, W)``.

        Returns:
            Tensor: Targets, shape (M, H, W).
        """
        height, width = size
        xs = torch.linspace(0.0, 1.0, width, device=coords.device)
        ys = torch.linspace(0.0, 1.0, height, device=coords.device)
        coords = coords.float()
        dx2 = (xs[None, :] - coords[:, 0:1]).pow(2)  # M, W
        dy2 = (ys[None, :] - coords[:, 1:2]).pow(2)  # M, H
        dist2 = dy2[:, :, None] + dx2[:, None, :]  # M, H, W
        gauss = torch.exp(-dist2 / (2.0 * self.sigma * self.sigma))
        peak = gauss.flatten(1).max(dim=-1)[0][:, None, None]
        return gauss / (peak + self.norm_eps)

    def forward(self, heatmaps: Tensor, coords: Tensor) -> Tensor:
        """Compute the loss.

        Args:
            heatmaps (Tensor): Heatmap logits of the supervised joints,
                shape (M, H, W), M > 0.
            coords (Tensor): Their ground-truth ``(x, y)`` in [0, 1],
                shape (M, 2).

        Returns:
            Tensor: Weighted scalar loss.
        """
        if heatmaps.shape[0] != coords.shape[0]:
            raise ValueError(f'{heatmaps.shape[0]} heatmaps but '
                             f'{coords.shape[0]} joint coordinates')
        size = tuple(heatmaps.shape[-2:])
        targets = self.gaussian_targets(coords, size)
        selected = targets > self.region_threshold
        rand_y = torch.randint(
            0, size[0], (self.num_random_points, ), device=heatmaps.device)
        rand_x = torch.randint(
            0, size[1], (self.num_random_points, ), device=heatmaps.device)
        selected[:, rand_y, rand_x] = True
        probs = heatmaps.float().flatten(1).softmax(dim=-1).view_as(targets)
        loss = gaussian_focal_loss_elementwise(
            probs[selected],
            targets[selected],
            alpha=self.alpha,
            beta=self.beta,
            pos_threshold=self.pos_threshold,
            eps=self.eps)
        return loss.mean() * self.loss_weight
