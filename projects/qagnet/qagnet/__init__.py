# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""QAGNet: Mask2Former queries ranked by a tri-tiered nested graph."""
from .crowded_filter import MaxInstancesSORDataset
from .fusion_head import QAGNetFusionHead
from .graph_attention import GraphAttention
from .qagnet_head import QAGNetHead
from .query_graph import TriTieredQueryGraph
from .rank_loss import PairwiseRankLoss, pairwise_rank_loss

__all__ = [
    'GraphAttention', 'MaxInstancesSORDataset', 'PairwiseRankLoss',
    'QAGNetFusionHead', 'QAGNetHead', 'TriTieredQueryGraph',
    'pairwise_rank_loss'
]
