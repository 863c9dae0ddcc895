# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Positional encodings of 2-D feature maps for PoseSOR.

Every encoder here maps a feature map (B, C, H, W) to a positional encoding of
the same shape, so the detector can swap them from the config
(``positional_encoding=dict(type=...)``):

- :class:`LearnableGridPositionalEncoding` (the released model's choice): a
  learnable (C, 25, 25) map bilinearly resized to each feature level.
- :class:`SineGridPositionalEncoding`: DETR's normalised sine encoding,
  computed by mmdet's :class:`~mmdet.models.layers.SinePositionalEncoding`.
- :class:`RandomFourierPositionalEncoding`: SAM-style random spatial
  frequencies (a fixed Gaussian projection of normalised coordinates).
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmdet.models.layers import SinePositionalEncoding
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn


@MODELS.register_module()
class LearnableGridPositionalEncoding(BaseModule):
    """A learnable positional map resized to the size of each feature map.

    Args:
        embed_dims (int): Channels C of the encoding.
        grid_size (Sequence[int]): (h, w) of the learnable map.
            Defaults to (25, 25).
    """

    def __init__(self,
                 embed_dims: int = 256,
                 grid_size: Sequence[int] = (25, 25)) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(embed_dims, *grid_size))
        self.init_weights()

    def init_weights(self) -> None:
        """Standard truncated normal in [-2, 2], as the reference."""
        nn.init.trunc_normal_(self.pos_embed)

    def forward(self, feat: Tensor) -> Tensor:
        """Resize the learnable map to ``feat``'s spatial size.

        Args:
            feat (Tensor): (B, C, H, W) feature map (only its shape is used).

        Returns:
            Tensor: (B, C, H, W) positional encoding.
        """
        pos = F.interpolate(
            self.pos_embed.unsqueeze(0),
            size=feat.shape[-2:],
            mode='bilinear',
            align_corners=False)
        return pos.expand(feat.shape[0], -1, -1, -1)


@MODELS.register_module()
class SineGridPositionalEncoding(BaseModule):
    """Normalised sine positional encoding of a whole (unpadded) map.

    Args:
        embed_dims (int): Channels C of the encoding (C / 2 per axis).
        temperature (int): Frequency temperature. Defaults to 10000.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 temperature: int = 10000) -> None:
        super().__init__()
        if embed_dims % 2 != 0:
            raise ValueError(f'embed_dims={embed_dims} must be even')
        self.encoder = SinePositionalEncoding(
            num_feats=embed_dims // 2,
            temperature=temperature,
            normalize=True,
            scale=2 * math.pi)

    def forward(self, feat: Tensor) -> Tensor:
        """Encode every position of ``feat``.

        Args:
            feat (Tensor): (B, C, H, W) feature map (only its shape is used).

        Returns:
            Tensor: (B, C, H, W) positional encoding.
        """
        b, _, h, w = feat.shape
        padding_mask = feat.new_zeros((b, h, w), dtype=torch.bool)
        return self.encoder(padding_mask).to(feat.dtype)


@MODELS.register_module()
class RandomFourierPositionalEncoding(BaseModule):
    """Positional encoding with random spatial frequencies (as in SAM).

    Args:
        embed_dims (int): Channels C of the encoding (C / 2 frequencies).
        scale (float, optional): Standard deviation of the frequencies;
            ``None`` or non-positive means 1.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 scale: Optional[float] = None) -> None:
        super().__init__()
        if embed_dims % 2 != 0:
            raise ValueError(f'embed_dims={embed_dims} must be even')
        if scale is None or scale <= 0.0:
            scale = 1.0
        self.register_buffer('gaussian_matrix',
                             scale * torch.randn((2, embed_dims // 2)))

    def forward(self, feat: Tensor) -> Tensor:
        """Encode the pixel-centre coordinates of ``feat``'s grid.

        Args:
            feat (Tensor): (B, C, H, W) feature map (only its shape is used).

        Returns:
            Tensor: (B, C, H, W) positional encoding.
        """
        b, _, h, w = feat.shape
        device = self.gaussian_matrix.device
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        coords = torch.stack(
            [xs[None, :].expand(h, w), ys[:, None].expand(h, w)], dim=-1)
        proj = 2 * math.pi * ((2 * coords - 1) @ self.gaussian_matrix)
        pos = torch.cat([proj.sin(), proj.cos()], dim=-1).permute(2, 0, 1)
        return pos.unsqueeze(0).expand(b, -1, -1, -1).to(feat.dtype)
