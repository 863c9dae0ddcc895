# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank (Guan & Lau, AAAI 2024) on this repository's data and metrics."""
from .fovea_decoder import FoveaDecoder
from .frcpn import FrcPN
from .seqrank import SeqRank
from .seqrank_instance_head import SeqRankInstanceHead
from .seqrank_post_processor import SeqRankPostProcessor
from .sequential_ranker import SequentialRanker
from .sequential_ranking_head import SequentialRankingHead

__all__ = [
    'FoveaDecoder', 'FrcPN', 'SeqRank', 'SeqRankInstanceHead',
    'SeqRankPostProcessor', 'SequentialRanker', 'SequentialRankingHead'
]
