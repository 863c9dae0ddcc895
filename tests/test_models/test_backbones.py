# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The SDPA Swin backbone option against mmpretrain's Swin."""
import pytest
import torch
from mmdet.registry import MODELS
from mmengine.registry import init_default_scope
from mmpretrain.models import SwinTransformer

import posesor  # noqa: F401
from posesor.models.backbones import SDPAWindowMSA

MICRO_SWIN = dict(
    arch=dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8]),
    window_size=7,
    out_indices=(0, 1, 2, 3),
    pad_small_map=True)


@pytest.mark.parametrize('size', [(96, 128), (70, 84)])
def test_sdpa_swin_equals_mmpretrain(size):
    """Same state dict, outputs within 1e-4 (shifted and padded windows)."""
    init_default_scope('mmdet')
    torch.manual_seed(0)
    # (mmpretrain's Swin ``train``/``eval`` return None)
    reference = SwinTransformer(**MICRO_SWIN)
    reference.eval()
    for name, param in reference.named_parameters():
        if 'relative_position_bias_table' in name:
            torch.nn.init.normal_(param, std=0.5)  # a bias that matters
    sdpa = MODELS.build(dict(type='SDPASwinTransformer', **MICRO_SWIN))
    sdpa.load_state_dict(reference.state_dict(), strict=True)
    sdpa.eval()
    assert any(isinstance(m, SDPAWindowMSA) for m in sdpa.modules())
    x = torch.randn(1, 3, *size)
    with torch.no_grad():
        expected, got = reference(x), sdpa(x)
    for e, g in zip(expected, got):
        scale = e.abs().max()
        assert (g - e).abs().max() <= 1e-4 * scale
