# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .posesor import PoseSOR
from .sor_postprocess import (merge_duplicates, rank_scores_from_logits,
                              select_queries)

__all__ = [
    'PoseSOR', 'merge_duplicates', 'rank_scores_from_logits', 'select_queries'
]
