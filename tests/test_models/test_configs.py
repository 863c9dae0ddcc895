# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The model configs: they load, build, and follow the reference recipe."""
import glob
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import posesor  # noqa: F401

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs')
SWINL_CONFIGS = [
    'posesor_swinl_assr.py', 'posesor_swinl_assr_512.py',
    'posesor_swinl_irsr.py', 'posesor_swinl_assr_wo_pose.py'
]
TINY_CONFIGS = [
    'posesor_tiny_synthetic.py', 'posesor_tiny_synthetic_wo_pose.py'
]
# The reference's parameter count of the released architecture, per module
# (from the parity fixture's README).
REFERENCE_PARAMS = {
    'backbone': 195_201_204,
    'neck': 2_709_504,
    'instance_head.decoder': 9_722_625,
    'rank_head.pai': 9_094_086,
    'rank_head.pdr': 3_632_653,
    'instance_head.positional_encoding': 160_000
}
REFERENCE_TOTAL = 220_520_072


def load(name: str) -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, name))


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_every_top_level_config_is_covered():
    names = {osp.basename(p) for p in glob.glob(osp.join(CONFIG_DIR, '*.py'))}
    assert set(SWINL_CONFIGS + TINY_CONFIGS) <= names


def test_swinl_parameter_count_matches_reference():
    init_default_scope('mmdet')
    cfg = load('posesor_swinl_assr.py')
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'PoseSOR'
    total = count(model)
    assert abs(total - REFERENCE_TOTAL) <= 0.005 * REFERENCE_TOTAL
    assert total == REFERENCE_TOTAL
    for name, expected in REFERENCE_PARAMS.items():
        assert count(model.get_submodule(name)) == expected, name


@pytest.mark.parametrize('name', SWINL_CONFIGS[1:])
def test_swinl_variants_share_the_architecture(name):
    base = load('posesor_swinl_assr.py').model
    cfg = load(name).model
    if name == 'posesor_swinl_assr_wo_pose.py':
        # the reference's ID2 network: PAI without scene tokens (pai_id2)
        assert cfg.rank_head.pai.pop('use_scene_tokens') is False
        # no keypoint/heatmap predictors: no pose loss would train them
        assert cfg.rank_head.pai.pop('with_pose_outputs') is False
        # trained without pose supervision
        for loss in ('loss_joint', 'loss_joint_vis', 'loss_heatmap'):
            assert cfg.rank_head.pop(loss) is None
            base.rank_head.pop(loss)
    for key in ('backbone', 'neck', 'instance_head', 'rank_head'):
        assert cfg[key] == base[key], key


def test_released_recipe():
    cfg = load('posesor_swinl_assr.py')
    assert cfg.model.backbone.type == 'mmpretrain.SwinTransformer'
    assert cfg.model.backbone.arch == 'large'
    assert cfg.model.backbone.window_size == 12
    assert cfg.model.backbone.drop_path_rate == 0.2
    assert cfg.model.backbone.pad_small_map
    assert cfg.model.data_preprocessor.bgr_to_rgb
    sizes = cfg.model.data_preprocessor.batch_augments[0].sizes
    assert [tuple(s) for s in sizes] == [(704, 704), (736, 736), (768, 768),
                                         (800, 800)]
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_cfg.max_iters == 50000
    assert cfg.param_scheduler[0].milestones == [30000]
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert cfg.optim_wrapper.optimizer.lr == 5e-5
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.optim_wrapper.clip_grad.max_norm == 5.0
    assert cfg.train_dataloader.batch_size * 8 == 32
    inst, rank = cfg.model.instance_head, cfg.model.rank_head
    assert (inst.num_points, inst.loss_obj.loss_weight,
            inst.loss_mask.loss_weight, inst.loss_dice.loss_weight,
            rank.loss_joint.loss_weight, rank.loss_joint_vis.loss_weight,
            rank.loss_heatmap.loss_weight, rank.loss_heatmap.sigma,
            rank.loss_refined_mask.loss_weight,
            rank.loss_refined_dice.loss_weight, rank.loss_bbox.loss_weight,
            rank.loss_giou.loss_weight, rank.loss_partition.loss_weight,
            rank.loss_partition_dice.loss_weight,
            rank.loss_rank.loss_weight) == (12544, 10.0, 5.0, 5.0, 1000.0,
                                            10.0, 100.0, 0.01, 5.0, 5.0, 5.0,
                                            2.0, 5.0, 5.0, 0.1)
    assert rank.num_keypoints == 17
    assert cfg.model.test_cfg == dict(
        obj_threshold=0.1, maskness_threshold=0.95)

    small = load('posesor_swinl_assr_512.py')
    assert small.train_cfg.max_iters == 30000
    assert small.param_scheduler[0].milestones == [20000]
    assert small.train_dataloader.batch_size == 16
    sizes = small.model.data_preprocessor.batch_augments[0].sizes
    assert [tuple(s) for s in sizes] == [(480, 480), (512, 512), (544, 544)]
    for pipeline in (small.train_dataloader.dataset.pipeline,
                     small.test_dataloader.dataset.pipeline):
        resize = [t for t in pipeline if t.type == 'SORResize'][0]
        assert tuple(resize.scale) == (512, 512)

    irsr = load('posesor_swinl_irsr.py')
    assert 'irsr' in irsr.train_dataloader.dataset.ann_file
    assert 'irsr' in irsr.test_evaluator.ann_file

    for name in ('posesor_swinl_assr_wo_pose.py',
                 'posesor_tiny_synthetic_wo_pose.py'):
        assert load(name).model.rank_head.loss_joint is None
    assert load('posesor_tiny_synthetic.py').model.rank_head.loss_joint


def test_weight_decay_groups():
    """No decay on norms, level embeddings and relative position tables."""
    init_default_scope('mmdet')
    cfg = load('posesor_tiny_synthetic.py')
    model = MODELS.build(cfg.model)
    optim_cfg = load('posesor_swinl_assr.py').optim_wrapper
    optim_cfg.type = 'OptimWrapper'  # AMP needs a GPU
    wrapper = build_optim_wrapper(model, optim_cfg)
    decay = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[id(p)] = group['weight_decay']
    named = dict(model.named_parameters())
    decoder = 'instance_head.decoder.'
    assert decay[id(named[decoder + 'level_embed.weight'])] == 0.0
    assert decay[id(named['neck.lateral_convs.0.ln.weight'])] == 0.0
    assert decay[id(named[decoder + 'layers.0.norms.0.bias'])] == 0.0
    table = [k for k in named if 'relative_position_bias_table' in k]
    assert table and all(decay[id(named[k])] == 0.0 for k in table)
    assert decay[id(named[decoder + 'query_feat'])] == 1e-4
    assert decay[id(
        named['instance_head.positional_encoding.pos_embed'])] == 1e-4
    assert decay[id(named['neck.lateral_convs.0.conv.weight'])] == 1e-4


@pytest.mark.parametrize('name', TINY_CONFIGS)
def test_tiny_configs_build(name):
    init_default_scope('mmdet')
    cfg = load(name)
    model = MODELS.build(cfg.model)
    if name == 'posesor_tiny_synthetic.py':
        assert count(model) == 3_187_074  # the parity fixture's micro model
    else:  # the pose pathways are off, their parameters are not created
        assert count(model) < 3_187_074
        assert not cfg.model.rank_head.pai.use_joint_interaction
        assert not cfg.model.rank_head.pai.use_sub_pose
        assert not cfg.model.rank_head.pdr.use_directions
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    assert 'synthetic' in cfg.train_dataloader.dataset.ann_file


def test_512_pipelines_equal_the_base_but_for_the_size():
    """The 512 recipe restates the base pipelines; only the size differs."""
    small = load('posesor_swinl_assr_512.py')
    base = load('posesor_swinl_assr.py')
    for loader in ('train_dataloader', 'test_dataloader'):
        ours = small[loader].dataset.pipeline
        theirs = base[loader].dataset.pipeline
        assert [dict(t, scale=None)
                for t in ours] == [dict(t, scale=None) for t in theirs]
        assert [t['scale'] for t in ours if 'scale' in t] == [(512, 512)]
