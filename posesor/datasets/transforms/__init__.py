# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .formatting import PackSORInputs
from .loading import LoadImageAsAnnotated, LoadSORAnnotations, exif_orientation
from .transforms import COCO_FLIP_PAIRS, SORRandomFlip, SORResize

__all__ = [
    'PackSORInputs', 'LoadSORAnnotations', 'LoadImageAsAnnotated',
    'exif_orientation', 'SORResize', 'SORRandomFlip', 'COCO_FLIP_PAIRS'
]
