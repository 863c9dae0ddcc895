# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .pai import PoseAwareInteraction
from .pdr import PoseDrivenRanking
from .pose_ranking_head import PoseRankingHead
from .salient_instance_head import SalientInstanceHead, mask_matching_assigner
from .sor_instance_decoder import (InstancePredictionHead,
                                   SalientInstanceDecoder)

__all__ = [
    'PoseAwareInteraction', 'PoseDrivenRanking', 'PoseRankingHead',
    'SalientInstanceHead', 'SalientInstanceDecoder', 'InstancePredictionHead',
    'mask_matching_assigner'
]
