# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The one weight initialisation of PoseSOR's transformer heads."""
from mmengine.model import xavier_init
from torch import nn


def xavier_init_linears(module: nn.Module,
                        unit_layer_norms: bool = False) -> None:
    """Xavier-uniform weights and zero biases for every linear map.

    Covers ``nn.Linear``, ``nn.Conv2d`` and ``nn.MultiheadAttention``, whose
    packed ``in_proj_weight`` is initialised per q/k/v block (as separate
    projections would be, which is what the reference has).

    Args:
        module (nn.Module): Root of the modules to initialise.
        unit_layer_norms (bool): Also reset every ``nn.LayerNorm`` to unit
            weight and zero bias (the reference's transformer blocks).
            Defaults to False.
    """
    for m in module.modules():
        if isinstance(m, nn.MultiheadAttention) and m.in_proj_weight \
                is not None:
            for w in m.in_proj_weight.data.chunk(3, dim=0):
                nn.init.xavier_uniform_(w)
            if m.in_proj_bias is not None:
                nn.init.zeros_(m.in_proj_bias)
        elif isinstance(m, (nn.Linear, nn.Conv2d)):
            xavier_init(m, distribution='uniform')
        elif unit_layer_norms and isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
