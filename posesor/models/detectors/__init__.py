# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .posesor import PoseSOR

__all__ = ['PoseSOR']
