# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .sor_metric import SORMetric, decode_masks, encode_masks

__all__ = ['SORMetric', 'decode_masks', 'encode_masks']
