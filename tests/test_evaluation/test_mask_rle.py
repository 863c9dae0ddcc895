# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Overlap counts from GT runs equal the dense bit-packed counts."""
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from posesor.evaluation import functional as F
from posesor.evaluation import mask_rle


def rle_counts(preds, gts):
    runs = mask_rle.gt_runs(mask_rle.encode(gts), *gts.shape[1:])
    return mask_rle.overlaps_with_runs(preds, runs)


def assert_same_counts(got, want):
    assert np.array_equal(got.inter, want.inter)
    assert np.array_equal(got.union, want.union)
    assert got.num_diff == want.num_diff
    assert tuple(got.image_size) == tuple(want.image_size)


def test_encode_equals_pycocotools_and_round_trips():
    rng = np.random.default_rng(0)
    masks = rng.random((4, 7, 11)) < 0.4
    masks[1] = False
    masks[2] = True
    rles = mask_rle.encode(masks)
    for mask, rle in zip(masks, rles):
        want = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert rle['counts'] == want['counts']
        assert list(rle['size']) == [7, 11]
    decoded = mask_rle.decode(rles, 7, 11)
    assert decoded.dtype == bool and np.array_equal(decoded, masks)
    runs = mask_rle.gt_runs(rles, 7, 11)
    assert np.array_equal(runs.areas, masks.sum(axis=(1, 2)))
    assert runs.union_area == masks.any(axis=0).sum()
    assert mask_rle.decode([], 7, 11).shape == (0, 7, 11)
    assert mask_rle.encode(masks.astype(np.uint8)) == rles
    assert mask_rle.encode(np.zeros((0, 7, 11), bool)) == []


def test_runs_are_read_from_the_counts_string():
    rng = np.random.default_rng(1)
    for _ in range(100):
        h, w = (int(v) for v in rng.integers(1, 60, 2))
        mask = rng.random((h, w)) < rng.random()
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert mask_rle.rle_counts(rle).sum() == h * w
        starts, ends = mask_rle.foreground_runs(rle, h * w)
        # the runs are the foreground pixels in column-major order
        flat = np.zeros(h * w, dtype=bool)
        for s, e in zip(starts, ends):
            flat[s:e] = True
        assert np.array_equal(flat, mask.ravel(order='F'))
    # 3 background + 20 foreground pixels in a 4 x 4 image
    long = mask_utils.frPyObjects(dict(size=[4, 4], counts=[3, 20]), 4, 4)
    with pytest.raises(ValueError):
        mask_utils.decode(long)
    with pytest.raises(ValueError, match='cover 23 pixels of an image'):
        mask_rle.foreground_runs(long, 16)
    with pytest.raises(ValueError, match='truncated'):
        mask_rle.rle_counts(dict(size=[4, 4], counts='P'))


@pytest.mark.parametrize('seed', range(4))
def test_rle_counts_equal_dense_counts(seed):
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(1, 50)), int(rng.integers(1, 50))
    m, n = int(rng.integers(1, 6)), int(rng.integers(0, 7))
    gts = rng.random((m, h, w)) < rng.uniform(0, 1)
    preds = rng.random((n, h, w)) < rng.uniform(0, 1)
    if n > 1:
        preds[0] = False  # an empty prediction
        preds[-1] = gts[0]  # an exact copy
    assert_same_counts(rle_counts(preds, gts), F.overlap_counts(preds, gts))


def test_rle_counts_on_a_large_image():
    # ellipses of real size: counts above 2**16 per mask
    h, w = 480, 640
    yy, xx = np.ogrid[:h, :w]
    gts = np.stack([((yy - 200) / 150)**2 + ((xx - 300) / 250)**2 <= 1,
                    ((yy - 300) / 100)**2 + ((xx - 400) / 120)**2 <= 1])
    preds = np.stack([np.roll(gts[1], 5, axis=1), gts[0], ~gts[0]])
    got = rle_counts(preds, gts)
    assert_same_counts(got, F.overlap_counts(preds, gts))
    assert got.union.max() == h * w  # gts[0] | ~gts[0]


def test_evaluate_image_from_counts_needs_masks_only_for_rank_maps():
    rng = np.random.default_rng(3)
    gts = rng.random((3, 12, 9)) < 0.5
    preds = np.concatenate([gts[::-1], rng.random((2, 12, 9)) < 0.3])
    pairs = F.normalize_conventions(['sa_sor', 'sor', 'mae'],
                                    ['posesor', 'irsr'])
    counts = rle_counts(preds, gts)
    dense = F.evaluate_image(preds, gts, pairs)
    assert F.evaluate_image(None, None, pairs, overlaps=counts) == dense
    with pytest.raises(ValueError, match='needs pred_masks'):
        F.evaluate_image(None, None, [('sor', 'assr')], overlaps=counts)
