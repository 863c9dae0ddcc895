# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .sor_post_processor import (SORPostProcessor, merge_duplicates,
                                 rank_scores_from_logits, select_queries)

__all__ = [
    'SORPostProcessor', 'merge_duplicates', 'rank_scores_from_logits',
    'select_queries'
]
