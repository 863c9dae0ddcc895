# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .draw import (COCO_SKELETON, RANK_COLOURS, badge_radius, draw_badge,
                   draw_legend, draw_sor_overlay, place_badges, rank_colour)
from .sor_visualizer import SORLocalVisualizer

__all__ = [
    'SORLocalVisualizer', 'draw_sor_overlay', 'rank_colour', 'RANK_COLOURS',
    'COCO_SKELETON', 'badge_radius', 'draw_badge', 'draw_legend',
    'place_badges'
]
