# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The OpenMMLab stack imports and posesor registers into mmdet."""
import importlib

import pytest
import torch


@pytest.mark.parametrize(
    'module', ['mmcv.ops', 'mmdet.models', 'mmpretrain.models', 'mmpose.apis'])
def test_stack_imports(module):
    importlib.import_module(module)


def test_mmcv_compiled_ops_run_on_cpu():
    from mmcv.ops import point_sample
    feats = torch.arange(16.).view(1, 1, 4, 4)
    # Point (0.5, 0.5) is the image centre: the mean of the 4 central cells.
    out = point_sample(
        feats, torch.tensor([[[0.5, 0.5]]]), align_corners=False)
    assert out.item() == pytest.approx((5 + 6 + 9 + 10) / 4)


def test_posesor_modules_build_through_mmdet_registry():
    from mmdet.registry import MODELS

    import posesor  # noqa: F401
    attn = MODELS.build(dict(type='ProjAttention', embed_dims=8, num_heads=2))
    assert type(attn).__module__.startswith('posesor.')
    q = torch.randn(2, 3, 8)
    k = torch.randn(2, 5, 8)
    assert attn(q, k, k).shape == (2, 3, 8)


def test_register_all_modules_sets_mmdet_scope():
    from mmengine import DefaultScope

    from posesor.utils import register_all_modules
    register_all_modules()
    assert DefaultScope.get_current_instance().scope_name == 'mmdet'
