# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Random pixel sampling for point-based mask losses and matching costs.

PoseSOR compares masks on a random subset of the pixels of a target grid
(``num_points`` pixels drawn uniformly *with replacement*, one shared draw
for all pairs; every pixel in raster order when the grid has no more pixels
than ``num_points``). The prediction is a low-resolution logit map that the
reference first upsamples bilinearly (``align_corners=False``) to the target
grid. Sampling it with :func:`mmcv.ops.point_sample` at the centres of the
drawn target pixels with ``padding_mode='border'`` gives exactly those
upsampled values without materialising the large map, so this module draws
integer pixels and converts them to pixel-centre coordinates.

Under AMP the sampling and the losses on the sampled points run in float32
(autocast off, see :func:`posesor.utils.misc.float32_region`).
"""
from typing import Tuple

import torch
from mmcv.ops import point_sample
from torch import Tensor, nn

from posesor.utils.misc import float32_region


def sample_grid_pixels(height: int, width: int, num_points: int,
                       device: torch.device) -> Tuple[Tensor, Tensor]:
    """Draw pixel indices of a ``height x width`` grid.

    Args:
        height (int): Grid height.
        width (int): Grid width.
        num_points (int): Number of pixels to draw. When
            ``height * width <= num_points`` every pixel is used once, in
            raster order.
        device (torch.device): Device of the returned indices.

    Returns:
        tuple[Tensor, Tensor]: Row indices ``ys`` and column indices ``xs``,
        both of shape (P,) and dtype long, where P is ``num_points`` or
        ``height * width``.
    """
    if height * width <= num_points:
        flat = torch.arange(height * width, device=device)
        return flat // width, flat % width
    ys = torch.randint(0, height, (num_points, ), device=device)
    xs = torch.randint(0, width, (num_points, ), device=device)
    return ys, xs


def pixel_centres(ys: Tensor, xs: Tensor, height: int, width: int) -> Tensor:
    """Normalised ``(x, y)`` coordinates of pixel centres.

    Args:
        ys (Tensor): Row indices, shape (P,).
        xs (Tensor): Column indices, shape (P,).
        height (int): Grid height.
        width (int): Grid width.

    Returns:
        Tensor: Coordinates in [0, 1] as expected by
        :func:`mmcv.ops.point_sample`, shape (P, 2).
    """
    x = (xs.float() + 0.5) / width
    y = (ys.float() + 0.5) / height
    return torch.stack([x, y], dim=-1)


def sample_logits_at_pixels(logits: Tensor, ys: Tensor, xs: Tensor,
                            grid_size: Tuple[int, int]) -> Tensor:
    """Values of ``logits`` bilinearly upsampled to ``grid_size`` at pixels.

    Equal to ``F.interpolate(logits, grid_size, mode='bilinear')[..., ys,
    xs]`` (``align_corners=False``) up to float rounding.

    Args:
        logits (Tensor): Low-resolution maps, shape (N, h, w).
        ys (Tensor): Row indices on the target grid, shape (P,).
        xs (Tensor): Column indices on the target grid, shape (P,).
        grid_size (tuple[int, int]): Target grid ``(H, W)``.

    Returns:
        Tensor: Sampled values, shape (N, P), float32.
    """
    num = logits.shape[0]
    if num == 0:
        return logits.new_zeros((0, ys.numel()), dtype=torch.float32)
    if tuple(logits.shape[-2:]) == tuple(grid_size):
        return logits[:, ys, xs].float()
    coords = pixel_centres(ys, xs, grid_size[0], grid_size[1])
    coords = coords.unsqueeze(0).expand(num, -1, -1)
    # float32 keeps pixel-centre coordinates exact on large grids (AMP).
    with float32_region(logits.device):
        sampled = point_sample(
            logits.float().unsqueeze(1),
            coords,
            align_corners=False,
            padding_mode='border')
    return sampled.squeeze(1)


def point_mask_losses(logits: Tensor, gt_masks: Tensor, num_points: int,
                      loss_ce: nn.Module,
                      loss_dice: nn.Module) -> Tuple[Tensor, Tensor]:
    """Point-sampled BCE and dice losses between matched mask pairs.

    One draw of ``num_points`` target pixels (see :func:`sample_grid_pixels`)
    is shared by all pairs; the predictions are read there bilinearly
    upsampled (:func:`sample_logits_at_pixels`).

    Args:
        logits (Tensor): Low-resolution mask logits, shape (M, h, w).
        gt_masks (Tensor): Targets on the training grid, shape (M, H, W).
        num_points (int): Pixels drawn.
        loss_ce (nn.Module): Weighted sigmoid BCE loss.
        loss_dice (nn.Module): Weighted dice loss.

    Returns:
        tuple[Tensor, Tensor]: Weighted scalar BCE and dice losses (zeros
        that keep the graph when M = 0).
    """
    if logits.shape[0] == 0:
        zero = logits.sum() * 0.0
        return zero, zero.clone()
    grid = tuple(gt_masks.shape[-2:])
    ys, xs = sample_grid_pixels(grid[0], grid[1], num_points, logits.device)
    pred_points = sample_logits_at_pixels(logits, ys, xs, grid)
    gt_points = gt_masks[:, ys, xs].to(pred_points.dtype)
    with float32_region(logits.device):
        return (loss_ce(pred_points,
                        gt_points), loss_dice(pred_points, gt_points))
