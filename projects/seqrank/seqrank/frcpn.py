# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank's Cross-Scale Feature Re-Coordinate Pyramid Network (FrcPN).

The first SeqRank release fuses the pyramid top-down with "feature
re-coordination" instead of an FPN sum: the upsampled coarser map is
averaged, per channel and pixel, over the 3x3 neighbours that lie on the
same side of the local 3x3 mean of the finer map as the pixel itself (an
edge-preserving, guided filter), then added to the finer map. The lateral
projections and the top-down order are :class:`~posesor.models.necks.
TopDownPyramid`'s; the corrected release uses the plain FPN
(:class:`~posesor.models.necks.SORFPN`).
"""
from typing import Sequence

import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn

from posesor.models.necks import TopDownPyramid, conv_gelu_ln

# Guard of the reference against an empty neighbourhood.
NEIGHBOUR_EPS = 1e-6
WINDOW = 3


def unfold_window(x: Tensor) -> Tensor:
    """3x3 neighbourhoods (zero padded) of every pixel.

    Args:
        x (Tensor): (B, C, H, W).

    Returns:
        Tensor: (B, C, 9, H, W).
    """
    b, c, h, w = x.shape
    return F.unfold(x, WINDOW, padding=WINDOW // 2).view(b, c, WINDOW**2, h, w)


class FeatureReCoordinate(nn.Module):
    """Fuse a coarse map into a finer one by re-coordinated averaging.

    Args:
        channels (int): Channels C of both maps.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.high_conv = conv_gelu_ln(channels, channels)
        self.out_conv = conv_gelu_ln(channels, channels)

    @staticmethod
    def neighbour_mask(low: Tensor) -> Tensor:
        """Neighbours on the same side of the local mean as the pixel.

        Args:
            low (Tensor): (B, C, H, W) finer map.

        Returns:
            Tensor: (B, C, 9, H, W) binary weights.
        """
        window = unfold_window(low)
        local_mean = window.mean(dim=2, keepdim=True)
        above = (window - local_mean > 0).float()
        centre_above = (low.unsqueeze(2) - local_mean > 0).float()
        return centre_above * above + (1.0 - centre_above) * (1.0 - above)

    def forward(self, high: Tensor, low: Tensor) -> Tensor:
        """Fuse ``high`` (coarser) into ``low`` (finer).

        Args:
            high (Tensor): (B, C, h, w).
            low (Tensor): (B, C, H, W).

        Returns:
            Tensor: (B, C, H, W).
        """
        weights = self.neighbour_mask(low)
        up = F.interpolate(
            self.high_conv(high),
            size=low.shape[-2:],
            mode='bilinear',
            align_corners=False)
        window = unfold_window(up)
        fused = (window * weights).sum(dim=2) / (
            weights.sum(dim=2) + NEIGHBOUR_EPS)
        return self.out_conv(fused + low)


@MODELS.register_module()
class FrcPN(TopDownPyramid):
    """Top-down pyramid with feature re-coordination fusions.

    Args:
        in_channels (Sequence[int]): Channels of the backbone levels, finest
            first.
        out_channels (int): Channels C of every output level.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        # index i fuses level (L - 1 - i) into level (L - 2 - i)
        self.fusions = nn.ModuleList([
            FeatureReCoordinate(out_channels)
            for _ in range(len(in_channels) - 1)
        ])

    def init_weights(self) -> None:
        """Xavier-uniform fusion convs with zero bias (as the reference);
        PyTorch's defaults elsewhere."""
        for module in self.fusions.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def fuse(self, index: int, coarser: Tensor, finer: Tensor) -> Tensor:
        """Re-coordinated fusion (see :meth:`TopDownPyramid.fuse`)."""
        return self.fusions[index](coarser, finer)
