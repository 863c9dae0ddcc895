# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR's salient instance decoder (the Mask2Former-like query decoder).

Learnable queries (and learnable query positions) attend, block after block,
to the stride-32/16/8 maps in turn (plus a per-level embedding). Each block is
cross-attention -> self-attention -> FFN with post-norm, which is exactly
mmdet's :class:`Mask2FormerTransformerDecoderLayer` (its attentions are
:class:`torch.nn.MultiheadAttention`; the reference's separate q/k/v
projections are the three row blocks of ``in_proj_weight``). Unlike
Mask2Former, the cross-attention is *not* masked: the reference computes an
attention mask in its head but never uses it, so it is not computed here.

A prediction head (LayerNorm, objectness logit, 3-layer mask-embedding MLP
dotted with the stride-4 map) reads the final queries. (The reference also
applies it before the first block and after every block; no loss reads
those predictions, so they are not computed.)
"""
from typing import Dict, Sequence, Tuple

import torch
from mmdet.models.layers import Mask2FormerTransformerDecoderLayer
from mmdet.models.layers.transformer import MLP
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..layers.attention import use_sdpa
from ..layers.weight_init import xavier_init_linears

FeatDict = Dict[str, Tensor]
# Box coordinates predicted per query: (cx, cy, h, w).
BOX_DIMS = 4


class InstancePredictionHead(nn.Module):
    """Prediction head of the instance decoder.

    Args:
        embed_dims (int): Query channels C.
        num_mask_layers (int): Layers of the mask-embedding MLP.
            Defaults to 3.
        num_bbox_layers (int): Layers of an optional box MLP giving
            ``(cx, cy, h, w)`` logits (SeqRank's Fovea Module has one of 3
            layers); 0 (default, PoseSOR) predicts no boxes.
    """

    def __init__(self,
                 embed_dims: int,
                 num_mask_layers: int = 3,
                 num_bbox_layers: int = 0) -> None:
        super().__init__()
        self.decoder_norm = nn.LayerNorm(embed_dims)
        self.cls_embed = nn.Linear(embed_dims, 1)
        self.mask_embed = MLP(embed_dims, embed_dims, embed_dims,
                              num_mask_layers)
        self.bbox_embed = MLP(embed_dims, embed_dims, BOX_DIMS,
                              num_bbox_layers) if num_bbox_layers else None

    def init_weights(self) -> None:
        """Xavier-uniform for every matrix (as the reference's head); the
        biases keep PyTorch's default."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, query: Tensor,
                mask_feature: Tensor) -> Dict[str, Tensor]:
        """Predict objectness, masks (and boxes).

        Args:
            query (Tensor): (B, Nq, C).
            mask_feature (Tensor): (B, C, H, W) stride-4 map.

        Returns:
            dict: ``masks`` (B, Nq, H, W) logits, ``scores`` (B, Nq, 1)
            objectness logits and, with a box MLP, ``bboxes`` (B, Nq, 4)
            ``(cx, cy, h, w)`` logits.
        """
        query = self.decoder_norm(query)
        masks = torch.einsum('bqc,bchw->bqhw', self.mask_embed(query),
                             mask_feature)
        outputs = dict(masks=masks, scores=self.cls_embed(query))
        if self.bbox_embed is not None:
            outputs['bboxes'] = self.bbox_embed(query)
        return outputs


@MODELS.register_module()
class SalientInstanceDecoder(BaseModule):
    """Query decoder that segments salient instances and scores objectness.

    Subclasses may change the blocks (:meth:`build_layer`) and how they are
    run (``forward``), keeping the queries, the level embeddings, the
    cyclic order of the levels (:meth:`level_feature`) and the head.

    Args:
        num_queries (int): Number of instance queries. Defaults to 100.
        embed_dims (int): Channels C. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int): FFN hidden channels. Defaults to 2048.
        num_blocks (int): Decoder blocks. Defaults to 6.
        attn_drop (float): Dropout on the attention outputs. Defaults to 0.
        ffn_drop (float): Dropout in/after the FFN. Defaults to 0.
        key_features (Sequence[str]): Levels attended in turn by the blocks.
            Defaults to ('res5', 'res4', 'res3').
        mask_key (str): Level dotted with the mask embeddings.
            Defaults to 'res2'.
        num_bbox_layers (int): Layers of the head's box MLP; 0 (default)
            predicts no boxes (see :class:`InstancePredictionHead`).
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
                 mask_key: str = 'res2',
                 num_bbox_layers: int = 0) -> None:
        super().__init__()
        self.num_queries = num_queries
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.key_features = list(key_features)
        self.mask_key = mask_key
        self.query_feat = nn.Parameter(torch.zeros(1, num_queries, embed_dims))
        self.query_pos = nn.Parameter(torch.randn(1, num_queries, embed_dims))
        self.level_embed = nn.Embedding(len(self.key_features), embed_dims)
        self.layers = nn.ModuleList([
            self.build_layer(embed_dims, num_heads, feedforward_channels,
                             attn_drop, ffn_drop) for _ in range(num_blocks)
        ])
        self.head = InstancePredictionHead(
            embed_dims, num_bbox_layers=num_bbox_layers)

    def build_layer(self, embed_dims: int, num_heads: int,
                    feedforward_channels: int, attn_drop: float,
                    ffn_drop: float) -> nn.Module:
        """One block: mmdet's ``Mask2FormerTransformerDecoderLayer`` (its
        attentions run through SDPA).

        Args:
            embed_dims (int): Channels C.
            num_heads (int): Attention heads.
            feedforward_channels (int): FFN hidden channels.
            attn_drop (float): Dropout on the attention outputs.
            ffn_drop (float): Dropout in/after the FFN.

        Returns:
            nn.Module: The block.
        """
        attn_cfg = dict(
            embed_dims=embed_dims,
            num_heads=num_heads,
            attn_drop=0.0,
            proj_drop=attn_drop,
            batch_first=True)
        ffn_cfg = dict(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            ffn_drop=ffn_drop,
            act_cfg=dict(type='GELU'),
            add_identity=True)
        return use_sdpa(
            Mask2FormerTransformerDecoderLayer(
                self_attn_cfg=attn_cfg,
                cross_attn_cfg=attn_cfg,
                ffn_cfg=ffn_cfg,
                norm_cfg=dict(type='LN')))

    @property
    def num_blocks(self) -> int:
        """Number of decoder blocks."""
        return len(self.layers)

    def init_weights(self) -> None:
        """The reference's initialisation: zero queries, standard normal
        query positions, Xavier-uniform linear maps with zero biases in the
        blocks (each of q/k/v separately), unit LayerNorms."""
        nn.init.zeros_(self.query_feat)
        nn.init.normal_(self.query_pos)
        nn.init.normal_(self.level_embed.weight)
        for layer in self.layers:
            xavier_init_linears(layer, unit_layer_norms=True)
        self.head.init_weights()

    def initial_queries(self, batch_size: int) -> Tuple[Tensor, Tensor]:
        """The learnable queries and their positions, (B, Nq, C) each."""
        return (self.query_feat.expand(batch_size, -1, -1),
                self.query_pos.expand(batch_size, -1, -1))

    def level_feature(self, block: int, feats: FeatDict) -> Tuple[int, Tensor]:
        """The level a block reads (the ``key_features`` in turn) and its
        map plus the level embedding.

        Args:
            block (int): Block index.
            feats (dict[str, Tensor]): Neck maps (B, C, H_l, W_l).

        Returns:
            tuple[int, Tensor]: The level's index in ``key_features`` and
            its map (B, C, H_l, W_l).
        """
        level = block % len(self.key_features)
        embed = self.level_embed.weight[level][None, :, None, None]
        return level, feats[self.key_features[level]] + embed

    def forward(self, feats: FeatDict,
                feats_pe: FeatDict) -> Dict[str, Tensor]:
        """Decode the instance queries.

        Args:
            feats (dict[str, Tensor]): Neck maps (B, C, H_l, W_l) keyed
                'res2'..'res5'.
            feats_pe (dict[str, Tensor]): Their positional encodings, same
                shapes.

        Returns:
            dict[str, Tensor]: ``query`` (B, Nq, C) final queries (before the
            head's norm), ``query_pos`` (B, Nq, C) query positions,
            ``masks`` (B, Nq, H4, W4) and ``scores`` (B, Nq, 1) logits
            (and ``bboxes`` (B, Nq, 4) with a box MLP).
        """
        mask_feature = feats[self.mask_key]
        query, query_pos = self.initial_queries(mask_feature.shape[0])
        for i, layer in enumerate(self.layers):
            level, feat = self.level_feature(i, feats)
            key = self.key_features[level]
            feat_pe = feats_pe[key].flatten(2).transpose(1, 2)
            feat = feat.flatten(2).transpose(1, 2)
            query = layer(
                query=query,
                key=feat,
                value=feat,
                query_pos=query_pos,
                key_pos=feat_pe)
        return dict(
            query=query, query_pos=query_pos, **self.head(query, mask_feature))
