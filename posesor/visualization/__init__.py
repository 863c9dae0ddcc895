# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .draw import COCO_SKELETON, RANK_COLOURS, draw_sor_overlay, rank_colour
from .sor_visualizer import SORLocalVisualizer

__all__ = [
    'SORLocalVisualizer', 'draw_sor_overlay', 'rank_colour', 'RANK_COLOURS',
    'COCO_SKELETON'
]
