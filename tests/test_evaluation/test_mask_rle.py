# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Overlap counts on row-major RLEs equal the dense bit-packed counts."""
import numpy as np
import pytest

from posesor.evaluation import functional as F
from posesor.evaluation import mask_rle


def rle_counts(preds, gts):
    gt_rles = mask_rle.encode_row_major(gts)
    return mask_rle.rle_overlaps(
        mask_rle.encode_row_major(preds), gt_rles, mask_rle.areas(gt_rles),
        mask_rle.union_rle(gt_rles), *gts.shape[1:])


def assert_same_counts(got, want):
    assert np.array_equal(got.inter, want.inter)
    assert np.array_equal(got.union, want.union)
    assert got.num_diff == want.num_diff
    assert tuple(got.image_size) == tuple(want.image_size)


def test_row_major_round_trip_without_copies():
    rng = np.random.default_rng(0)
    masks = rng.random((3, 7, 11)) < 0.4
    rles = mask_rle.encode_row_major(masks)
    # the RLE describes the transposed mask: size is (W, H)
    assert [list(r['size']) for r in rles] == [[11, 7]] * 3
    assert np.array_equal(mask_rle.decode_row_major(rles, 7, 11), masks)
    assert np.array_equal(mask_rle.areas(rles), masks.sum(axis=(1, 2)))
    assert mask_rle.decode_row_major([], 7, 11).shape == (0, 7, 11)
    # uint8 {0, 1} input encodes the same
    assert mask_rle.encode_row_major(masks.astype(np.uint8)) == rles


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
        F.evaluate_image(
            None, None, [('sor', 'assr')], overlaps=counts)
