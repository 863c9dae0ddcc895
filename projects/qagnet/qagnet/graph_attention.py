# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""QAGNet's graph attention layer (a GAT layer with a fixed adjacency)."""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule, caffe2_xavier_init
from torch import Tensor, nn

# The reference fills the logits of absent edges with this value before the
# softmax (their weight then underflows to exactly 0).
ABSENT_EDGE_LOGIT = -1e12


class GraphAttention(BaseModule):
    """One graph attention layer: ``elu(softmax_j(e_ij) @ W x)`` over the
    edges ``i -> j`` of a fixed adjacency.

    ``e_ij = leaky_relu(a . [W x_i, W x_j])``, with the edge scorer ``a``
    (``edge_score``) a linear layer on the concatenated pair, as in QAGNet's
    ``GraphAttentionLayer``; it is evaluated as the sum of its two halves
    applied to each node (the same value, without the (N, N, 2C) pair
    tensor). Dropout is applied to the attention weights.

    Args:
        embed_dims (int): Node feature size C (in and out).
        negative_slope (float): Slope of the leaky ReLU. Defaults to 0.2.
        attn_drop (float): Dropout rate of the attention weights. Defaults
            to 0.2.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 embed_dims: int,
                 negative_slope: float = 0.2,
                 attn_drop: float = 0.2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.negative_slope = negative_slope
        self.node_proj = nn.Linear(embed_dims, embed_dims)
        self.edge_score = nn.Linear(2 * embed_dims, 1)
        self.attn_drop = nn.Dropout(attn_drop)

    def init_weights(self) -> None:
        """detectron2's ``c2_xavier_fill``, as the reference."""
        caffe2_xavier_init(self.node_proj)
        caffe2_xavier_init(self.edge_score)

    def forward(self,
                nodes: Tensor,
                adjacency: Optional[Tensor] = None) -> Tensor:
        """Update every node from its neighbours.

        Args:
            nodes (Tensor): (..., N, C) node features (leading axes are
                independent graphs).
            adjacency (Tensor, optional): (N, N) bool, ``[i, j]`` True when
                node i attends to node j; None for a complete graph.

        Returns:
            Tensor: (..., N, C) updated nodes.
        """
        h = self.node_proj(nodes)
        w_src, w_dst = self.edge_score.weight[0].split(self.embed_dims)
        logits = ((h @ w_src)[..., :, None] + (h @ w_dst)[..., None, :] +
                  self.edge_score.bias)
        logits = F.leaky_relu(logits, self.negative_slope)
        if adjacency is not None:
            # in half precision the reference's value overflows to -inf;
            # the dtype's lowest value masks as well, without the overflow
            absent = max(ABSENT_EDGE_LOGIT, torch.finfo(logits.dtype).min)
            logits = logits.masked_fill(~adjacency, absent)
        attn = self.attn_drop(logits.softmax(dim=-1))
        return F.elu(attn @ h)
