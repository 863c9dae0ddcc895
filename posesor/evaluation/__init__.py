# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from . import convention_table, functional, pose_order
from .convention_table import format_convention_table
from .functional import jae, mae, mask_iou, sa_sor, sor
from .metrics import *  # noqa: F401,F403
from .metrics import PoseOrderMetric, SORMetric
from .pose_order import pose_order_accuracy, pose_order_hits, pose_order_pairs

__all__ = [
    'convention_table', 'format_convention_table', 'functional', 'jae', 'mae',
    'mask_iou', 'sa_sor', 'sor', 'SORMetric', 'pose_order', 'PoseOrderMetric',
    'pose_order_accuracy', 'pose_order_hits', 'pose_order_pairs'
]
