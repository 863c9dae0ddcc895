# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .batch_resize import SORBatchMultiScaleResize

__all__ = ['SORBatchMultiScaleResize']
