# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .sor_fpn import SORFPN, TopDownPyramid, conv_gelu_ln

__all__ = ['SORFPN', 'TopDownPyramid', 'conv_gelu_ln']
