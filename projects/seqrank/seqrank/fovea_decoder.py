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
3-layer box MLP giving ``(cx, cy, h, w)`` logits) reads the queries before
the first block and after each block.
"""
from typing import Dict, List, Sequence, Tuple

import torch
from mmcv.cnn.bricks.transformer import FFN
from mmdet.models.layers.transformer import MLP
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn
from torchvision.ops import roi_align

from posesor.models.layers import ProjAttention
from posesor.models.task_modules import cxcyhw_to_xyxy

FeatDict = Dict[str, Tensor]


def xavier_linear_init(module: nn.Module) -> None:
    """Xavier-uniform Linear/Conv2d weights, zero biases, unit LayerNorms
    (SeqRank's initialisation of its attention blocks)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def gelu_ffn(embed_dims: int, feedforward_channels: int) -> FFN:
    """``Linear -> GELU -> Linear`` without residual (added by the block)."""
    return FFN(
        embed_dims=embed_dims,
        feedforward_channels=feedforward_channels,
        num_fcs=2,
        act_cfg=dict(type='GELU'),
        ffn_drop=0.0,
        add_identity=False)


class FoveaHead(nn.Module):
    """Shared prediction head: objectness, mask and box of every query.

    Args:
        embed_dims (int): Query channels C.
    """

    def __init__(self, embed_dims: int) -> None:
        super().__init__()
        self.decoder_norm = nn.LayerNorm(embed_dims)
        self.cls_embed = nn.Linear(embed_dims, 1)
        self.mask_embed = MLP(embed_dims, embed_dims, embed_dims, 3)
        self.bbox_embed = MLP(embed_dims, embed_dims, 4, 3)

    def init_weights(self) -> None:
        """Xavier-uniform for every matrix (as the reference's head)."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, query: Tensor,
                mask_feature: Tensor) -> Dict[str, Tensor]:
        """Predict objectness, masks and boxes.

        Args:
            query (Tensor): (B, Nq, C).
            mask_feature (Tensor): (B, C, H, W) stride-4 map.

        Returns:
            dict: ``masks`` (B, Nq, H, W), ``scores`` (B, Nq, 1) and
            ``bboxes`` (B, Nq, 4) ``(cx, cy, h, w)``, all logits.
        """
        query = self.decoder_norm(query)
        masks = torch.einsum('bqc,bchw->bqhw', self.mask_embed(query),
                             mask_feature)
        return dict(
            masks=masks,
            scores=self.cls_embed(query),
            bboxes=self.bbox_embed(query))


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
class FoveaDecoder(BaseModule):
    """SeqRank's Fovea Module: segments salient instances, scores their
    objectness and boxes them.

    Args:
        num_queries (int): Instance queries. Defaults to 100.
        embed_dims (int): Channels C. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int): FFN hidden channels. Defaults to 2048.
        num_blocks (int): FoM blocks. Defaults to 6.
        attn_drop (float): Dropout on attention outputs. Defaults to 0.
        ffn_drop (float): Dropout on FFN outputs. Defaults to 0.
        key_features (Sequence[str]): Levels read in turn by the blocks.
            Defaults to ('res5', 'res4', 'res3').
        grid_sizes (Sequence[Sequence[int]]): RoI grid of each of those
            levels. Defaults to ((1, 1), (2, 2), (3, 3)).
        mask_key (str): Level dotted with the mask embeddings.
            Defaults to 'res2'.
    """

    def __init__(self,
                 num_queries: int = 100,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 num_blocks: int = 6,
                 attn_drop: float = 0.0,
                 ffn_drop: float = 0.0,
                 key_features: Sequence[str] = ('res5', 'res4', 'res3'),
                 grid_sizes: Sequence[Sequence[int]] = ((1, 1), (2, 2), (3,
                                                                         3)),
                 mask_key: str = 'res2') -> None:
        super().__init__()
        if len(key_features) != len(grid_sizes):
            raise ValueError(
                f'FoveaDecoder: {len(key_features)} key_features but '
                f'{len(grid_sizes)} grid_sizes; give one grid per level')
        self.key_features = list(key_features)
        self.mask_key = mask_key
        self.query_feat = nn.Parameter(torch.zeros(1, num_queries, embed_dims))
        self.query_pos = nn.Parameter(torch.randn(1, num_queries, embed_dims))
        self.roi_samplers = nn.ModuleList(
            [RoIGridSampler(embed_dims, size) for size in grid_sizes])
        self.level_embed = nn.Embedding(len(self.key_features), embed_dims)
        self.layers = nn.ModuleList([
            MultiGlimpseLayer(embed_dims, num_heads, feedforward_channels,
                              attn_drop, ffn_drop) for _ in range(num_blocks)
        ])
        self.head = FoveaHead(embed_dims)

    def init_weights(self) -> None:
        """The reference's initialisation."""
        nn.init.zeros_(self.query_feat)
        nn.init.normal_(self.query_pos)
        nn.init.normal_(self.level_embed.weight)
        for sampler in self.roi_samplers:
            nn.init.normal_(sampler.grid_embed)
        for layer in self.layers:
            xavier_linear_init(layer)
        self.head.init_weights()

    def forward(
        self, feats: FeatDict, feats_pe: FeatDict
    ) -> Tuple[Tensor, Tensor, Dict[str, Tensor], List[Dict[str, Tensor]]]:
        """Decode the instance queries.

        Args:
            feats (dict[str, Tensor]): Neck maps (B, C, H_l, W_l).
            feats_pe (dict[str, Tensor]): Their positional encodings.

        Returns:
            tuple: ``query`` (B, Nq, C) final queries, ``query_pos``
            (B, Nq, C), the last head output (see :class:`FoveaHead`) and
            the earlier head outputs (the first one before any block).
        """
        mask_feature = feats[self.mask_key]
        batch_size = mask_feature.shape[0]
        query = self.query_feat.expand(batch_size, -1, -1)
        query_pos = self.query_pos.expand(batch_size, -1, -1)
        predictions = [self.head(query, mask_feature)]
        num_levels = len(self.key_features)
        for i, layer in enumerate(self.layers):
            level = i % num_levels
            key = self.key_features[level]
            feat = feats[key] + self.level_embed.weight[level][None, :, None,
                                                               None]
            boxes = predictions[-1]['bboxes'].sigmoid()
            cells = self.roi_samplers[level](feat, boxes)
            query = layer(query, query_pos, feat, feats_pe[key], cells)
            predictions.append(self.head(query, mask_feature))
        return query, query_pos, predictions[-1], predictions[:-1]
