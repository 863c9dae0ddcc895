# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""MLP-mixer step: mix along the token axis, then along channels."""
from typing import Optional

from torch import Tensor, nn

from .norm_mlp import NormedMLP


class TokenChannelMixer(nn.Module):
    """Token-mixing MLP followed by a channel MLP (no residuals).

    Maps (..., N, C) tokens to (..., N', C') with a :class:`NormedMLP` over
    the token axis (N -> N') and another over channels (C -> C'). PDR uses it
    to fuse the 8 directional tokens of an instance into one token.

    Args:
        num_tokens (int): Input tokens N.
        hidden_tokens (int): Hidden size of the token MLP.
        embed_dims (int): Input channels C.
        hidden_dims (int): Hidden size of the channel MLP.
        out_tokens (int, optional): Output tokens N'. Defaults to N.
        out_dims (int, optional): Output channels C'. Defaults to C.
    """

    def __init__(self,
                 num_tokens: int,
                 hidden_tokens: int,
                 embed_dims: int,
                 hidden_dims: int,
                 out_tokens: Optional[int] = None,
                 out_dims: Optional[int] = None) -> None:
        super().__init__()
        out_tokens = num_tokens if out_tokens is None else out_tokens
        out_dims = embed_dims if out_dims is None else out_dims
        self.token_mlp = NormedMLP(num_tokens, hidden_tokens, out_tokens)
        self.channel_mlp = NormedMLP(embed_dims, hidden_dims, out_dims)

    def forward(self, x: Tensor) -> Tensor:
        """Mix tokens, then channels.

        Args:
            x (Tensor): (..., N, C).

        Returns:
            Tensor: (..., N', C').
        """
        x = self.token_mlp(x.transpose(-1, -2)).transpose(-1, -2)
        return self.channel_mlp(x)
