# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from . import functional
from .functional import jae, mae, mask_iou, sa_sor, sor
from .metrics import *  # noqa: F401,F403
from .metrics import SORMetric

__all__ = [
    'functional', 'jae', 'mae', 'mask_iou', 'sa_sor', 'sor', 'SORMetric'
]
