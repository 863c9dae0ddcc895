# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Post-norm transformer layer: cross-attention, self-attention, FFN."""
from typing import Optional

from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import xavier_init
from torch import Tensor, nn

from .attention import ProjAttention


class PostNormAttnLayer(nn.Module):
    """(cross-attention ->) masked self-attention -> FFN, each post-norm.

    Each sub-layer computes ``norm(x + dropout(sublayer(x)))``. Positional
    encodings are added to the queries and keys of both attentions, never to
    the values. The FFN is ``Linear -> GELU -> Linear``.

    Args:
        embed_dims (int): Token channels C.
        num_heads (int): Attention heads.
        feedforward_channels (int): Hidden channels of the FFN.
        with_cross_attn (bool): Whether the layer starts with a
            cross-attention to an external key set. Defaults to True.
        attn_drop (float): Dropout on the attention outputs. Defaults to 0.
        ffn_drop (float): Dropout on the FFN output. Defaults to 0.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 with_cross_attn: bool = True,
                 attn_drop: float = 0.0,
                 ffn_drop: float = 0.0) -> None:
        super().__init__()
        self.with_cross_attn = with_cross_attn
        if with_cross_attn:
            self.cross_attn = ProjAttention(embed_dims, num_heads)
            self.cross_attn_drop = nn.Dropout(attn_drop)
            self.cross_attn_norm = nn.LayerNorm(embed_dims)
        self.self_attn = ProjAttention(embed_dims, num_heads)
        self.self_attn_drop = nn.Dropout(attn_drop)
        self.self_attn_norm = nn.LayerNorm(embed_dims)
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            act_cfg=dict(type='GELU'),
            ffn_drop=0.0,
            add_identity=False)
        self.ffn_drop = nn.Dropout(ffn_drop)
        self.ffn_norm = nn.LayerNorm(embed_dims)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                xavier_init(m, distribution='uniform')

    def forward(self,
                query: Tensor,
                query_pos: Tensor,
                key: Optional[Tensor] = None,
                key_pos: Optional[Tensor] = None,
                self_attn_mask: Optional[Tensor] = None) -> Tensor:
        """Update the query tokens.

        Args:
            query (Tensor): (B, N, C).
            query_pos (Tensor): (B, N, C) positional encoding of the queries.
            key (Tensor, optional): (B, M, C) tokens to cross-attend; needed
                when ``with_cross_attn``. They are also the values.
            key_pos (Tensor, optional): (B, M, C) positional encoding of
                ``key``.
            self_attn_mask (Tensor, optional): Keep-mask broadcastable to
                (B, heads, N, N); 1 = may attend. Rows without any kept key
                attend to every key.

        Returns:
            Tensor: (B, N, C) updated queries.
        """
        if self.with_cross_attn:
            if key is None or key_pos is None:
                raise ValueError('key and key_pos are required when '
                                 'with_cross_attn=True')
            attn = self.cross_attn(query + query_pos, key + key_pos, key)
            query = self.cross_attn_norm(query + self.cross_attn_drop(attn))
        q = query + query_pos
        attn = self.self_attn(q, q, query, keep_mask=self_attn_mask)
        query = self.self_attn_norm(query + self.self_attn_drop(attn))
        return self.ffn_norm(query + self.ffn_drop(self.ffn(query)))
