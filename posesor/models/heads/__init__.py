# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .pai import PoseAwareInteraction
from .pdr import PoseDrivenRanking
from .sor_instance_decoder import SalientInstanceDecoder, SalientInstanceHead

__all__ = [
    'PoseAwareInteraction', 'PoseDrivenRanking', 'SalientInstanceDecoder',
    'SalientInstanceHead'
]
