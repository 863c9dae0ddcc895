# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Instance decoder, neck, positional encodings, batch resize and the
inference helpers of PoseSOR."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.structures import DetDataSample

import posesor  # noqa: F401
from posesor.models import (SORFPN, LearnableGridPositionalEncoding,
                            RandomFourierPositionalEncoding,
                            SalientInstanceDecoder, SineGridPositionalEncoding,
                            SORBatchMultiScaleResize)
from posesor.models.post_processors import (SORPostProcessor, merge_duplicates,
                                            rank_scores_from_logits,
                                            select_queries)

C = 32


def make_feats(batch=2, size=32, channels=C, seed=0):
    """Random neck-like maps at strides 4..32 of a ``size`` input."""
    gen = torch.Generator().manual_seed(seed)
    return {
        f'res{i + 2}':
        torch.randn(
            batch,
            channels,
            size // 2**(i + 2),
            size // 2**(i + 2),
            generator=gen)
        for i in range(4)
    }


def test_decoder_shapes():
    decoder = SalientInstanceDecoder(
        num_queries=5,
        embed_dims=C,
        num_heads=4,
        feedforward_channels=64,
        num_blocks=4)
    decoder.init_weights()
    feats = make_feats(size=64)
    pe = {k: torch.randn_like(v) for k, v in feats.items()}
    out = decoder(feats, pe)
    assert set(out) == {'query', 'query_pos', 'masks', 'scores'}
    assert out['query'].shape == (2, 5, C)
    assert out['query_pos'].shape == (2, 5, C)
    assert out['masks'].shape == (2, 5, 16, 16)
    assert out['scores'].shape == (2, 5, 1)
    # the head reads the final queries: masks are the mask embeddings of
    # the normalised queries dotted with each image's stride-4 map
    emb = decoder.head.mask_embed(decoder.head.decoder_norm(out['query']))
    expected = torch.einsum('bqc,bchw->bqhw', emb, feats['res2'])
    assert torch.allclose(out['masks'], expected, atol=1e-5)


def test_decoder_cycles_levels_and_is_unmasked():
    """Block i reads key_features[i % 3]; changing a level changes the
    output of a block reading it."""
    decoder = SalientInstanceDecoder(
        num_queries=4,
        embed_dims=C,
        num_heads=4,
        feedforward_channels=64,
        num_blocks=1,
        key_features=('res4', ))
    feats = make_feats(size=64)
    pe = {k: torch.zeros_like(v) for k, v in feats.items()}
    out1 = decoder(feats, pe)['scores']
    feats['res5'] = feats['res5'] + 10  # not read by the only block
    assert torch.equal(decoder(feats, pe)['scores'], out1)
    feats['res4'] = feats['res4'] + 10
    assert not torch.allclose(decoder(feats, pe)['scores'], out1)


def test_decoder_init_follows_reference():
    decoder = SalientInstanceDecoder(
        num_queries=3,
        embed_dims=C,
        num_heads=4,
        feedforward_channels=64,
        num_blocks=1)
    decoder.init_weights()
    assert torch.count_nonzero(decoder.query_feat) == 0
    attn = decoder.layers[0].cross_attn.attn
    bound = math.sqrt(6 / (2 * C))  # Xavier bound of each C x C projection
    for w in attn.in_proj_weight.chunk(3):
        assert w.abs().max() <= bound
        assert w.abs().max() > 0.8 * bound
    assert torch.count_nonzero(attn.in_proj_bias) == 0


def test_neck_matches_a_straightforward_fpn():
    neck = SORFPN(in_channels=[8, 16, 32, 64], out_channels=C)
    neck.init_weights()
    gen = torch.Generator().manual_seed(0)
    inputs = [
        torch.randn(2, c, 32 // 2**i, 32 // 2**i, generator=gen)
        for i, c in enumerate([8, 16, 32, 64])
    ]
    outs = neck(inputs)
    assert [tuple(o.shape) for o in outs] == [(2, C, 32 // 2**i, 32 // 2**i)
                                              for i in range(4)]

    def block(module, x):  # conv -> GELU -> channel LayerNorm
        x = F.gelu(module.conv(x))
        return F.layer_norm(
            x.permute(0, 2, 3, 1), (C, ), module.ln.weight,
            module.ln.bias).permute(0, 3, 1, 2)

    lat = [block(m, x) for m, x in zip(neck.lateral_convs, inputs)]
    expected = [None, None, None, lat[3]]
    for i, level in enumerate([2, 1, 0]):
        up = F.interpolate(
            expected[level + 1], size=lat[level].shape[-2:], mode='bilinear')
        expected[level] = block(neck.fuse_convs[i],
                                neck.up_convs[i](up) + lat[level])
    for out, exp in zip(outs, expected):
        assert torch.allclose(out, exp, atol=1e-5)


def test_learnable_positional_encoding():
    pe = LearnableGridPositionalEncoding(embed_dims=C, grid_size=(25, 25))
    feat = torch.zeros(3, C, 25, 25)
    out = pe(feat)
    assert out.shape == (3, C, 25, 25)
    assert torch.allclose(out[0], pe.pos_embed)  # same size: identity
    assert pe(torch.zeros(1, C, 7, 9)).shape == (1, C, 7, 9)
    assert pe.pos_embed.abs().max() <= 2.0  # truncated normal in [-2, 2]


def test_sine_positional_encoding_formula():
    pe = SineGridPositionalEncoding(embed_dims=8)
    out = pe(torch.zeros(1, 8, 3, 4))
    assert out.shape == (1, 8, 3, 4)
    # DETR's normalised sine encoding, written out for one position
    y, x = 1, 2
    y_n, x_n = (y + 1) / 3 * 2 * math.pi, (x + 1) / 4 * 2 * math.pi
    dims = [10000**(2 * (i // 2) / 4) for i in range(4)]
    pos_y = [
        math.sin(y_n / dims[i]) if i % 2 == 0 else math.cos(y_n / dims[i])
        for i in range(4)
    ]
    pos_x = [
        math.sin(x_n / dims[i]) if i % 2 == 0 else math.cos(x_n / dims[i])
        for i in range(4)
    ]
    assert torch.allclose(
        out[0, :, y, x], torch.tensor(pos_y + pos_x), atol=1e-5)


def test_random_fourier_positional_encoding():
    pe = RandomFourierPositionalEncoding(embed_dims=8)
    out = pe(torch.zeros(2, 8, 4, 5))
    assert out.shape == (2, 8, 4, 5)
    # coordinates of pixel centres, mapped to [-1, 1]
    y, x = 3, 1
    coords = torch.tensor([(x + 0.5) / 5 * 2 - 1, (y + 0.5) / 4 * 2 - 1])
    proj = 2 * math.pi * coords @ pe.gaussian_matrix
    expected = torch.cat([proj.sin(), proj.cos()])
    assert torch.allclose(out[1, :, y, x], expected, atol=1e-5)
    assert 'gaussian_matrix' in pe.state_dict()
    with pytest.raises(ValueError, match='even'):
        RandomFourierPositionalEncoding(embed_dims=7)


def test_batch_multiscale_resize():
    resize = SORBatchMultiScaleResize(sizes=[(48, 48), (64, 80)])
    samples = [
        DetDataSample(metainfo=dict(batch_input_shape=(32, 32)))
        for _ in range(2)
    ]
    inputs = torch.arange(
        2 * 3 * 32 * 32, dtype=torch.float).view(2, 3, 32, 32)
    seen = set()
    np.random.seed(0)
    for _ in range(20):
        out, outs = resize(inputs, samples)
        size = tuple(out.shape[-2:])
        seen.add(size)
        assert size in {(48, 48), (64, 80)}
        assert all(s.batch_resize_shape == size for s in outs)
        # ground truth frame unchanged
        assert all(s.batch_input_shape == (32, 32) for s in outs)
        assert torch.allclose(
            out,
            F.interpolate(
                inputs, size=size, mode='bilinear', align_corners=False))
    assert seen == {(48, 48), (64, 80)}
    with pytest.raises(ValueError, match='sizes'):
        SORBatchMultiScaleResize(sizes=[])
    with pytest.raises(ValueError, match='sizes'):
        SORBatchMultiScaleResize(sizes=[(32, 0)])


def test_select_queries():
    probs = torch.tensor([[0.05, 0.5, 0.2, 0.09], [0.01, 0.03, 0.02, 0.04]])
    slots = select_queries(torch.logit(probs)[..., None], 0.1)
    # image 0 keeps >= 0.1; image 1 only its top-1
    assert slots.batch_inds.tolist() == [0, 0, 1]
    assert slots.query_inds.tolist() == [1, 2, 3]
    assert slots.slot_inds.tolist() == [0, 1, 0]
    assert slots.num_slots == 2
    assert slots.slot_mask(2)[..., 0].tolist() == [[1, 1], [1, 0]]
    # the post-processor reads the threshold from its test_cfg
    strict = SORPostProcessor(dict(obj_threshold=0.3))
    assert strict.select_queries(torch.logit(probs)[..., None]).num_slots == 1
    with pytest.raises(KeyError, match='obj_thresh'):
        SORPostProcessor(dict(obj_thresh=0.3))


def test_rank_scores():
    logits = torch.tensor([[10.0, -10, -10], [-10, -10, 10.0], [0.0, 0.0,
                                                                0.0]])
    scores = rank_scores_from_logits(logits)
    assert scores[0] < 1e-4  # level 0 = not salient
    assert torch.isclose(scores[1], torch.tensor(0.5), atol=1e-4)
    assert torch.isclose(scores[2], torch.tensor((1 + 0.5) / 3), atol=1e-4)


def reference_style_merge(masks, scores, threshold):
    """Straightforward pairwise merging loop on numpy arrays."""
    masks = [m.astype(np.float32) for m in masks]
    scores = list(scores)
    ids = list(range(len(masks)))
    while True:
        n = len(masks)
        alive = [True] * n
        for i in range(n):
            if not alive[i]:
                continue
            for j in range(i + 1, n):
                if not alive[j]:
                    continue
                inter = (masks[i] * masks[j]).sum()
                ratio = inter / min(masks[i].sum() + 1e-6,
                                    masks[j].sum() + 1e-6)
                if ratio > threshold and scores[i] + scores[j] < 1 + ratio:
                    masks[i] = np.maximum(masks[i], masks[j])
                    scores[i] = max(scores[i], scores[j])
                    alive[j] = False
        if all(alive):
            return ids, masks, scores
        ids = [k for k, a in zip(ids, alive) if a]
        masks = [m for m, a in zip(masks, alive) if a]
        scores = [s for s, a in zip(scores, alive) if a]


@pytest.mark.parametrize('seed', range(6))
def test_merge_duplicates_matches_pairwise_loop(seed):
    rng = np.random.default_rng(seed)
    base = rng.random((4, 12, 12)) > 0.5
    masks = []
    for _ in range(9):  # near-duplicates of a few base masks
        m = base[rng.integers(4)].copy()
        if rng.random() < 0.5:
            m &= rng.random((12, 12)) > 0.1
        masks.append(m)
    masks = np.stack(masks)
    scores = rng.random(9) * 0.7
    keep, merged, merged_scores = merge_duplicates(
        torch.from_numpy(masks),
        torch.from_numpy(scores).float(), 0.8)
    ids, ref_masks, ref_scores = reference_style_merge(masks, scores, 0.8)
    assert keep.tolist() == ids
    assert np.array_equal(merged.numpy(), np.stack(ref_masks) > 0.5)
    assert np.allclose(merged_scores.numpy(), ref_scores, atol=1e-6)


def test_merge_duplicates_keeps_distinct_and_confident():
    masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    masks[0, :2] = True
    masks[1, :2] = True  # duplicate of 0 ...
    masks[2, 2:] = True  # ... distinct
    keep, merged, scores = merge_duplicates(masks,
                                            torch.tensor([0.3, 0.4,
                                                          0.9]), 0.95)
    assert keep.tolist() == [0, 2]
    assert scores.tolist() == pytest.approx([0.4, 0.9])
    # an overlap ratio of 0.96 merges unless the two scores sum >= 1.96
    near = torch.zeros(2, 10, 10, dtype=torch.bool)
    near[0, :5] = True  # 50 pixels
    near[1, :5] = True
    near[1, 4, :2] = False
    near[1, 9, :2] = True  # 48 shared + 2 others
    keep, _, _ = merge_duplicates(near, torch.tensor([0.99, 0.98]), 0.95)
    assert keep.tolist() == [0, 1]
    keep, _, _ = merge_duplicates(near, torch.tensor([0.99, 0.96]), 0.95)
    assert keep.tolist() == [0]


def test_heatmap_keypoints_are_chunk_independent():
    """Keypoints from the upsampled heatmaps do not depend on the chunk
    size, and equal a per-instance argmax of the upsampled maps."""
    gen = torch.Generator().manual_seed(0)
    heatmaps = torch.randn(3, 5, 6, 7, generator=gen)
    meta = dict(img_shape=(20, 24), batch_input_shape=(24, 28))
    out = (30, 36)
    results = []
    for chunk in (1, 4 * 30 * 36, 2**25):
        post = SORPostProcessor(
            dict(heatmap_chunk_elements=chunk, with_heatmaps=True))
        results.append(post._heatmap_keypoints(heatmaps, meta, out))
    for keypoints, heat in results[1:]:
        assert torch.equal(keypoints, results[0][0])
        assert torch.allclose(heat, results[0][1])
    keypoints, heat = results[0]
    for n in range(3):
        up = F.interpolate(
            heatmaps[n:n + 1], size=(24, 28), mode='bilinear')[..., :20, :24]
        up = F.interpolate(up, size=out, mode='bilinear')[0].flatten(1)
        idx = up.argmax(dim=1)
        assert torch.equal(keypoints[n, :, 0], (idx % 36).float())
        assert torch.equal(keypoints[n, :, 1], (idx // 36).float())
    assert torch.allclose(heat.sum(dim=(2, 3)), torch.ones(3, 5))


def test_masks_and_intersections_are_chunk_independent():
    """Issue 24 (memory of large images): masks are resized and
    thresholded in chunks, and the duplicate merging's intersections are
    summed over pixel chunks; both equal the one-shot computation."""
    from posesor.models.post_processors.sor_post_processor import (
        intersections_with, mask_intersections)
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(4, 6, 7, generator=gen)
    meta = dict(img_shape=(20, 24), batch_input_shape=(24, 28))
    out = (30, 36)
    up = F.interpolate(
        logits[:, None], size=(24, 28), mode='bilinear')[..., :20, :24]
    expected = F.interpolate(
        up, size=out, mode='bilinear')[:, 0].sigmoid() > 0.5
    for chunk in (1, 2 * 30 * 36, 2**25):
        post = SORPostProcessor(dict(mask_chunk_elements=chunk))
        assert torch.equal(post._binary_masks(logits, meta, out), expected)
    flat = expected.flatten(1)
    dense = (flat.double() @ flat.double().T)
    for chunk in (7, 100, 2**22):
        inter = mask_intersections(flat, chunk=chunk)
        assert inter.dtype == torch.float64 and torch.equal(inter, dense)
    assert torch.equal(
        mask_intersections(flat, flat[2:3], chunk=13), dense[:, 2:3])
    assert torch.equal(intersections_with(flat, flat[2]), dense[:, 2])
