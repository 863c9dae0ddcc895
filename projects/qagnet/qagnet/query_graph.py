# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""QAGNet's tri-tiered nested graph over Mask2Former's decoder queries.

Every query of every decoder layer is a node. The nodes of one query that
attend to the same feature scale (decoder layers ``l, l + S, l + 2S...`` for
S scales) form a **same-scale subgraph** with a representative; the S
scale representatives of one query form a **cross-scale subgraph** with
an instance representative; the instance representatives of all queries
form the **multi-instance graph**, whose nodes are scored for saliency.

One graph layer passes information up the tiers (nodes -> representatives:
complete subgraph updates, then each representative attends to its nodes
and itself), across instances (the multi-instance graph, scored for a side
loss) and back down (representatives -> nodes: each node attends to itself
and its representative). After the last layer one more upward pass and a
multi-head multi-instance graph give the final saliency scores.

The instance representatives keep a short connection from one layer to the
next. The reference builds it from a list that holds the representatives'
tensor, which it then updates in place, so the connection adds: at the
first layer ``A_1`` to itself, later ``A_k`` to ``A_(k-1)`` (``A_k`` the
instance representatives of the upward pass k, before the multi-instance
graph). This module reproduces that, as the released weights were trained
with it.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.model import BaseModule, ModuleList, xavier_init
from torch import Tensor, nn

from .graph_attention import GraphAttention


def _adjacency_to_rep(num_nodes: int, device: torch.device) -> Tensor:
    """Adjacency of ``num_nodes`` nodes and their representative (last):
    the representative attends to every node and itself, each node only to
    itself. (n + 1, n + 1) bool."""
    adjacency = torch.eye(num_nodes + 1, dtype=torch.bool, device=device)
    adjacency[-1] = True
    return adjacency


def _adjacency_from_rep(num_nodes: int, device: torch.device) -> Tensor:
    """Adjacency of ``num_nodes`` nodes and their representative (last):
    each node attends to itself and the representative, the representative
    only to itself. (n + 1, n + 1) bool."""
    adjacency = torch.eye(num_nodes + 1, dtype=torch.bool, device=device)
    adjacency[:, -1] = True
    return adjacency


def gather_into_rep(gat: GraphAttention, nodes: Tensor, rep: Tensor) -> Tensor:
    """Update representatives from their nodes.

    Args:
        gat (GraphAttention): The subgraph's attention.
        nodes (Tensor): (..., n, C) the nodes of each subgraph.
        rep (Tensor): (..., C) their representatives.

    Returns:
        Tensor: (..., C) the updated representatives.
    """
    graph = torch.cat([nodes, rep[..., None, :]], dim=-2)
    adjacency = _adjacency_to_rep(nodes.shape[-2], nodes.device)
    return gat(graph, adjacency)[..., -1, :]


def spread_from_rep(gat: GraphAttention, nodes: Tensor, rep: Tensor) -> Tensor:
    """Update nodes from themselves and their representative.

    Args:
        gat (GraphAttention): The subgraph's attention.
        nodes (Tensor): (..., n, C) the nodes of each subgraph.
        rep (Tensor): (..., C) their representatives.

    Returns:
        Tensor: (..., n, C) the updated nodes.
    """
    graph = torch.cat([nodes, rep[..., None, :]], dim=-2)
    adjacency = _adjacency_from_rep(nodes.shape[-2], nodes.device)
    return gat(graph, adjacency)[..., :-1, :]


@MODELS.register_module()
class TriTieredQueryGraph(BaseModule):
    """Saliency scores of Mask2Former queries from QAGNet's nested graph.

    Args:
        embed_dims (int): Query feature size C.
        num_scales (int): Feature scales S the decoder layers cycle through
            (Mask2Former: 3).
        num_layers (int): Graph layers, each scored by a side loss (the
            released models: 2).
        num_final_heads (int): Graph-attention heads of the final
            multi-instance graph (the released models: 8).
        negative_slope (float): Leaky-ReLU slope of every graph attention.
        attn_drop (float): Attention dropout of every graph attention.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_scales: int = 3,
                 num_layers: int = 2,
                 num_final_heads: int = 8,
                 negative_slope: float = 0.2,
                 attn_drop: float = 0.2,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_layers < 1:
            raise ValueError('TriTieredQueryGraph: num_layers must be >= 1 '
                             f'(the final pass reuses a layer\'s short '
                             f'connection), got {num_layers}')
        self.num_scales = num_scales
        self.num_layers = num_layers

        def gat() -> GraphAttention:
            return GraphAttention(embed_dims, negative_slope, attn_drop)

        def per_scale() -> ModuleList:
            return ModuleList([gat() for _ in range(num_scales)])

        # upward passes: num_layers + 1 (the last one before the final graph)
        self.same_scale_nodes = ModuleList(
            [per_scale() for _ in range(num_layers + 1)])
        self.same_scale_to_rep = ModuleList(
            [per_scale() for _ in range(num_layers + 1)])
        self.cross_scale_nodes = ModuleList(
            [gat() for _ in range(num_layers + 1)])
        self.cross_scale_to_rep = ModuleList(
            [gat() for _ in range(num_layers + 1)])
        # per layer: the multi-instance graph and the downward pass
        self.instance_graphs = ModuleList([gat() for _ in range(num_layers)])
        self.cross_scale_from_rep = ModuleList(
            [gat() for _ in range(num_layers)])
        self.same_scale_from_rep = ModuleList(
            [per_scale() for _ in range(num_layers)])
        # the final multi-head multi-instance graph and the scorer
        self.final_instance_graphs = ModuleList(
            [gat() for _ in range(num_final_heads)])
        self.final_fuse = nn.Linear(num_final_heads * embed_dims, embed_dims)
        self.score_head = nn.Linear(embed_dims, 1)

    def init_weights(self) -> None:
        """The reference's: c2_xavier_fill in the graph attentions, xavier
        (uniform, bias 0) in the fusion and the scorer."""
        for module in self.modules():
            if isinstance(module, GraphAttention):
                module.init_weights()
        xavier_init(self.final_fuse, distribution='uniform')
        xavier_init(self.score_head, distribution='uniform')

    def group_by_scale(self, queries: List[Tensor]) -> Tensor:
        """Stack the decoder layers' queries by the scale they attended to.

        Args:
            queries (list[Tensor]): Per decoder layer (in order), (B, Q, C);
                layer i attends to scale ``i % S``.

        Returns:
            Tensor: (B, Q, S, P, C), P = layers per scale.
        """
        if len(queries) % self.num_scales:
            raise ValueError(
                f'TriTieredQueryGraph: {len(queries)} decoder layers do not '
                f'split evenly over {self.num_scales} scales')
        return torch.stack([
            torch.stack(queries[s::self.num_scales], dim=2)
            for s in range(self.num_scales)
        ],
                           dim=2)

    def upward(self, step: int, nodes: Tensor, scale_reps: Tensor,
               instance_reps: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Nodes -> scale representatives -> instance representatives.

        Args:
            step (int): Upward pass index (0..num_layers).
            nodes (Tensor): (B, Q, S, P, C).
            scale_reps (Tensor): (B, Q, S, C).
            instance_reps (Tensor): (B, Q, C).

        Returns:
            tuple[Tensor]: Updated ``nodes``, ``scale_reps`` and the new
            instance representatives.
        """
        new_nodes, new_reps = [], []
        for scale in range(nodes.shape[2]):
            level = self.same_scale_nodes[step][scale](nodes[:, :, scale])
            new_nodes.append(level)
            new_reps.append(
                gather_into_rep(self.same_scale_to_rep[step][scale], level,
                                scale_reps[:, :, scale]))
        nodes = torch.stack(new_nodes, dim=2)
        scale_reps = self.cross_scale_nodes[step](torch.stack(new_reps, 2))
        instance_reps = gather_into_rep(self.cross_scale_to_rep[step],
                                        scale_reps, instance_reps)
        return nodes, scale_reps, instance_reps

    def downward(self, step: int, nodes: Tensor, scale_reps: Tensor,
                 instance_reps: Tensor) -> Tuple[Tensor, Tensor]:
        """Instance representatives -> scale representatives -> nodes.

        Args:
            step (int): Graph layer index (0..num_layers - 1).
            nodes (Tensor): (B, Q, S, P, C).
            scale_reps (Tensor): (B, Q, S, C).
            instance_reps (Tensor): (B, Q, C).

        Returns:
            tuple[Tensor]: Updated ``nodes`` and ``scale_reps``.
        """
        scale_reps = spread_from_rep(self.cross_scale_from_rep[step],
                                     scale_reps, instance_reps)
        levels = [
            spread_from_rep(self.same_scale_from_rep[step][scale],
                            nodes[:, :, scale], scale_reps[:, :, scale])
            for scale in range(nodes.shape[2])
        ]
        nodes = torch.stack(levels, dim=2)
        return nodes, scale_reps

    def forward(self, queries: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        """Saliency scores of every query.

        Args:
            queries (list[Tensor]): The decoder layers' query features
                (after each layer, before the decoder's final norm), in
                layer order, each (B, Q, C).

        Returns:
            tuple: ``scores`` (B, Q), the final saliency logits (higher =
            more salient), and ``side_scores``, per graph layer (B, Q).
        """
        nodes = self.group_by_scale(queries)
        scale_reps = nodes.mean(dim=3)
        instance_reps = scale_reps.mean(dim=2)
        side_scores = []
        previous = None
        for step in range(self.num_layers + 1):
            nodes, scale_reps, upward = self.upward(step, nodes, scale_reps,
                                                    instance_reps)
            # the reference's short connection (see the module docstring)
            if step == 0:
                instance_reps = upward
            else:
                partner = upward if step == 1 else previous
                instance_reps = F.elu(upward + partner)
            previous = upward
            if step == self.num_layers:
                break
            instance_reps = self.instance_graphs[step](instance_reps)
            side_scores.append(self.score_head(instance_reps)[..., 0])
            nodes, scale_reps = self.downward(step, nodes, scale_reps,
                                              instance_reps)
        heads = [graph(instance_reps) for graph in self.final_instance_graphs]
        fused = F.relu(instance_reps + self.final_fuse(torch.cat(heads, -1)))
        return self.score_head(fused)[..., 0], side_scores
