# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR's feature pyramid neck.

Each backbone level is projected by a 1x1 conv -> GELU -> channel LayerNorm.
Top-down, the coarser (already fused) map is bilinearly upsampled to the
finer level, passed through a 3x3 conv, added to the finer lateral map and
fused by a 1x1 conv -> GELU -> channel LayerNorm.
"""
from typing import List, Sequence, Tuple

import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from mmpretrain.models.utils import LayerNorm2d
from torch import Tensor, nn


def _conv_gelu_ln(in_channels: int, out_channels: int) -> ConvModule:
    """A 1x1 conv (with bias) -> GELU -> LayerNorm2d block."""
    return ConvModule(
        in_channels,
        out_channels,
        kernel_size=1,
        bias=True,
        norm_cfg=dict(type=LayerNorm2d),
        act_cfg=dict(type='GELU'),
        order=('conv', 'act', 'norm'))


@MODELS.register_module()
class SORFPN(BaseModule):
    """Top-down FPN with GELU + LayerNorm fusions (the reference's ``FPN``).

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
            [_conv_gelu_ln(c, out_channels) for c in self.in_channels])
        num_fusions = len(self.in_channels) - 1
        # index i fuses level (L - 1 - i) into level (L - 2 - i)
        self.up_convs = nn.ModuleList([
            nn.Conv2d(out_channels, out_channels, 3, padding=1)
            for _ in range(num_fusions)
        ])
        self.fuse_convs = nn.ModuleList([
            _conv_gelu_ln(out_channels, out_channels)
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

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """Fuse the backbone levels top-down.

        Args:
            inputs (Sequence[Tensor]): Backbone maps, finest first; level i
                is (B, in_channels[i], H_i, W_i).

        Returns:
            tuple[Tensor]: Fused maps (B, C, H_i, W_i), finest first.
        """
        if len(inputs) != len(self.lateral_convs):
            raise ValueError(f'SORFPN expects {len(self.lateral_convs)} '
                             f'levels, got {len(inputs)}')
        laterals: List[Tensor] = [
            conv(x) for conv, x in zip(self.lateral_convs, inputs)
        ]
        outs = laterals[::-1]  # coarsest first
        for i, (up_conv,
                fuse_conv) in enumerate(zip(self.up_convs, self.fuse_convs)):
            upsampled = F.interpolate(
                outs[i],
                size=outs[i + 1].shape[-2:],
                mode='bilinear',
                align_corners=False)
            outs[i + 1] = fuse_conv(up_conv(upsampled) + outs[i + 1])
        return tuple(outs[::-1])
