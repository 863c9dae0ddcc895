# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
import cv2
import numpy as np
import pytest
import torch
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine.registry import init_default_scope

import posesor  # noqa: F401
from posesor.datasets import SORDataset
from posesor.datasets.sor_parsing import decode_segmentation
from posesor.datasets.transforms import (COCO_FLIP_PAIRS, LoadSORAnnotations,
                                         PackSORInputs, SORRandomFlip,
                                         SORResize)

H, W = 40, 80


def _results(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    kpts = np.stack([rng.uniform(0, W, (2, 17)),
                     rng.uniform(0, H, (2, 17))], -1).astype(np.float32)
    vis = (rng.random((2, 17)) > 0.3).astype(np.float32)
    masks = np.zeros((2, H, W), dtype=np.uint8)
    masks[0, 5:20, 10:30] = 1
    masks[1, 25:35, 50:75] = 1
    return dict(
        img=rng.integers(0, 255, (H, W, 3), dtype=np.uint8),
        img_shape=(H, W),
        ori_shape=(H, W),
        gt_bboxes=HorizontalBoxes(
            np.array([[10, 5, 30, 20], [50, 25, 75, 35]], np.float32)),
        gt_bboxes_labels=np.zeros(2, np.int64),
        gt_ignore_flags=np.zeros(2, bool),
        gt_masks=BitmapMasks(masks, H, W),
        gt_ranks=np.array([1, 2]),
        gt_class_ids=np.array([1, 1]),
        gt_keypoints=kpts,
        gt_keypoints_visible=vis)


def test_resize_square_ignores_aspect_ratio():
    res = _results()
    kpts = res['gt_keypoints'].copy()
    out = SORResize(scale=(64, 64))(res)
    assert out['img'].shape == (64, 64, 3)
    assert out['img_shape'] == (64, 64)
    np.testing.assert_allclose(out['scale_factor'], (0.8, 1.6))
    np.testing.assert_allclose(
        out['gt_keypoints'][..., 0], kpts[..., 0] * 0.8, rtol=1e-6)
    np.testing.assert_allclose(
        out['gt_keypoints'][..., 1], kpts[..., 1] * 1.6, rtol=1e-6)
    assert out['gt_keypoints'].dtype == np.float32
    np.testing.assert_allclose(out['gt_bboxes'].tensor[0].numpy(),
                               [8, 8, 24, 32])
    assert out['gt_masks'].masks.shape == (2, 64, 64)


def test_resize_keep_ratio_option():
    out = SORResize(scale=(160, 160), keep_ratio=True)(_results())
    assert out['img_shape'] == (80, 160)
    np.testing.assert_allclose(out['scale_factor'], (2.0, 2.0))


def test_resize_without_keypoints():
    res = _results()
    del res['gt_keypoints']
    out = SORResize(scale=(32, 32))(res)
    assert 'gt_keypoints' not in out


def test_flip_faithful_no_swap():
    res = _results()
    kpts = res['gt_keypoints'].copy()
    vis = res['gt_keypoints_visible'].copy()
    out = SORRandomFlip(prob=1.0)(res)
    assert out['flip'] is True and out['flip_direction'] == 'horizontal'
    np.testing.assert_allclose(out['gt_keypoints'][..., 0], W - kpts[..., 0])
    np.testing.assert_allclose(out['gt_keypoints'][..., 1], kpts[..., 1])
    np.testing.assert_array_equal(out['gt_keypoints_visible'], vis)
    # keypoints follow the boxes (mmdet flips boxes as w - x too)
    np.testing.assert_allclose(out['gt_bboxes'].tensor[0].numpy(),
                               [W - 30, 5, W - 10, 20])
    assert out['gt_masks'].masks[0, 10, W - 1 - 10] == 1


def test_flip_swap_pairs_option():
    res = _results()
    kpts = res['gt_keypoints'].copy()
    vis = res['gt_keypoints_visible'].copy()
    out = SORRandomFlip(prob=1.0, swap_keypoint_pairs=True)(res)
    for a, b in COCO_FLIP_PAIRS:
        np.testing.assert_allclose(out['gt_keypoints'][:, a, 0],
                                   W - kpts[:, b, 0])
        np.testing.assert_allclose(out['gt_keypoints'][:, a, 1], kpts[:, b, 1])
        np.testing.assert_array_equal(out['gt_keypoints_visible'][:, a],
                                      vis[:, b])
    # the nose (0) has no pair
    np.testing.assert_allclose(out['gt_keypoints'][:, 0, 0], W - kpts[:, 0, 0])


@pytest.mark.parametrize('direction', ['vertical', 'diagonal'])
def test_flip_other_directions(direction):
    res = _results()
    kpts = res['gt_keypoints'].copy()
    out = SORRandomFlip(prob=1.0, direction=direction)(res)
    np.testing.assert_allclose(out['gt_keypoints'][..., 1], H - kpts[..., 1])
    want_x = W - kpts[..., 0] if direction == 'diagonal' else kpts[..., 0]
    np.testing.assert_allclose(out['gt_keypoints'][..., 0], want_x)


def test_no_flip_keeps_keypoints():
    res = _results()
    kpts = res['gt_keypoints'].copy()
    out = SORRandomFlip(prob=0.0)(res)
    assert out['flip'] is False
    np.testing.assert_array_equal(out['gt_keypoints'], kpts)


def test_pack_fields():
    res = SORResize(scale=(32, 32))(_results())
    res.update(img_id=3, img_path='x.jpg', img_name='x', flip=False)
    packed = PackSORInputs()(res)
    assert packed['inputs'].shape == (3, 32, 32)
    sample = packed['data_samples']
    assert sample.img_id == 3 and sample.img_name == 'x'
    gt = sample.gt_instances
    assert isinstance(gt.bboxes, torch.Tensor)
    assert gt.bboxes.dtype == torch.float32
    assert gt.keypoints.shape == (2, 17, 2)
    assert gt.keypoints_visible.shape == (2, 17)
    assert gt.ranks.tolist() == [1, 2]
    assert gt.labels.tolist() == [0, 0]


def _joints_on_mask(sample) -> float:
    """Fraction of labelled person joints lying on their (dilated) mask."""
    gt = sample.gt_instances
    hits, total = 0, 0
    kernel = np.ones((3, 3), np.uint8)
    for i in range(len(gt)):
        if gt.class_ids[i] != 1:
            continue
        mask = cv2.dilate(gt.masks.masks[i].astype(np.uint8), kernel)
        h, w = mask.shape
        for (x, y), v in zip(gt.keypoints[i].numpy(),
                             gt.keypoints_visible[i].numpy()):
            if v > 0:
                xi = int(np.clip(np.floor(x), 0, w - 1))
                yi = int(np.clip(np.floor(y), 0, h - 1))
                hits += int(mask[yi, xi] > 0)
                total += 1
    return hits / max(total, 1)


@pytest.mark.parametrize('swap', [False, True])
def test_pipeline_keypoints_follow_masks(synthetic_dataset, swap):
    init_default_scope('mmdet')
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadSORAnnotations'),
        dict(type='SORResize', scale=(80, 48), keep_ratio=False),
        dict(type='SORRandomFlip', prob=1.0, swap_keypoint_pairs=swap),
        dict(type='PackSORInputs')
    ]
    ds = SORDataset(
        data_root=synthetic_dataset,
        ann_file='synthetic_train.json',
        data_prefix=dict(img='images/train/'),
        pipeline=pipeline)
    plain = SORDataset(
        data_root=synthetic_dataset,
        ann_file='synthetic_train.json',
        data_prefix=dict(img='images/train/'),
        pipeline=pipeline[:3] + pipeline[4:])
    for idx in range(4):
        flipped, orig = ds[idx], plain[idx]
        assert flipped['data_samples'].flip is True
        assert flipped['inputs'].shape == (3, 48, 80)
        # the image is mirrored
        assert torch.equal(flipped['inputs'], orig['inputs'].flip(-1))
        assert _joints_on_mask(orig['data_samples']) > 0.9
        assert _joints_on_mask(flipped['data_samples']) > 0.9
        kf = flipped['data_samples'].gt_instances.keypoints
        ko = orig['data_samples'].gt_instances.keypoints
        if not swap:
            torch.testing.assert_close(kf[..., 0], 80 - ko[..., 0])


@pytest.mark.parametrize('backend', ['cv2', 'pycocotools'])
def test_load_annotations_polygon_backends(backend):
    # two overlapping polygons of one object
    segm = [[2, 2, 12, 2, 12, 12, 2, 12], [6, 6, 16, 6, 16, 16, 6, 16]]
    kpts = np.zeros((17, 3), np.float32)
    kpts[0] = (3, 4, 2)
    kpts[1] = (5, 6, 1)
    results = dict(
        height=20,
        width=30,
        ori_shape=(20, 30),
        instances=[
            dict(
                bbox=[2, 2, 16, 16],
                rank=1,
                class_id=1,
                mask=segm,
                keypoints=kpts)
        ])
    transform = LoadSORAnnotations() if backend == 'cv2' else \
        LoadSORAnnotations(polygon_backend=backend)
    out = transform(results)
    want = decode_segmentation(segm, 20, 20 + 10, polygon_backend=backend)
    np.testing.assert_array_equal(out['gt_masks'].masks[0], want)
    # the reference's cv2 filling cancels the overlap (even-odd rule)
    assert out['gt_masks'].masks[0, 8, 8] == (0 if backend == 'cv2' else 1)
    assert out['gt_keypoints_visible'][0, :3].tolist() == [1, 1, 0]
    assert out['gt_keypoints'][0, 1].tolist() == [5, 6]
    assert out['gt_bboxes'].tensor.tolist() == [[2, 2, 16, 16]]
    with pytest.raises(ValueError, match='polygon_backend'):
        LoadSORAnnotations(polygon_backend='pil')
