# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Tests of the official-checkpoint converters."""
import argparse
import json
import os
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from mmcv.cnn.bricks.transformer import PatchMerging
from mmengine.config import Config
from mmengine.runner import load_checkpoint
from mmpretrain.models import SwinTransformer

import posesor  # noqa: F401
from posesor.utils.checkpoint import UnsafeCheckpointError
from posesor.utils.ckpt_convert import (CheckpointConversionError,
                                        convert_posesor, convert_swin,
                                        extract_model_state, load_torch_file,
                                        model_state_shapes, unfold_norm_order,
                                        unfold_reduction_order)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools', 'model_converters'))
import posesor_to_mmdet  # noqa: E402
import swin_to_mmpretrain  # noqa: E402
import upgrade_posesor_ckpt  # noqa: E402

PARITY_DIR = os.environ.get('POSESOR_PARITY_DIR',
                            osp.join(REPO, '..', 'shared', 'parity'))
MICRO_CKPT = osp.join(PARITY_DIR, 'posesor_micro_d2.pth')
MICRO_CONFIG = osp.join(REPO, 'tests', 'data', 'posesor_micro_config.py')
SWINL_SHAPES = osp.join(PARITY_DIR, 'posesor_swinl_state_dict_shapes.json')
SWINL_CONFIG = osp.join(REPO, 'configs', 'posesor_swinl_assr.py')
MICRO_SWIN = dict(
    arch=dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8]),
    window_size=7,
    out_indices=(0, 1, 2, 3),
    pad_small_map=True)
#: Sizes the reference reports for its released ASSR model.
SWINL_PARAMS = {
    'total': 220520072,
    'backbone': 195201204,
    'neck': 2709504,
    'instance_head.decoder': 9722625,
    'rank_head.pai': 9094086,
    'rank_head.pdr': 3632653,
    'instance_head.positional_encoding': 160000
}

needs_fixtures = pytest.mark.skipif(
    not osp.isfile(MICRO_CKPT),
    reason='parity fixtures (../shared/parity) not available')


def official_patch_merging(x, hw, norm_w, norm_b, reduction_w):
    """The official Swin PatchMerging (concatenated 2x2 sub-grids)."""
    b, _, c = x.shape
    x = x.view(b, *hw, c)
    x = torch.cat([
        x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]
    ], -1).flatten(1, 2)
    x = F.layer_norm(x, (4 * c, ), norm_w, norm_b)
    return x @ reduction_w.t()


def test_patch_merging_channel_order():
    torch.manual_seed(0)
    c = 6
    norm_w, norm_b = torch.randn(4 * c), torch.randn(4 * c)
    reduction_w = torch.randn(2 * c, 4 * c)
    x = torch.randn(2, 4 * 6, c)
    expected = official_patch_merging(x, (4, 6), norm_w, norm_b, reduction_w)
    merging = PatchMerging(c, 2 * c, norm_cfg=dict(type='LN'))
    merging.load_state_dict({
        'reduction.weight':
        unfold_reduction_order(reduction_w),
        'norm.weight':
        unfold_norm_order(norm_w),
        'norm.bias':
        unfold_norm_order(norm_b)
    })
    out, out_hw = merging(x, (4, 6))
    assert out_hw == (2, 3)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    # without the reordering the result differs
    merging.reduction.weight.data.copy_(reduction_w)
    assert not torch.allclose(merging(x, (4, 6))[0], expected, atol=1e-3)


def _micro_backbone():
    state = extract_model_state(load_torch_file(MICRO_CKPT), MICRO_CKPT)
    return {
        k[len('backbone.'):]: v
        for k, v in state.items() if k.startswith('backbone.')
    }


def _official_format(backbone):
    """The micro backbone as the official classification release stores
    it: no per-output norms, a final norm, a classifier, attention masks."""
    state = {k: v for k, v in backbone.items() if not k.startswith('norm')}
    state['norm.weight'] = backbone['norm3.weight'] + 1.0
    state['norm.bias'] = backbone['norm3.bias']
    state['head.weight'] = torch.randn(5, 256)
    state['head.bias'] = torch.randn(5)
    state['layers.0.blocks.1.attn_mask'] = torch.zeros(4, 49, 49)
    return state


@needs_fixtures
def test_swin_conversion_reproduces_reference_backbone():
    """Converted detectron2 Swin weights give the reference's features."""
    model = SwinTransformer(**MICRO_SWIN)
    model.load_state_dict(convert_swin(_micro_backbone()), strict=True)
    model.eval()
    fixture = torch.load(
        osp.join(PARITY_DIR, 'posesor_micro_outputs.pth'), weights_only=True)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    with torch.no_grad():
        outs = model(((fixture['input']['image'] - mean) / std)[None])
    for key, out in zip(('res2', 'res3', 'res4', 'res5'), outs):
        ref = fixture['features']['backbone'][key]
        torch.testing.assert_close(
            out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


@needs_fixtures
@pytest.mark.parametrize('keep_final_norm', [False, True])
def test_swin_to_mmpretrain_cli(tmp_path, keep_final_norm):
    backbone = _micro_backbone()
    official = _official_format(backbone)
    src, dst = tmp_path / 'swin.pth', tmp_path / 'out' / 'swin_mmpretrain.pth'
    torch.save({'model': official}, src)
    args = [str(src), str(dst), '--no-check']
    if keep_final_norm:
        args.append('--keep-final-norm')
    assert swin_to_mmpretrain.main(args) == 0
    saved = torch.load(dst, weights_only=True)['state_dict']
    assert not any('head' in k or 'attn_mask' in k for k in saved)
    assert ('norm3.weight' in saved) == keep_final_norm
    # usable as a Pretrained init_cfg / load_checkpoint source
    model = SwinTransformer(**MICRO_SWIN)
    reference = SwinTransformer(**MICRO_SWIN)
    reference.load_state_dict(convert_swin(backbone))
    load_checkpoint(model, str(dst), strict=False)
    for key, value in model.state_dict().items():
        if key.startswith('norm'):
            continue
        torch.testing.assert_close(value, reference.state_dict()[key])
    if keep_final_norm:
        torch.testing.assert_close(model.norm3.weight, official['norm.weight'])


def test_swin_official_release_key_layout():
    """Official Swin-L key/shape layout converts onto mmpretrain's Swin-L
    (the CLI's check), shapes only (meta tensors)."""
    expected = swin_to_mmpretrain.expected_swin_shapes('large', 12)
    official = {}
    for key, shape in expected.items():
        key = (
            key.replace('stages', 'layers').replace('.w_msa', '').replace(
                'ffn.layers.0.0',
                'mlp.fc1').replace('ffn.layers.1',
                                   'mlp.fc2').replace('patch_embed.projection',
                                                      'patch_embed.proj'))
        if key.startswith('norm'):
            continue
        official[key] = torch.empty(shape, device='meta')
    official['norm.weight'] = torch.empty(1536, device='meta')
    official['norm.bias'] = torch.empty(1536, device='meta')
    official['head.weight'] = torch.empty(21841, 1536, device='meta')
    official['head.bias'] = torch.empty(21841, device='meta')
    official['layers.2.blocks.1.attn_mask'] = torch.empty(
        4, 144, 144, device='meta')
    converted = convert_swin(official, source='swin-l')
    assert {
        k: tuple(v.shape)
        for k, v in converted.items()
    } == {
        k: v
        for k, v in expected.items() if not k.startswith('norm')
    }


@needs_fixtures
def test_posesor_to_mmdet_cli_round_trip(tmp_path):
    dst = tmp_path / 'posesor_micro_mmdet.pth'
    assert posesor_to_mmdet.main(
        [MICRO_CKPT, str(dst), '--config', MICRO_CONFIG]) == 0
    cfg = Config.fromfile(MICRO_CONFIG)
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    load_checkpoint(model, str(dst), strict=True)
    source = extract_model_state(load_torch_file(MICRO_CKPT), MICRO_CKPT)
    # spot checks of renamed / re-laid-out tensors
    sd = model.state_dict()
    torch.testing.assert_close(sd['rank_head.pai.joint_embed'],
                               source['actor_interaction.j'])
    torch.testing.assert_close(sd['rank_head.pdr.head.rank_cls.weight'],
                               source['pose_shift.head.rank_head.weight'])
    torch.testing.assert_close(
        sd['instance_head.decoder.layers.2.self_attn.attn.in_proj_weight'],
        torch.cat([
            source[f'instance_seg.lookByMultiQ_layers.2.self_attn.{p}_proj'
                   '.weight'] for p in 'qkv'
        ]))
    torch.testing.assert_close(
        sd['backbone.stages.1.downsample.reduction.weight'],
        unfold_reduction_order(
            source['backbone.layers.1.downsample.reduction.weight']))
    # every source tensor is used: the numbers of elements agree
    assert sum(v.numel() for v in source.values()) == sum(v.numel()
                                                          for v in sd.values())


@pytest.mark.skipif(
    not osp.isfile(SWINL_SHAPES),
    reason='parity fixtures (../shared/parity) not available')
def test_swinl_reference_state_dict_maps_onto_released_config():
    """All 786 entries of the reference's Swin-L state dict map onto the
    model of configs/posesor_swinl_assr.py: strict, shapes equal."""
    with open(SWINL_SHAPES) as f:
        entries = json.load(f)
    assert len(entries) == 786
    source = {
        name: torch.empty(shape, device='meta')
        for name, shape in entries
    }
    expected = model_state_shapes(Config.fromfile(SWINL_CONFIG).model)
    converted = convert_posesor(source, expected=expected, source='swin-l')
    assert list(converted) and set(converted) == set(expected)
    for key, value in converted.items():
        assert tuple(value.shape) == expected[key], key

    def count(prefix=''):
        return sum(
            v.numel() for k, v in converted.items()
            if k.startswith(prefix) and 'relative_position_index' not in k)

    assert count() == SWINL_PARAMS['total']
    for module, params in SWINL_PARAMS.items():
        if module != 'total':
            assert count(module + '.') == params, module


@pytest.mark.skipif(
    not osp.isfile(SWINL_SHAPES),
    reason='parity fixtures (../shared/parity) not available')
def test_id2_reference_state_dict_maps_onto_wo_pose_config():
    """The reference's ID2 network (``pai_id2``: no scene tokens) converts
    into configs/posesor_swinl_assr_wo_pose.py; PAI's keypoint and heatmap
    predictors, which that config does not build (no pose loss trains
    them), are dropped and named, and nothing else is."""
    with open(SWINL_SHAPES) as f:
        entries = json.load(f)
    source = {
        name: torch.empty(shape, device='meta')
        for name, shape in entries if '.scene_norm.' not in name
    }
    assert len(source) == 786 - 3 * 2  # scene_norm of the 3 PAI blocks
    config = osp.join(REPO, 'configs', 'posesor_swinl_assr_wo_pose.py')
    expected = model_state_shapes(Config.fromfile(config).model)
    with pytest.warns(UserWarning, match='id2: dropped 4 tensors'):
        converted = convert_posesor(source, expected=expected, source='id2')
    assert set(converted) == set(expected)
    dropped = {
        'actor_interaction.head.classification_head.weight',
        'actor_interaction.head.classification_head.bias',
        'actor_interaction.head.heat_emb.weight',
        'actor_interaction.head.heat_emb.bias'
    }
    assert dropped <= set(source)
    used = sum(v.numel() for k, v in source.items() if k not in dropped)
    assert used == sum(v.numel() for v in converted.values())
    # without the switch the predictors are kept (the faithful default)
    full = model_state_shapes(Config.fromfile(SWINL_CONFIG).model)
    assert 'rank_head.pai.head.keypoint_cls.weight' in full
    # a model that lacks other keys still fails: only these are dropped
    with pytest.raises(CheckpointConversionError, match='not in the model'):
        convert_posesor(
            source,
            expected={
                k: v
                for k, v in expected.items() if 'bbox_reg' not in k
            },
            source='id2')


@needs_fixtures
def test_posesor_to_mmdet_cli_wo_pose_config(tmp_path):
    """The micro checkpoint into a model without pose predictors: strict
    load, and the log says what was dropped and why."""
    config = tmp_path / 'micro_wo_pose.py'
    config.write_text(f"""_base_ = [{MICRO_CONFIG!r}]
model = dict(rank_head=dict(
    pai=dict(with_pose_outputs=False),
    loss_joint=None, loss_joint_vis=None, loss_heatmap=None))
""")
    dst = tmp_path / 'micro_wo_pose.pth'
    with pytest.warns(
            UserWarning, match='dropped 4 tensors .*with_pose_outputs=False'):
        assert posesor_to_mmdet.main(
            [MICRO_CKPT, str(dst), '--config',
             str(config)]) == 0
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(str(config)).model)
    load_checkpoint(model, str(dst), strict=True)


@pytest.fixture(scope='module')
def source():
    """The micro reference state dict."""
    return extract_model_state(load_torch_file(MICRO_CKPT), MICRO_CKPT)


@pytest.fixture(scope='module')
def expected():
    """Key -> shape of the micro model."""
    return model_state_shapes(Config.fromfile(MICRO_CONFIG).model)


@needs_fixtures
class TestConversionErrors:

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match='nope.pth'):
            load_torch_file(str(tmp_path / 'nope.pth'))

    def test_truncated_file(self, tmp_path):
        path = tmp_path / 'truncated.pth'
        with open(MICRO_CKPT, 'rb') as f:
            path.write_bytes(f.read()[:100000])
        with pytest.raises(CheckpointConversionError, match='truncated'):
            load_torch_file(str(path))
        with pytest.raises(CheckpointConversionError, match='truncated'):
            posesor_to_mmdet.main([str(path), str(tmp_path / 'out.pth')])

    def test_not_a_checkpoint(self, tmp_path):
        path = tmp_path / 'text.pth'
        path.write_text('hello')
        with pytest.raises(CheckpointConversionError, match='text.pth'):
            load_torch_file(str(path))

    def test_python_objects_are_refused(self, tmp_path):
        path = tmp_path / 'pickled.pth'
        torch.save({'model': {}, 'trainer': argparse.Namespace(a=1)}, path)
        with pytest.raises(UnsafeCheckpointError, match='Namespace'):
            load_torch_file(str(path))

    def test_wrong_format(self, tmp_path):
        with pytest.raises(CheckpointConversionError, match='"model"'):
            extract_model_state({'state_dict': {}}, 'x.pth')
        with pytest.raises(CheckpointConversionError, match='non-tensor'):
            extract_model_state({'model': {'a': 1}}, 'x.pth')

    def test_left_over_key(self, source):
        bad = dict(source)
        bad['pose_shift.unknown.weight'] = torch.zeros(1)
        with pytest.raises(
                CheckpointConversionError, match='pose_shift.unknown.weight'):
            convert_posesor(bad)
        bad = dict(source)
        bad['debug.weight'] = torch.zeros(1)
        with pytest.raises(CheckpointConversionError, match='debug.weight'):
            convert_posesor(bad)

    def test_missing_key(self, source, expected):
        bad = dict(source)
        del bad['pose_shift.head.rank_head.bias']
        with pytest.raises(
                CheckpointConversionError, match='pdr.head.rank_cls.bias'):
            convert_posesor(bad, expected=expected)

    def test_missing_packed_part(self, source):
        bad = dict(source)
        del bad['instance_seg.lookByMultiQ_layers.0.cross_attn.k_proj.bias']
        with pytest.raises(CheckpointConversionError, match='part'):
            convert_posesor(bad)

    def test_wrong_architecture(self, source, expected):
        bad = dict(source)
        bad['pose_shift.head.rank_head.weight'] = torch.zeros(10, 64)
        with pytest.raises(CheckpointConversionError, match='shape mismatch'):
            convert_posesor(bad, expected=expected)


def _legacy_names(state):
    """A current state dict under this project's earlier names: top-level
    decoder / positional_encoding / pai / pdr, and PAI layers with separate
    q/k/v projections and named norms."""
    norms = {
        'joint_layer': ['cross_attn_norm', 'self_attn_norm', 'ffn_norm'],
        'actor_layer': ['self_attn_norm', 'ffn_norm']
    }
    legacy = {}
    for key, value in state.items():
        for new, old in (('instance_head.decoder.', 'decoder.'),
                         ('instance_head.positional_encoding.',
                          'positional_encoding.'), ('rank_head.pai.', 'pai.'),
                         ('rank_head.pdr.', 'pdr.')):
            if key.startswith(new):
                key = old + key[len(new):]
        parts = key.split('.')
        if parts[0] == 'pai' and len(parts) > 3 and parts[3] in norms:
            layer, rest = '.'.join(parts[:4]), parts[4:]
            if rest[0] == 'norms':
                key = '.'.join([layer, norms[parts[3]][int(rest[1])]] +
                               rest[2:])
            elif rest[1:3] == ['attn', 'out_proj']:
                key = '.'.join([layer, rest[0], 'out_proj', rest[3]])
            elif rest[1:2] == ['attn']:  # packed in_proj_weight / bias
                kind = rest[2][len('in_proj_'):]
                for proj, chunk in zip('qkv', value.chunk(3)):
                    legacy[f'{layer}.{rest[0]}.{proj}_proj.{kind}'] = chunk
                continue
        legacy[key] = value
    return legacy


@needs_fixtures
def test_legacy_module_names_load(tmp_path, source, expected):
    """Checkpoints saved with the earlier module names load into the
    current detector (load_state_dict pre-hook), also after the
    upgrade_posesor_ckpt.py tool; broken ones fail saying how to convert."""
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    current = convert_posesor(source, expected=expected)
    legacy = _legacy_names(current)
    assert 'pai.blocks.0.joint_layer.cross_attn.k_proj.weight' in legacy
    assert 'decoder.layers.0.cross_attn.attn.in_proj_weight' in legacy
    assert not set(legacy) & set(current) - {
        k
        for k in current if k.startswith(('backbone.', 'neck.'))
    }
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(MICRO_CONFIG).model)
    model.load_state_dict(dict(legacy), strict=True)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, current[key], rtol=0, atol=0)

    src, dst = tmp_path / 'legacy.pth', tmp_path / 'upgraded.pth'
    torch.save({'state_dict': legacy, 'meta': {}}, src)
    assert upgrade_posesor_ckpt.main([str(src), str(dst)]) == 0
    upgraded = torch.load(dst, weights_only=True)['state_dict']
    assert set(upgraded) == set(current)

    broken = dict(legacy)
    del broken['pai.blocks.1.actor_layer.self_attn.v_proj.bias']
    with pytest.raises(
            CheckpointConversionError, match='upgrade_posesor_ckpt.py'):
        model.load_state_dict(broken, strict=True)
