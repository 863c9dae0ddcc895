# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank (Guan & Lau, AAAI 2024) on this repository's data and metrics."""
from .fovea_decoder import FoveaDecoder
from .frcpn import FrcPN
from .seqrank import SeqRank
from .seqrank_criterion import SeqRankCriterion
from .sequential_ranker import SequentialRanker

__all__ = [
    'FoveaDecoder', 'FrcPN', 'SeqRank', 'SeqRankCriterion', 'SequentialRanker'
]
