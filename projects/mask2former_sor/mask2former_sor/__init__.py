# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Mask2Former-SOR: mmdet's Mask2Former ranking salient instances by
predicting their rank level as the class."""
from .rank_fusion_head import SORRankFusionHead, expected_ranks
from .rank_labels import SORRankLabels

__all__ = ['SORRankFusionHead', 'SORRankLabels', 'expected_ranks']
