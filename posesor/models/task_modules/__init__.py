# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .bbox_utils import cxcyhw_to_xyxy, xyxy_to_cxcyhw
from .box_losses import box_losses
from .match_costs import ObjectnessCost
from .point_sampling import (pixel_centres, point_mask_losses,
                             sample_grid_pixels, sample_logits_at_pixels)
from .query_slots import QuerySlots
from .sor_targets import build_next_targets, build_sor_targets

__all__ = [
    'ObjectnessCost', 'cxcyhw_to_xyxy', 'xyxy_to_cxcyhw', 'box_losses',
    'sample_grid_pixels', 'pixel_centres', 'sample_logits_at_pixels',
    'point_mask_losses', 'QuerySlots', 'build_next_targets',
    'build_sor_targets'
]
