# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Tests of PoseSOR's point sampling, match costs and Hungarian matching."""
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

import posesor  # noqa: F401
from posesor.models.task_modules import (build_sor_targets, pixel_centres,
                                         sample_grid_pixels,
                                         sample_logits_at_pixels)


class _MatchingHead:
    """The salient-instance head's matching, called as a function of the
    decoder outputs (tiny network; only ``num_points`` matters)."""

    def __init__(self, num_points: int):
        self.head = MODELS.build(
            dict(
                type='SalientInstanceHead',
                positional_encoding=dict(
                    type='LearnableGridPositionalEncoding', embed_dims=8),
                decoder=dict(
                    type='SalientInstanceDecoder',
                    num_queries=2,
                    embed_dims=8,
                    num_heads=2,
                    feedforward_channels=8,
                    num_blocks=1),
                num_points=num_points))

    @staticmethod
    def prepare_targets(samples, size):
        return build_sor_targets(samples, size)

    def match(self, out, targets):
        slots = self.head.match(out, targets)
        return slots.batch_inds, slots.query_inds, slots.slot_inds


def _sample(masks: np.ndarray, ranks, img_id: int = 0) -> DetDataSample:
    """A data sample with the given binary masks (n, H, W)."""
    num, height, width = masks.shape
    sample = DetDataSample(
        metainfo=dict(img_shape=(height, width), img_id=img_id))
    gt = InstanceData()
    gt.masks = BitmapMasks(masks.astype(np.uint8), height, width)
    gt.bboxes = torch.zeros(num, 4)
    gt.labels = torch.zeros(num, dtype=torch.long)
    gt.ranks = torch.as_tensor(ranks, dtype=torch.long)
    gt.keypoints = torch.zeros(num, 17, 2)
    gt.keypoints_visible = torch.zeros(num, 17)
    sample.gt_instances = gt
    return sample


def _random_masks(gen: torch.Generator, num: int, height: int,
                  width: int) -> np.ndarray:
    """Random rectangles as binary masks (num, H, W)."""
    masks = np.zeros((num, height, width), np.uint8)
    for i in range(num):
        y0 = int(torch.randint(0, height - 2, (1, ), generator=gen))
        x0 = int(torch.randint(0, width - 2, (1, ), generator=gen))
        y1 = y0 + 2 + int(
            torch.randint(0, height - y0 - 1, (1, ), generator=gen))
        x1 = x0 + 2 + int(
            torch.randint(0, width - x0 - 1, (1, ), generator=gen))
        masks[i, y0:y1, x0:x1] = 1
    return masks


def _reference_cost(logits: torch.Tensor, score_logits: torch.Tensor,
                    gt: torch.Tensor) -> torch.Tensor:
    """Straightforward cost on every pixel of the ground-truth grid.

    mean BCE(upsampled logits, gt) + 1 - (2 sum(p t) + 1) / (sum(p) + sum(t)
    + 1) - sigmoid(score), for every (query, target) pair.
    """
    up = F.interpolate(
        logits[None], size=gt.shape[-2:], mode='bilinear',
        align_corners=False)[0]
    nq, num = up.shape[0], gt.shape[0]
    cost = torch.zeros(nq, num, dtype=torch.float64)
    for q in range(nq):
        x = up[q].double().flatten()
        p = torch.sigmoid(x)
        for t in range(num):
            y = gt[t].double().flatten()
            bce = -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()
            dice = 1 - (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
            cost[q, t] = bce + dice - torch.sigmoid(score_logits[q].double())
    return cost


def _brute_force(cost: torch.Tensor):
    """Minimum-cost injective assignment of targets to queries."""
    nq, num = cost.shape
    best, best_perm = None, None
    for perm in itertools.permutations(range(nq), num):
        total = sum(float(cost[q, t]) for t, q in enumerate(perm))
        if best is None or total < best - 1e-9:
            best, best_perm = total, perm
    return best, best_perm


@pytest.mark.parametrize('src,dst', [((5, 7), (12, 9)), ((8, 8), (5, 6)),
                                     ((3, 4), (3, 4))])
def test_point_sample_equals_upsample_then_index(src, dst):
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, *src, generator=gen)
    ys, xs = sample_grid_pixels(dst[0], dst[1], dst[0] * dst[1], 'cpu')
    got = sample_logits_at_pixels(logits, ys, xs, dst)
    expected = F.interpolate(
        logits[None], size=dst, mode='bilinear', align_corners=False)[0][:, ys,
                                                                         xs]
    assert got.shape == (3, dst[0] * dst[1])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_sample_grid_pixels():
    ys, xs = sample_grid_pixels(3, 4, 12, 'cpu')
    assert ys.tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    assert xs.tolist() == [0, 1, 2, 3] * 3
    torch.manual_seed(0)
    ys, xs = sample_grid_pixels(10, 20, 50, 'cpu')
    assert ys.shape == xs.shape == (50, )
    assert 0 <= int(ys.min()) and int(ys.max()) < 10
    assert 0 <= int(xs.min()) and int(xs.max()) < 20
    # drawn with replacement: more draws than pixels is allowed
    ys, xs = sample_grid_pixels(3, 3, 8, 'cpu')
    assert ys.shape == (8, )
    centres = pixel_centres(torch.tensor([0, 1]), torch.tensor([0, 3]), 2, 4)
    torch.testing.assert_close(centres,
                               torch.tensor([[0.125, 0.25], [0.875, 0.75]]))


def test_objectness_cost():
    cost_fn = TASK_UTILS.build(dict(type='ObjectnessCost', weight=2.0))
    scores = torch.tensor([[0.0], [2.0], [-1.0]])
    pred = InstanceData(scores=scores)
    gt = InstanceData(labels=torch.zeros(2, dtype=torch.long))
    cost = cost_fn(pred, gt)
    expected = -2.0 * torch.sigmoid(scores).expand(3, 2)
    torch.testing.assert_close(cost, expected)


@pytest.mark.parametrize('seed', [0, 1, 2, 3])
def test_match_equals_brute_force(seed):
    gen = torch.Generator().manual_seed(seed)
    criterion = _MatchingHead(num_points=4096)
    nums = [3, 1, 2]
    height, width = 12, 10  # every pixel is used: a deterministic cost
    samples = [
        _sample(
            _random_masks(gen, n, height, width),
            list(range(1, n + 1)),
            img_id=i) for i, n in enumerate(nums)
    ]
    # the training size differs from the ground-truth grid: matching must
    # use the un-resized masks, as the reference does
    targets = criterion.prepare_targets(samples, size=(9, 7))
    nq = 5
    out = dict(
        masks=torch.randn(len(nums), nq, 4, 3, generator=gen) * 3,
        scores=torch.randn(len(nums), nq, 1, generator=gen))
    bi, qi, ti = criterion.match(out, targets)
    assert bi.dtype == qi.dtype == ti.dtype == torch.long
    assert bi.tolist() == sorted(bi.tolist())
    for b, num in enumerate(nums):
        sel = bi == b
        assert int(sel.sum()) == num
        assert qi[sel].tolist() == sorted(qi[sel].tolist())
        assert sorted(ti[sel].tolist()) == list(range(num))
        gt = torch.from_numpy(samples[b].gt_instances.masks.masks).float()
        cost = _reference_cost(out['masks'][b], out['scores'][b, :, 0], gt)
        best, perm = _brute_force(cost)
        got = {int(t): int(q) for q, t in zip(qi[sel], ti[sel])}
        got_total = sum(float(cost[got[t], t]) for t in range(num))
        assert got_total == pytest.approx(best, abs=1e-6)
        # the optimum is unique for random inputs
        assert [got[t] for t in range(num)] == list(perm)


def test_match_sampled_points_and_empty_image():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(5)
    criterion = _MatchingHead(num_points=30)
    samples = [
        _sample(_random_masks(gen, 2, 16, 16), [1, 2], img_id=0),
        _sample(np.zeros((0, 16, 16), np.uint8), [], img_id=1),
        _sample(_random_masks(gen, 3, 16, 16), [2, 1, 3], img_id=2),
    ]
    targets = criterion.prepare_targets(samples, size=16)
    out = dict(
        masks=torch.randn(3, 4, 4, 4, generator=gen),
        scores=torch.randn(3, 4, 1, generator=gen))
    bi, qi, ti = criterion.match(out, targets)
    assert bi.tolist() == [0, 0, 2, 2, 2]
    for b in (0, 2):
        sel = bi == b
        assert len(set(qi[sel].tolist())) == int(sel.sum())
        assert sorted(ti[sel].tolist()) == list(range(int(sel.sum())))


def test_match_prefers_confident_identical_masks():
    """Two queries with the same mask: objectness breaks the tie."""
    criterion = _MatchingHead(num_points=4096)
    masks = np.zeros((1, 8, 8), np.uint8)
    masks[0, 2:6, 2:6] = 1
    targets = criterion.prepare_targets([_sample(masks, [1])], size=8)
    logit = torch.full((8, 8), -6.0)
    logit[2:6, 2:6] = 6.0
    out = dict(
        masks=torch.stack([logit, -logit, logit])[None],
        scores=torch.tensor([[[-2.0], [5.0], [1.0]]]))
    bi, qi, ti = criterion.match(out, targets)
    assert (bi.tolist(), qi.tolist(), ti.tolist()) == ([0], [2], [0])
