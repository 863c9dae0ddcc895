# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank's Sequential Ranking Module (SRM): which object is attended next.

Given the instance queries and which of them were already attended (their
order in ``visited``: 0 = not yet, 1 = first, ...), the SRM scores every
query as the next fixation. The currently fixated query (the last visited)
and all visited ones are marked by learnable embeddings; each block then
mixes the queries (self-attention, FFN), lets the stride-32 map read them
("peripheral vision", plus a fused copy of the fixated query) and lets the
queries read the map back. Every block ends with a linear gate of the queries
and a residual from a projection of its input. A two-layer MLP gives one
logit per query after the last block.

The reference multiplies the queries by ``softmax(gate(q))`` over a size-1
axis, which is always 1; the gate is kept (it is in the released
checkpoints) and computed the same way.
"""
from typing import Tuple

import torch
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from posesor.models.layers import ProjAttention, xavier_init_linears
from .fovea_decoder import gelu_ffn

# A query counts as visited when its visiting order exceeds this.
VISITED_THRESHOLD = 0.5


class FixationShiftBlock(nn.Module):
    """One SRM block (the reference's ``CenterShiftBlock``).

    Args:
        embed_dims (int): Channels C.
        num_heads (int): Attention heads.
        feedforward_channels (int): FFN / fusion-MLP hidden channels.
        attn_drop (float): Dropout on attention and FFN outputs.
        ffn_drop (float): Dropout on the fusion MLP's output.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 attn_drop: float = 0.0,
                 ffn_drop: float = 0.0) -> None:
        super().__init__()

        def sublayer(module: nn.Module) -> nn.ModuleDict:
            return nn.ModuleDict(
                dict(
                    op=module,
                    drop=nn.Dropout(attn_drop),
                    norm=nn.LayerNorm(embed_dims)))

        self.query_self_attn = sublayer(ProjAttention(embed_dims, num_heads))
        self.query_ffn = sublayer(gelu_ffn(embed_dims, feedforward_channels))
        self.map_cross_attn = sublayer(ProjAttention(embed_dims, num_heads))
        self.map_fusion = nn.ModuleDict(
            dict(
                op=nn.Sequential(
                    nn.Linear(2 * embed_dims, feedforward_channels), nn.ReLU(),
                    nn.Linear(feedforward_channels, embed_dims)),
                drop=nn.Dropout(ffn_drop),
                norm=nn.LayerNorm(embed_dims)))
        self.query_cross_attn = sublayer(ProjAttention(embed_dims, num_heads))
        self.query_self_attn2 = sublayer(ProjAttention(embed_dims, num_heads))
        self.query_ffn2 = sublayer(gelu_ffn(embed_dims, feedforward_channels))
        self.gate = nn.Linear(embed_dims, 1)
        self.input_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)

    @staticmethod
    def _residual(sub: nn.ModuleDict, x: Tensor, update: Tensor) -> Tensor:
        """``norm(x + dropout(update))``."""
        return sub['norm'](x + sub['drop'](update))

    def forward(self, query: Tensor, query_pos: Tensor, feat: Tensor,
                feat_pos: Tensor, fixated: Tensor, fixated_embed: Tensor,
                visited: Tensor, visited_embed: Tensor) -> Tensor:
        """Update the queries.

        Args:
            query (Tensor): (B, Nq, C).
            query_pos (Tensor): (B, Nq, C).
            feat (Tensor): (B, HW, C) flattened stride-32 map.
            feat_pos (Tensor): (B, HW, C) its positional encoding.
            fixated (Tensor): (B, Nq, 1) 1 for the fixated query.
            fixated_embed (Tensor): (1, 1, C).
            visited (Tensor): (B, Nq, 1) 1 for visited queries.
            visited_embed (Tensor): (1, 1, C).

        Returns:
            Tensor: (B, Nq, C) updated queries (the map update stays local).
        """
        shortcut = self.input_proj(query)
        query = query + visited * visited_embed + fixated * fixated_embed
        q = query + query_pos
        query = self._residual(self.query_self_attn, query,
                               self.query_self_attn['op'](q, q, query))
        query = self._residual(self.query_ffn, query,
                               self.query_ffn['op'](query))
        feat = self._residual(
            self.map_cross_attn, feat,
            self.map_cross_attn['op'](feat + feat_pos, query + query_pos,
                                      query))
        focus = (fixated * query).sum(dim=1, keepdim=True) + fixated_embed
        fused = torch.cat([focus.expand(-1, feat.shape[1], -1), feat], dim=-1)
        feat = self._residual(self.map_fusion, feat,
                              self.map_fusion['op'](fused))
        query = self._residual(
            self.query_cross_attn, query,
            self.query_cross_attn['op'](query + query_pos, feat + feat_pos,
                                        feat))
        q = query + query_pos
        query = self._residual(self.query_self_attn2, query,
                               self.query_self_attn2['op'](q, q, query))
        query = self._residual(self.query_ffn2, query,
                               self.query_ffn2['op'](query))
        query = query * torch.softmax(self.gate(query), dim=-1)
        return self.output_proj(shortcut + query)


@MODELS.register_module()
class SequentialRanker(BaseModule):
    """SeqRank's Sequential Ranking Module.

    Args:
        embed_dims (int): Channels C. Defaults to 256.
        num_heads (int): Attention heads. Defaults to 8.
        feedforward_channels (int): Hidden channels. Defaults to 2048.
        num_blocks (int): SRM blocks (6 in the first release, 2 in the
            corrected one). Defaults to 2.
        attn_drop (float): Dropout on attention outputs. Defaults to 0.
        ffn_drop (float): Dropout on the fusion MLP. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int = 256,
                 num_heads: int = 8,
                 feedforward_channels: int = 2048,
                 num_blocks: int = 2,
                 attn_drop: float = 0.0,
                 ffn_drop: float = 0.0) -> None:
        super().__init__()
        self.visited_embed = nn.Parameter(torch.randn(embed_dims))
        self.fixated_embed = nn.Parameter(torch.randn(embed_dims))
        self.blocks = nn.ModuleList([
            FixationShiftBlock(embed_dims, num_heads, feedforward_channels,
                               attn_drop, ffn_drop) for _ in range(num_blocks)
        ])
        self.score_head = nn.Sequential(
            nn.Linear(embed_dims, embed_dims), nn.ReLU(),
            nn.Linear(embed_dims, 1))

    def init_weights(self) -> None:
        """The reference's initialisation: Xavier blocks, PyTorch's default
        for the score MLP, standard normal embeddings."""
        nn.init.normal_(self.visited_embed)
        nn.init.normal_(self.fixated_embed)
        for block in self.blocks:
            xavier_init_linears(block, unit_layer_norms=True)

    @staticmethod
    def split_visits(visited: Tensor) -> Tuple[Tensor, Tensor]:
        """Visited and currently fixated queries from visiting orders.

        Args:
            visited (Tensor): (B, Nq, 1) visiting order (0 = not visited).

        Returns:
            tuple[Tensor, Tensor]: ``visited`` and ``fixated`` (B, Nq, 1)
            float masks; the fixated query is the last visited one.
        """
        last = visited[..., 0].max(dim=1).values[:, None, None]
        seen = visited > VISITED_THRESHOLD
        return ((seen & (visited <= last)).float(),
                (seen & (visited == last)).float())

    def forward(self, query: Tensor, query_pos: Tensor, feat: Tensor,
                feat_pos: Tensor, visited: Tensor) -> Tensor:
        """Score every query as the next fixation.

        Args:
            query (Tensor): (B, Nq, C) instance queries.
            query_pos (Tensor): (B, Nq, C) their positions.
            feat (Tensor): (B, HW, C) flattened stride-32 map.
            feat_pos (Tensor): (B, HW, C) its positional encoding.
            visited (Tensor): (B, Nq, 1) visiting order, 0 = not visited.

        Returns:
            Tensor: (B, Nq, 1) next-fixation logits.
        """
        visited_mask, fixated_mask = self.split_visits(visited)
        visited_embed = self.visited_embed[None, None]
        fixated_embed = self.fixated_embed[None, None]
        for block in self.blocks:
            query = block(query, query_pos, feat, feat_pos, fixated_mask,
                          fixated_embed, visited_mask, visited_embed)
        return self.score_head(query)
