# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Every project config parses, imports its code through custom_imports and
builds its model (parameters on the meta device: no memory, no init)."""
import glob
import math
import os.path as osp

import pytest
from mmengine.config import Config

from posesor.utils.ckpt_convert import model_state_shapes

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'projects', '*', 'configs', '*.py')))
NUM_PARAMS = {
    # Swin-L (195.2 M) plus each method's neck and heads
    'mask2former_sor_swinl_768_assr.py': (200e6, 230e6),
    'seqrank_swinl_800_assr.py': (200e6, 240e6),
}


def test_all_project_configs_are_found():
    names = {osp.basename(c) for c in CONFIGS}
    assert {
        'mask2former_sor_swinl_768_assr.py',
        'mask2former_sor_swinl_768_irsr.py',
        'mask2former_sor_tiny_synthetic.py', 'seqrank_swinl_800_assr.py',
        'seqrank_swinl_800_irsr.py', 'seqrank_swinl_800_assr_corrected.py',
        'seqrank_swinl_800_irsr_corrected.py', 'seqrank_tiny_synthetic.py'
    } <= names


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert any(
        imp.startswith('projects.') for imp in cfg.custom_imports['imports'])
    shapes = model_state_shapes(cfg.model)
    num = sum(math.prod(s) for s in shapes.values())
    low, high = NUM_PARAMS.get(osp.basename(path), (1e5, 3e8))
    assert low <= num <= high, num
    if 'irsr' in path and 'mask2former' in path:
        assert cfg.model.panoptic_head.num_things_classes == 10
        assert len(cfg.model.panoptic_head.loss_cls.class_weight) == 11
    if 'corrected' in path:
        assert cfg.model.neck.type == 'SORFPN'
        assert cfg.model.rank_head.ranker.num_blocks == 2
    elif 'seqrank_swinl' in path:
        assert cfg.model.neck.type == 'FrcPN'
        assert cfg.model.rank_head.ranker.num_blocks == 6
