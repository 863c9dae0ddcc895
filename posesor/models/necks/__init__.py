# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .sor_fpn import SORFPN

__all__ = ['SORFPN']
