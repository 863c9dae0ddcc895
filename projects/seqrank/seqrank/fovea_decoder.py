# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank's Fovea Module (FoM): salient instance queries with foveal,
box-guided glimpses.

Learnable queries (zero init, learnable positions) are refined block after
block. Each block reads the stride-32/16/8 maps in turn (plus a per-level
embedding): every query samples an RoI grid (1x1, 2x2, 3x3 cells for the
three levels) inside the box it currently predicts, each cell (query + cell
feature) cross-attends the whole map, the cells are averaged back into the
query, then self-attention and an FFN (all post-norm). A shared head (norm,
objectness logit, 3-layer mask-embedding MLP dotted with the stride-4 map,
3-layer box MLP giving ``(cx, cy, h, w)`` logits: PoseSOR's
:class:`~posesor.models.heads.InstancePredictionHead` with its box MLP)
reads the queries before the first block (its boxes place the first RoI
grids) and after each block.
"""
from typing import Dict, Sequence

import torch
from mmcv.cnn.bricks.transformer import FFN
from mmdet.registry import MODELS
from torch import Tensor, nn
from torchvision.ops import roi_align

from posesor.models.heads import SalientInstanceDecoder
from posesor.models.layers import ProjAttention
from posesor.models.task_modules import cxcyhw_to_xyxy

# Layers of the box MLP of the prediction head (as its mask MLP).
HEAD_MLP_LAYERS = 3

FeatDict = Dict[str, Tensor]


def gelu_ffn(embed_dims: int, feedforward_channels: int) -> FFN:
    """``Linear -> GELU -> Linear`` without residual (added by the block)."""
    return FFN(
        embed_dims=embed_dims,
        feedforward_channels=feedforward_channels,
        num_fcs=2,
        act_cfg=dict(type='GELU'),
        ffn_drop=0.0,
        add_identity=False)


class RoIGridSampler(nn.Module):
    """Sample an ``(h, w)`` RoIAlign grid inside each query's box, plus a
    learnable per-cell embedding.

    Args:
        embed_dims (int): Channels C.
        grid_size (Sequence[int]): ``(h, w)`` cells.
    """

    def __init__(self, embed_dims: int, grid_size: Sequence[int]) -> None:
        super().__init__()
        self.grid_size = (int(grid_size[0]), int(grid_size[1]))
        self.grid_embed = nn.Parameter(
            torch.randn(embed_dims, *self.grid_size))

    def forward(self, feat: Tensor, boxes: Tensor) -> Tensor:
        """RoI features of every query.

        Args:
            feat (Tensor): (B, C, H, W) map.
            boxes (Tensor): (B, Nq, 4) normalised ``(cx, cy, h, w)``.

        Returns:
            Tensor: (B, Nq, C, h, w).
        """
        b, _, height, width = feat.shape
        nq = boxes.shape[1]
        xyxy = cxcyhw_to_xyxy(boxes).clamp(0.0, 1.0)
        xyxy = xyxy * xyxy.new_tensor([width, height, width, height])
        batch_index = torch.arange(
            b, device=boxes.device, dtype=xyxy.dtype)[:, None,
                                                      None].expand(b, nq, 1)
        rois = torch.cat([batch_index, xyxy], dim=-1).flatten(0, 1)
        # torchvision's RoIAlign with the reference's defaults (not aligned,
        # adaptive sampling ratio)
        cells = roi_align(feat, rois, output_size=self.grid_size)
        cells = cells + self.grid_embed[None]
        return cells.unflatten(0, (b, nq))


class MultiGlimpseLayer(nn.Module):
    """One FoM block: RoI cells cross-attend a map, merge into their query,
    then self-attention and FFN (post-norm).

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        feedforward_channels (int): FFN hidden channels.
        attn_drop (float): Dropout on attention outputs. Defaults to 0.
        ffn_drop (float): Dropout on the FFN output. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 attn_drop: float = 0.0,
                 ffn_drop: float = 0.0) -> None:
        super().__init__()
        self.query_proj = nn.Sequential(
            nn.Linear(embed_dims, embed_dims), nn.LayerNorm(embed_dims))
        self.cell_proj = nn.Sequential(
            nn.Linear(embed_dims, embed_dims), nn.LayerNorm(embed_dims))
        self.merge_proj = nn.Sequential(
            nn.Linear(embed_dims, embed_dims), nn.LayerNorm(embed_dims))
        self.cross_attn = ProjAttention(embed_dims, num_heads)
        self.cross_attn_drop = nn.Dropout(attn_drop)
        self.cross_attn_norm = nn.LayerNorm(embed_dims)
        self.self_attn = ProjAttention(embed_dims, num_heads)
        self.self_attn_drop = nn.Dropout(attn_drop)
        self.self_attn_norm = nn.LayerNorm(embed_dims)
        self.ffn = gelu_ffn(embed_dims, feedforward_channels)
        self.ffn_drop = nn.Dropout(ffn_drop)
        self.ffn_norm = nn.LayerNorm(embed_dims)

    def forward(self, query: Tensor, query_pos: Tensor, feat: Tensor,
                feat_pos: Tensor, cells: Tensor) -> Tensor:
        """Update the queries.

        Args:
            query (Tensor): (B, Nq, C).
            query_pos (Tensor): (B, Nq, C).
            feat (Tensor): (B, C, H, W) map (with its level embedding).
            feat_pos (Tensor): (B, C, H, W) its positional encoding.
            cells (Tensor): (B, Nq, C, h, w) RoI features.

        Returns:
            Tensor: (B, Nq, C).
        """
        b, nq, _, h, w = cells.shape
        num_cells = h * w
        glimpses = self.query_proj(query).unsqueeze(2).expand(
            -1, -1, num_cells, -1)
        glimpses = glimpses + self.cell_proj(
            cells.flatten(3).transpose(-1, -2))
        glimpses = glimpses.flatten(1, 2)  # B, Nq * cells, C
        glimpse_pos = query_pos.repeat_interleave(num_cells, dim=1)
        key = feat.flatten(2).transpose(1, 2)
        key_pos = feat_pos.flatten(2).transpose(1, 2)
        attn = self.cross_attn(glimpses + glimpse_pos, key + key_pos, key)
        glimpses = self.cross_attn_norm(glimpses + self.cross_attn_drop(attn))

        query = self.merge_proj(glimpses.unflatten(1, (nq, num_cells)).mean(2))
        q = query + query_pos
        attn = self.self_attn(q, q, query)
        query = self.self_attn_norm(query + self.self_attn_drop(attn))
        return self.ffn_norm(query + self.ffn_drop(self.ffn(query)))


@MODELS.register_module()
class FoveaDecoder(SalientInstanceDecoder):
    """SeqRank's Fovea Module: segments salient instances, scores their
    objectness and boxes them.

    PoseSOR's :class:`~posesor.models.heads.SalientInstanceDecoder` (queries,
    level embeddings, levels in turn, prediction head) with
    :class:`MultiGlimpseLayer` blocks that read each level through the RoI
    grid of the box the head predicted before the block.

    Args:
        grid_sizes (Sequence[Sequence[int]]): RoI grid of each of the
            ``key_features`` levels. Defaults to ((1, 1), (2, 2), (3, 3)).
        num_bbox_layers (int): Layers of the head's box MLP. Defaults to 3.
        **kwargs: :class:`~posesor.models.heads.SalientInstanceDecoder`'s
            ``num_queries`` (100), ``embed_dims`` (256), ``num_heads`` (8),
            ``feedforward_channels`` (2048), ``num_blocks`` (6),
            ``attn_drop``, ``ffn_drop`` (0), ``key_features`` (('res5',
            'res4', 'res3')) and ``mask_key`` ('res2').
    """

    def __init__(self,
                 grid_sizes: Sequence[Sequence[int]] = ((1, 1), (2, 2), (3,
                                                                         3)),
                 num_bbox_layers: int = HEAD_MLP_LAYERS,
                 **kwargs) -> None:
        super().__init__(num_bbox_layers=num_bbox_layers, **kwargs)
        if len(self.key_features) != len(grid_sizes):
            raise ValueError(
                f'FoveaDecoder: {len(self.key_features)} key_features but '
                f'{len(grid_sizes)} grid_sizes; give one grid per level')
        self.roi_samplers = nn.ModuleList(
            [RoIGridSampler(self.embed_dims, size) for size in grid_sizes])

    def build_layer(self, embed_dims: int, num_heads: int,
                    feedforward_channels: int, attn_drop: float,
                    ffn_drop: float) -> nn.Module:
        """One :class:`MultiGlimpseLayer` (see
        :meth:`SalientInstanceDecoder.build_layer` for the arguments)."""
        return MultiGlimpseLayer(embed_dims, num_heads, feedforward_channels,
                                 attn_drop, ffn_drop)

    def init_weights(self) -> None:
        """The reference's initialisation (PoseSOR's decoder's, and
        standard normal RoI cell embeddings)."""
        super().init_weights()
        for sampler in self.roi_samplers:
            nn.init.normal_(sampler.grid_embed)

    def forward(self, feats: FeatDict,
                feats_pe: FeatDict) -> Dict[str, Tensor]:
        """Decode the instance queries.

        Args:
            feats (dict[str, Tensor]): Neck maps (B, C, H_l, W_l).
            feats_pe (dict[str, Tensor]): Their positional encodings.

        Returns:
            dict[str, Tensor]: ``query`` (B, Nq, C) final queries (before
            the head's norm), ``query_pos`` (B, Nq, C) and the head's
            prediction after the last block: ``masks`` (B, Nq, H4, W4),
            ``scores`` (B, Nq, 1) and ``bboxes`` (B, Nq, 4)
            ``(cx, cy, h, w)``, all logits. (The earlier predictions only
            place the RoI grids: the released models train no auxiliary
            loss on them.)
        """
        mask_feature = feats[self.mask_key]
        query, query_pos = self.initial_queries(mask_feature.shape[0])
        prediction = self.head(query, mask_feature)
        for i, layer in enumerate(self.layers):
            level, feat = self.level_feature(i, feats)
            cells = self.roi_samplers[level](feat,
                                             prediction['bboxes'].sigmoid())
            query = layer(query, query_pos, feat,
                          feats_pe[self.key_features[level]], cells)
            prediction = self.head(query, mask_feature)
        return dict(query=query, query_pos=query_pos, **prediction)
