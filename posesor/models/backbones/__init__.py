# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .sdpa_swin import SDPASwinTransformer, SDPAWindowMSA

__all__ = ['SDPASwinTransformer', 'SDPAWindowMSA']
