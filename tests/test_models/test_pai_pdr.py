# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Tests of the PAI and PDR modules (tiny dims, CPU)."""
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS

import posesor  # noqa: F401
from posesor.models.heads.pai import (PoseAwareInteraction,
                                      gated_cross_attention)
from posesor.models.heads.pdr import PoseDrivenRanking
from posesor.models.heads.sor_instance_decoder import SalientInstanceDecoder
from posesor.models.layers.positional_encoding import \
    LearnableGridPositionalEncoding
from posesor.utils.ckpt_convert import (convert_posesor, extract_model_state,
                                        load_torch_file)

C, HEADS, FFN, K = 16, 2, 32, 17
SIZES = dict(res2=16, res3=8, res4=4, res5=2)
PARITY_DIR = osp.join(
    osp.dirname(__file__), '..', '..', '..', 'shared', 'parity')


def _feats(batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    feats = {
        k: torch.randn(batch, C, s, s, generator=g)
        for k, s in SIZES.items()
    }
    feats_pe = {
        k: torch.randn(1, C, s, s, generator=g).expand(batch, -1, -1, -1)
        for k, s in SIZES.items()
    }
    return feats, feats_pe


def _pai(**kwargs) -> PoseAwareInteraction:
    cfg = dict(
        type='PoseAwareInteraction',
        embed_dims=C,
        num_heads=HEADS,
        feedforward_channels=FFN,
        num_joints=K,
        scene_bins=(2, 2))
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg).eval()


def _pdr(**kwargs) -> PoseDrivenRanking:
    cfg = dict(
        type='PoseDrivenRanking',
        embed_dims=C,
        feedforward_channels=FFN,
        num_joints=K)
    cfg.update(kwargs)
    torch.manual_seed(1)
    return MODELS.build(cfg).eval()


def test_output_shapes():
    pai, pdr = _pai(), _pdr()
    feats, feats_pe = _feats(2)
    q, qpe = torch.randn(2, 3, C), torch.randn(2, 3, C)
    q_mask = torch.tensor([[1., 1., 1.], [1., 1., 0.]])[..., None]
    out = pai(q, qpe, feats, feats_pe, q_mask)
    assert set(out) == {
        'query', 'joints', 'keypoints', 'heatmaps', 'masks', 'bboxes'
    }
    assert out['joints'].shape == (2, 3, K, C)
    assert out['query'].shape == (2, 3, C)
    assert out['keypoints'].shape == (2, 3, K, 3)
    assert out['heatmaps'].shape == (2, 3, K, 16, 16)
    assert out['masks'].shape == (2, 3, 16, 16)
    assert out['bboxes'].shape == (2, 3, 4)
    pout = pdr(out['query'], out['joints'], feats, q_mask)
    assert set(pout) == {'partitions', 'ranks'}
    assert pout['partitions'].shape == (2, 3, 8, 8)
    assert pout['ranks'].shape == (2, 3, 20)


def test_no_kept_instances():
    """A batch without any kept instance (n = 0) runs through."""
    pai, pdr = _pai(), _pdr()
    feats, feats_pe = _feats(2)
    q, q_mask = torch.randn(2, 0, C), torch.zeros(2, 0, 1)
    out = pai(q, q, feats, feats_pe, q_mask)
    pout = pdr(out['query'], out['joints'], feats, q_mask)
    assert out['heatmaps'].shape == (2, 0, K, 16, 16)
    assert pout['ranks'].shape == (2, 0, 20)


def test_released_parameter_counts():
    """C=256, 8 heads, FFN 2048: the reference's PAI/PDR sizes."""
    pai = PoseAwareInteraction(num_joints=K)
    pdr = PoseDrivenRanking(num_joints=K)
    assert sum(p.numel() for p in pai.parameters()) == 9094086
    assert sum(p.numel() for p in pdr.parameters()) == 3632653


@pytest.mark.parametrize('module', ['pai', 'pdr'])
def test_every_parameter_gets_a_gradient(module):
    """No unused parameters (DDP without find_unused_parameters)."""
    pai, pdr = _pai().train(), _pdr().train()
    feats, feats_pe = _feats(2)
    q = torch.randn(2, 3, C, requires_grad=True)
    q_mask = torch.tensor([[1., 1., 1.], [1., 1., 0.]])[..., None]
    out = pai(q, torch.randn(2, 3, C), feats, feats_pe, q_mask)
    pout = pdr(out['query'], out['joints'], feats, q_mask)
    loss = sum(v.mean() for v in out.values())
    loss = loss + pout['partitions'].mean() + pout['ranks'].mean()
    loss.backward()
    target = pai if module == 'pai' else pdr
    no_grad = [n for n, p in target.named_parameters() if p.grad is None]
    assert no_grad == []


def test_pai_valid_outputs_ignore_padding():
    """Kept instances' outputs do not depend on padded slots."""
    pai = _pai()
    feats, feats_pe = _feats(1)
    q, qpe = torch.randn(1, 2, C), torch.randn(1, 2, C)
    ref = pai(q, qpe, feats, feats_pe, torch.ones(1, 2, 1))
    q_pad = torch.cat([q, 5 * torch.randn(1, 2, C)], dim=1)
    qpe_pad = torch.cat([qpe, torch.randn(1, 2, C)], dim=1)
    mask = torch.tensor([1., 1., 0., 0.])[None, :, None]
    out = pai(q_pad, qpe_pad, feats, feats_pe, mask)
    for key in ref:
        torch.testing.assert_close(
            out[key][:, :2], ref[key], rtol=1e-4, atol=1e-5)


def _pdr_inputs(n: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(1, n, C,
                        generator=g), torch.randn(1, n, K, C, generator=g))


def test_pdr_padded_batch_equals_single_images():
    pdr = _pdr()
    feats_a, pe_a = _feats(1, seed=2)
    feats_b, pe_b = _feats(1, seed=3)
    qa, pa = _pdr_inputs(3, 4)
    qb, pb = _pdr_inputs(1, 5)
    out_a = pdr(qa, pa, feats_a, torch.ones(1, 3, 1))
    out_b = pdr(qb, pb, feats_b, torch.ones(1, 1, 1))
    q = torch.cat([qa, torch.cat([qb, torch.randn(1, 2, C)], 1)])
    pose = torch.cat([pa, torch.cat([pb, torch.randn(1, 2, K, C)], 1)])
    mask = torch.tensor([[1., 1., 1.], [1., 0., 0.]])[..., None]
    feats = {k: torch.cat([feats_a[k], feats_b[k]]) for k in feats_a}
    out = pdr(q, pose, feats, mask)
    for key in ('ranks', 'partitions'):
        torch.testing.assert_close(
            out[key][:1], out_a[key], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(
            out[key][1:, :1], out_b[key], rtol=1e-4, atol=1e-5)
    # the reference's behaviour lets the padding leak into kept instances
    pdr.mask_padding = False
    leaky = pdr(q, pose, feats, mask)
    assert not torch.allclose(
        leaky['ranks'][1:, :1], out_b['ranks'], atol=1e-4)
    # ... but equals the masked version when nothing is padded
    same = pdr(qa, pa, feats_a, torch.ones(1, 3, 1))
    torch.testing.assert_close(same['ranks'], out_a['ranks'])


def test_pai_without_gating_equals_saturated_gate():
    """``use_spatial_gating=False`` (pai_id3) == a gate stuck at 1."""
    full = _pai()
    ablated = _pai(use_spatial_gating=False)
    state = {
        k: v
        for k, v in full.state_dict().items() if 'gate_proj' not in k
    }
    ablated.load_state_dict(state, strict=True)
    for block in full.blocks:
        torch.nn.init.zeros_(block.gate_proj.weight)
        torch.nn.init.constant_(block.gate_proj.bias, 1e4)
    feats, feats_pe = _feats(1)
    # a constant positive query row makes (gate_proj(q) @ f) = 1e4 * sum(f)
    feats = {k: v.abs() + 0.1 for k, v in feats.items()}
    q, qpe = torch.randn(1, 2, C).abs(), torch.randn(1, 2, C)
    a = full(q, qpe, feats, feats_pe)
    b = ablated(q, qpe, feats, feats_pe)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    'switches, absent',
    [
        (dict(use_scene_tokens=False), ['scene_norm']),  # pai_id2
        (dict(use_spatial_gating=False), ['gate_proj']),  # pai_id3
        (dict(use_sub_pose=False), ['sub_pose']),  # pai_id4
        (dict(use_sub_pose=False,
              use_scene_tokens=False), ['sub_pose', 'scene_norm']),  # pai_id6
        # pai_id8: the joint positions are read by no block
        (dict(use_joint_interaction=False, use_sub_pose=False),
         ['joint_layer', 'gate_proj', 'sub_pose', 'joint_pos_embed']),
        (dict(num_blocks=0), ['blocks.', 'joint_pos_embed']),  # pai_id9
    ])
def test_pai_variants(switches, absent):
    pai = _pai(**switches)
    names = list(pai.state_dict())
    for part in absent:
        assert not any(part in n for n in names), part
    feats, feats_pe = _feats(2)
    q_mask = torch.tensor([[1., 1.], [1., 0.]])[..., None]
    out = pai(
        torch.randn(2, 2, C), torch.randn(2, 2, C), feats, feats_pe, q_mask)
    assert out['masks'].shape == (2, 2, 16, 16)
    assert torch.isfinite(out['keypoints']).all()
    full_out = _pai()(torch.randn(2, 2, C), torch.randn(2, 2, C), feats,
                      feats_pe, q_mask)
    assert not torch.allclose(out['masks'], full_out['masks'])


@pytest.mark.parametrize('switches, absent, joints', [
    (dict(with_pose_outputs=False), ['keypoint_cls', 'heatmap_embed'], True),
    (dict(
        use_joint_interaction=False,
        use_sub_pose=False,
        with_pose_outputs=False,
        output_joints=False), ['joint_embed', 'joint_pos_embed'], False),
])
def test_pai_without_pose_outputs(switches, absent, joints):
    """Without pose outputs (and joint tokens) PAI builds nothing that
    only they would read; the other outputs are unchanged."""
    pai, full = _pai(**switches), _pai()
    names = list(pai.state_dict())
    for part in absent:
        assert not any(part in n for n in names), part
    # same weights where both have them
    full.load_state_dict(pai.state_dict(), strict=False)
    feats, feats_pe = _feats(2)
    q, qpe = torch.randn(2, 2, C), torch.randn(2, 2, C)
    out = pai(q, qpe, feats, feats_pe)
    assert 'keypoints' not in out and 'heatmaps' not in out
    assert (out['joints'] is not None) == joints
    if joints:  # only the predictors are gone
        ref = full(q, qpe, feats, feats_pe)
        for key in ('query', 'joints', 'masks', 'bboxes'):
            torch.testing.assert_close(out[key], ref[key])
    loss = sum(v.sum() for v in out.values() if v is not None)
    loss.backward()
    unreached = [n for n, p in pai.named_parameters() if p.grad is None]
    assert not unreached


@pytest.mark.parametrize(
    'switches, absent',
    [
        (dict(use_pairwise=False), ['pair_mlp']),  # pdr_dcl
        (dict(use_directions=False),
         ['joints_to_directions', 'cue_fuse', 'bg_proj']),  # pdr_ri
        (dict(use_reasoning=False),
         ['pair_mlp', 'query_proj', 'direction_mixer']),  # pdr_id8
    ])
def test_pdr_variants(switches, absent):
    pdr = _pdr(**switches)
    names = list(pdr.state_dict())
    for part in absent:
        assert not any(part in n for n in names), part
    feats, feats_pe = _feats(1)
    q, pose = _pdr_inputs(3, 6)
    out = pdr(q, pose, feats, torch.ones(1, 3, 1))
    full = _pdr()(q, pose, feats, torch.ones(1, 3, 1))
    assert out['ranks'].shape == full['ranks'].shape == (1, 3, 20)
    assert not torch.allclose(out['ranks'], full['ranks'])
    if not switches.get('use_reasoning', True):
        # pdr_id8: the head reads the PAI tokens directly
        torch.testing.assert_close(out['ranks'], pdr.head.rank_cls(q))


def test_pdr_rejects_empty_reasoning():
    with pytest.raises(ValueError, match='use_directions or use_pairwise'):
        PoseDrivenRanking(
            num_joints=K, use_directions=False, use_pairwise=False)


@pytest.mark.skipif(
    not osp.isfile(osp.join(PARITY_DIR, 'posesor_micro_d2.pth')),
    reason='parity fixtures (../shared/parity) not available')
def test_raw_module_outputs_match_reference():
    """Our PAI/PDR on the reference's neck features and decoder queries
    reproduce its raw PAI/PDR outputs."""
    state = extract_model_state(
        load_torch_file(osp.join(PARITY_DIR, 'posesor_micro_d2.pth')), 'micro')
    state = {
        k: v
        for k, v in state.items()
        if k.split('.')[0] in ('instance_seg', 'actor_interaction',
                               'pose_shift', 'pe_layer')
    }
    converted = convert_posesor(
        state,
        module_names=dict(
            instance_seg='decoder',
            actor_interaction='pai',
            pose_shift='pdr',
            pe_layer='positional_encoding'))
    fixture = torch.load(
        osp.join(PARITY_DIR, 'posesor_micro_outputs.pth'), weights_only=True)
    dims = dict(embed_dims=64, num_heads=4, feedforward_channels=128)
    modules = dict(
        decoder=SalientInstanceDecoder(num_queries=16, **dims),
        positional_encoding=LearnableGridPositionalEncoding(64),
        pai=PoseAwareInteraction(**dims, num_joints=K),
        pdr=PoseDrivenRanking(64, feedforward_channels=128, num_joints=K))
    for name, module in modules.items():
        prefix = name + '.'
        module.load_state_dict(
            {
                k[len(prefix):]: v
                for k, v in converted.items() if k.startswith(prefix)
            },
            strict=True)
        module.eval()
    feats = fixture['features']['neck']
    raw = fixture['raw_module_outputs']
    with torch.no_grad():
        feats_pe = {
            k: modules['positional_encoding'](v)
            for k, v in feats.items()
        }
        inst = modules['decoder'](feats, feats_pe)
        q, qpe = inst['query'], inst['query_pos']
        probs = inst['scores'].sigmoid()[0, :, 0]
        keep = probs >= min(probs.max().item() - 1e-6, 0.1)
        assert int(keep.sum()) == fixture['n_hits']
        q, qpe = q[:, keep], qpe[:, keep]
        out = modules['pai'](q, qpe, feats, feats_pe)
        pout = modules['pdr'](out['query'], out['joints'], feats)
    for key, ref in raw['actor_interaction'].items():
        torch.testing.assert_close(
            out[key], ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    for key, ref in raw['pose_shift'].items():
        torch.testing.assert_close(
            pout[key], ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


@pytest.mark.parametrize('gated', [True, False])
def test_gated_cross_attention_equals_materialised_keys(gated):
    """The factored gated attention equals nn.MultiheadAttention on the
    explicitly gated (n, S, C) keys and values of every instance."""
    torch.manual_seed(0)
    attn = torch.nn.MultiheadAttention(C, HEADS, batch_first=True).eval()
    torch.nn.init.normal_(attn.in_proj_bias)
    B, N, T, S = 2, 3, 5, 7
    query, key, key_pos = (torch.randn(B, N, T, C), torch.randn(B, S, C),
                           torch.randn(B, S, C))
    gate = torch.rand(B, N, S) if gated else None
    with torch.no_grad():
        out = gated_cross_attention(attn, query, key, key_pos, gate)
        g = gate if gated else torch.ones(B, N, S)
        keys = key.unsqueeze(1) * g.unsqueeze(-1)  # B, N, S, C
        expected = attn(
            query.flatten(0, 1), (keys + key_pos.unsqueeze(1)).flatten(0, 1),
            keys.flatten(0, 1))[0].unflatten(0, (B, N))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
