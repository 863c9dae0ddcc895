# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Multi-head attention with separate q/k/v projections and keep-masks.

PoseSOR's transformer blocks use attention with separate query, key and value
projections (so queries may come from a different token set than keys), and
masks given as *keep* weights (1 = attend, 0 = ignore). A query row whose
keep-mask is empty attends everywhere instead of producing NaNs, as in
Mask2Former.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn

from posesor.utils.misc import MASKED_LOGIT


@MODELS.register_module()
class ProjAttention(nn.Module):
    """Multi-head attention with independent q/k/v/out linear projections.

    Args:
        embed_dims (int): Channels of queries, keys and values.
        num_heads (int): Number of attention heads.
        downsample_rate (int): Internal channels are ``embed_dims //
            downsample_rate``. Defaults to 1.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 downsample_rate: int = 1) -> None:
        super().__init__()
        internal_dims = embed_dims // downsample_rate
        if internal_dims % num_heads != 0:
            raise ValueError(f'num_heads={num_heads} must divide the internal '
                             f'dims {internal_dims}')
        self.num_heads = num_heads
        self.q_proj = nn.Linear(embed_dims, internal_dims)
        self.k_proj = nn.Linear(embed_dims, internal_dims)
        self.v_proj = nn.Linear(embed_dims, internal_dims)
        self.out_proj = nn.Linear(internal_dims, embed_dims)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(B, N, C) -> (B, heads, N, C / heads)."""
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

    def forward(self,
                query: Tensor,
                key: Tensor,
                value: Tensor,
                keep_mask: Optional[Tensor] = None) -> Tensor:
        """Attend from ``query`` to ``key``/``value``.

        Args:
            query (Tensor): (B, Nq, C).
            key (Tensor): (B, Nk, C).
            value (Tensor): (B, Nk, C).
            keep_mask (Tensor, optional): Broadcastable to
                (B, heads, Nq, Nk); 1 where a query may attend a key, 0 where
                it may not. Rows without any kept key attend to all keys.
                The input is not modified.

        Returns:
            Tensor: (B, Nq, C).
        """
        q = self._split_heads(self.q_proj(query))
        k = self._split_heads(self.k_proj(key))
        v = self._split_heads(self.v_proj(value))
        bias = None
        if keep_mask is not None:
            keep = keep_mask.to(q.dtype)
            empty_rows = keep.sum(dim=-1, keepdim=True) < 0.5
            keep = torch.where(empty_rows, torch.ones_like(keep), keep)
            bias = (1.0 - keep) * MASKED_LOGIT
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class SDPAMultiheadAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` that never returns attention weights.

    mmcv's ``MultiheadAttention`` only reads the attention output, but
    calls ``nn.MultiheadAttention`` with ``need_weights=True``, which makes
    PyTorch compute the (averaged) weights step by step. Without them
    PyTorch computes the same attention with
    :func:`torch.nn.functional.scaled_dot_product_attention`.
    """

    def forward(self, *args, **kwargs):
        """As ``nn.MultiheadAttention.forward`` with ``need_weights=False``
        (the second output is None)."""
        kwargs['need_weights'] = False
        return super().forward(*args, **kwargs)


def use_sdpa(module: nn.Module) -> nn.Module:
    """Turn every ``nn.MultiheadAttention`` under ``module`` into a
    :class:`SDPAMultiheadAttention` (same parameters and state dict).

    Args:
        module (nn.Module): Root module, changed in place.

    Returns:
        nn.Module: ``module``.
    """
    for m in module.modules():
        if type(m) is nn.MultiheadAttention:
            m.__class__ = SDPAMultiheadAttention
    return module
