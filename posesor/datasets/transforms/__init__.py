# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .formatting import PackSORInputs
from .loading import LoadSORAnnotations
from .transforms import COCO_FLIP_PAIRS, SORRandomFlip, SORResize

__all__ = [
    'PackSORInputs', 'LoadSORAnnotations', 'SORResize', 'SORRandomFlip',
    'COCO_FLIP_PAIRS'
]
