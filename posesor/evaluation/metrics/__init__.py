# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .pose_order_metric import PoseOrderMetric
from .sor_metric import SORMetric, decode_masks, encode_masks

__all__ = ['PoseOrderMetric', 'SORMetric', 'decode_masks', 'encode_masks']
