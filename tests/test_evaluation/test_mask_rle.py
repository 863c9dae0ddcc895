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


def _covered(starts, ends, num_pixels):
    flat = np.zeros(num_pixels, dtype=bool)
    for s, e in zip(starts, ends):
        flat[s:e] = True
    return flat


def test_runs_of_many_images_are_the_masks_runs():
    """gt_runs_many (one pass over a file) gives, per image, the runs of
    each mask and of their union in column-major order, as a dense
    decoding does, and the same as gt_runs on that image alone; including
    empty masks, full masks and images without masks."""
    rng = np.random.default_rng(5)
    rles, images = [], []
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        masks = rng.random(
            (int(rng.integers(0, 5)), h, w)) < rng.choice([0.0, 0.1, 0.6, 1.0])
        indices = list(range(len(rles), len(rles) + len(masks)))
        rng.shuffle(indices)  # masks of an image need not be adjacent
        rles.extend(mask_rle.encode(masks))
        images.append((indices, h, w))
    starts, ends, offsets = mask_rle.foreground_runs_all(
        *_run_lengths([rle['counts'] for rle in rles]))
    many = mask_rle.gt_runs_many(starts, ends, offsets,
                                 [idx for idx, _, _ in images],
                                 [h * w for _, h, w in images])
    for (indices, h, w), got in zip(images, many):
        if not indices:
            assert got is None
            continue
        dense = mask_rle.decode([rles[i] for i in indices], h, w)
        columns = dense.transpose(0, 2, 1).reshape(len(indices), -1)
        for k in range(len(indices)):
            run = slice(got.offsets[k], got.offsets[k + 1])
            assert np.array_equal(
                _covered(got.starts[run], got.ends[run], h * w), columns[k])
        assert np.array_equal(got.areas, columns.sum(axis=1))
        assert np.array_equal(
            _covered(got.union_starts, got.union_ends, h * w),
            columns.any(axis=0))
        assert got.union_area == columns.any(axis=0).sum()
        assert np.all(got.union_starts[1:] > got.union_ends[:-1])  # merged
        positions = np.concatenate(
            [got.starts, got.ends, got.union_starts, got.union_ends])
        assert np.array_equal(got.word_index, positions // 64)
        assert np.array_equal(
            got.low_bits, (np.uint64(1) <<
                           (positions % 64).astype(np.uint64)) - np.uint64(1))
        alone = mask_rle.gt_runs([rles[i] for i in indices], h, w)
        for field in alone._fields:
            assert np.array_equal(
                np.asarray(getattr(got, field)),
                np.asarray(getattr(alone, field))), field


def _run_lengths(strings):
    from posesor.datasets.sor_parsing import decode_rle_strings
    runs, owner = decode_rle_strings(strings)
    offsets = np.zeros(len(strings) + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=len(strings)), out=offsets[1:])
    return runs, offsets


def test_foreground_runs_all_equals_foreground_runs():
    rng = np.random.default_rng(6)
    masks = rng.random((6, 13, 17)) < 0.3
    masks[0], masks[1] = False, True
    rles = mask_rle.encode(masks)
    starts, ends, offsets = mask_rle.foreground_runs_all(
        *_run_lengths([rle['counts'] for rle in rles]))
    for i, rle in enumerate(rles):
        want_s, want_e = mask_rle.foreground_runs(rle, 13 * 17)
        assert np.array_equal(starts[offsets[i]:offsets[i + 1]], want_s)
        assert np.array_equal(ends[offsets[i]:offsets[i + 1]], want_e)


@pytest.mark.parametrize('width', [16, 12, 6, 7])  # uint64/32/16/8 words
def test_bounding_box_equals_opencv(width):
    import cv2
    rng = np.random.default_rng(width)
    for _ in range(200):
        mask = (rng.random((9, width)) < rng.choice([0.0, 0.02, 0.3, 1.0]))
        mask = mask.astype(np.uint8)
        x, y, w, h = cv2.boundingRect(mask)
        want = (x, y, x + w, y + h) if w else (0, 0, 0, 0)
        got = mask_rle.bounding_box(mask_rle._words(mask[None])[0])
        assert got == want


def test_packed_masks_with_room_for_their_union():
    rng = np.random.default_rng(7)
    masks = rng.random((3, 10, 13)) < 0.4
    rows = mask_rle.pack_columns(masks, extra_rows=1)
    assert rows.shape[0] == 4 and not rows[3].any()
    assert np.array_equal(rows[:3], mask_rle.pack_columns(masks))
    bits = np.unpackbits(rows[:3].view(np.uint8), axis=1, bitorder='little')
    for k in range(3):
        assert np.array_equal(bits[k, :130], masks[k].ravel(order='F'))
