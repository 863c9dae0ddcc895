# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR's feature pyramid neck, and the top-down pyramid it shares.

Each backbone level is projected by a 1x1 conv -> GELU -> channel LayerNorm
(:class:`TopDownPyramid`); the levels are then fused top-down, coarsest
first, by a pair-wise fusion the subclass defines. In :class:`SORFPN` the
coarser (already fused) map is bilinearly upsampled to the finer level,
passed through a 3x3 conv, added to the finer lateral map and fused by a 1x1
conv -> GELU -> channel LayerNorm.
"""
from typing import List, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from mmpretrain.models.utils import LayerNorm2d
from torch import Tensor, nn


def conv_gelu_ln(in_channels: int, out_channels: int) -> ConvModule:
    """A 1x1 conv (with bias) -> GELU -> LayerNorm2d block."""
    return ConvModule(
        in_channels,
        out_channels,
        kernel_size=1,
        bias=True,
        norm_cfg=dict(type=LayerNorm2d),
        act_cfg=dict(type='GELU'),
        order=('conv', 'act', 'norm'))


class TopDownPyramid(BaseModule):
    """Lateral ``conv_gelu_ln`` projections fused top-down, coarsest first.

    Subclasses define :meth:`fuse`, which merges the coarser (already fused)
    map into the next finer lateral map.

    Args:
        in_channels (Sequence[int]): Channels of the backbone levels, finest
            (stride 4) first.
        out_channels (int): Channels C of every output level.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__()
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.lateral_convs = nn.ModuleList(
            [conv_gelu_ln(c, out_channels) for c in self.in_channels])

    def fuse(self, index: int, coarser: Tensor, finer: Tensor) -> Tensor:
        """Merge ``coarser`` (B, C, h, w) into ``finer`` (B, C, H, W).

        Args:
            index (int): Fusion step, 0 for the coarsest pair.
            coarser (Tensor): The fused coarser map.
            finer (Tensor): The finer lateral map.

        Returns:
            Tensor: The fused finer map (B, C, H, W).
        """
        raise NotImplementedError

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Fuse the backbone levels top-down.

        Args:
            inputs (Sequence[Tensor]): Backbone maps, finest first; level i
                is (B, in_channels[i], H_i, W_i).

        Returns:
            tuple[Tensor]: Fused maps (B, C, H_i, W_i), finest first.
        """
        if len(inputs) != len(self.lateral_convs):
            raise ValueError(f'{type(self).__name__} expects '
                             f'{len(self.lateral_convs)} levels, got '
                             f'{len(inputs)}')
        outs: List[Tensor] = [
            conv(x) for conv, x in zip(self.lateral_convs, inputs)
        ][::-1]  # coarsest first
        for i in range(len(outs) - 1):
            outs[i + 1] = self.fuse(i, outs[i], outs[i + 1])
        return tuple(outs[::-1])


@MODELS.register_module()
class SORFPN(TopDownPyramid):
    """Top-down FPN with GELU + LayerNorm fusions (the reference's ``FPN``).

    Args:
        in_channels (Sequence[int]): Channels of the backbone levels, finest
            (stride 4) first.
        out_channels (int): Channels C of every output level.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        num_fusions = len(self.in_channels) - 1
        # index i fuses level (L - 1 - i) into level (L - 2 - i)
        self.up_convs = nn.ModuleList([
            nn.Conv2d(out_channels, out_channels, 3, padding=1)
            for _ in range(num_fusions)
        ])
        self.fuse_convs = nn.ModuleList([
            conv_gelu_ln(out_channels, out_channels)
            for _ in range(num_fusions)
        ])

    def init_weights(self) -> None:
        """Xavier-uniform lateral convs with zero bias, PyTorch's default
        for the top-down convs, unit LayerNorms (as the reference)."""
        for module in self.lateral_convs.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        for module in [*self.up_convs.modules(), *self.fuse_convs.modules()]:
            if isinstance(module, (nn.Conv2d, nn.LayerNorm)):
                module.reset_parameters()
        for module in self.lateral_convs.modules():
            if isinstance(module, nn.LayerNorm):
                module.reset_parameters()

    def fuse(self, index: int, coarser: Tensor, finer: Tensor) -> Tensor:
        """Upsample, 3x3 conv, add, ``conv_gelu_ln`` (see
        :meth:`TopDownPyramid.fuse`)."""
        upsampled = F.interpolate(
            coarser,
            size=finer.shape[-2:],
            mode='bilinear',
            align_corners=False)
        return self.fuse_convs[index](self.up_convs[index](upsampled) + finer)
