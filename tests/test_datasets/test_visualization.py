# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import posesor  # noqa: F401
from posesor.datasets import SORDataset
from posesor.visualization import (RANK_COLOURS, SORLocalVisualizer,
                                   draw_sor_overlay, rank_colour)

RUNTIME = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', '_base_',
    'default_runtime.py')


def _grey(h=40, w=60):
    return np.full((h, w, 3), 128, dtype=np.uint8)


def test_rank_colours_warm_to_cool():
    r1, r_last = rank_colour(1), rank_colour(len(RANK_COLOURS))
    assert r1[0] > r1[2]  # red dominates for rank 1
    assert r_last[2] > r_last[0]  # blue dominates for the last rank
    assert rank_colour(100) == r_last
    assert rank_colour(0) == rank_colour(-1) != r1


def test_overlay_colours_by_rank():
    masks = np.zeros((2, 40, 60), dtype=np.uint8)
    masks[0, 5:25, 5:25] = 1
    masks[1, 10:35, 35:58] = 1
    out = draw_sor_overlay(
        _grey(), masks, ranks=[1, 6], draw_numbers=False, draw_skeleton=False)
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    inner1 = out[10:20, 10:20].reshape(-1, 3).astype(int)
    inner6 = out[15:30, 40:52].reshape(-1, 3).astype(int)
    assert (inner1[:, 0] > inner1[:, 2] + 50).all()  # warm
    assert (inner6[:, 2] > inner6[:, 0] + 50).all()  # cool
    # background untouched
    assert (out[36:, :30] == 128).all()
    # default ranks: masks given most salient first
    default = draw_sor_overlay(
        _grey(), masks, draw_numbers=False, draw_skeleton=False)
    assert tuple(default[15, 15]) == tuple(out[15, 15])


def test_overlay_numbers_skeleton_and_resize():
    masks = np.zeros((1, 20, 30), dtype=np.uint8)  # half the image size
    masks[0, 2:18, 2:28] = 1
    kpts = np.tile(np.array([[5.0, 5.0], [25.0, 15.0]]), (1, 9, 1))[:, :17]
    vis = np.ones((1, 17))
    plain = draw_sor_overlay(
        _grey(), masks, draw_numbers=False, draw_skeleton=False)
    full = draw_sor_overlay(
        _grey(), masks, keypoints=kpts, keypoints_visible=vis)
    assert plain[35, 55].tolist() != [128, 128, 128]  # mask was resized
    assert (full != plain).any()  # numbers and skeleton drawn
    hidden = draw_sor_overlay(
        _grey(),
        masks,
        keypoints=kpts,
        keypoints_visible=vis * 0,
        draw_numbers=False)
    np.testing.assert_array_equal(hidden, plain)
    with pytest.raises(ValueError, match='ranks'):
        draw_sor_overlay(_grey(), masks, ranks=[1, 2])
    empty = draw_sor_overlay(_grey(), np.zeros((0, 40, 60)))
    np.testing.assert_array_equal(empty, _grey())


def test_visualizer_on_generated_sample(synthetic_dataset, tmp_path):
    init_default_scope('mmdet')
    cfg = Config.fromfile(RUNTIME)
    assert cfg.visualizer.type == 'SORLocalVisualizer'
    from mmdet.registry import VISUALIZERS
    vis_cfg = cfg.visualizer.copy()
    vis_cfg.update(save_dir=str(tmp_path / 'vis'), name='sor_vis_test')
    visualizer = VISUALIZERS.build(vis_cfg)
    assert isinstance(visualizer, SORLocalVisualizer)
    ds = SORDataset(
        data_root=synthetic_dataset,
        ann_file='synthetic_test.json',
        data_prefix=dict(img='images/test/'),
        test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadSORAnnotations'),
            dict(type='PackSORInputs')
        ])
    sample = ds[0]['data_samples']
    image = mmcv.imread(sample.img_path, channel_order='rgb')
    gt = sample.gt_instances
    n = len(gt)
    # predictions: ground truth in reversed rank order
    order = torch.arange(n - 1, -1, -1)
    sample.pred_instances = InstanceData(
        masks=torch.from_numpy(gt.masks.masks[order.numpy()]).bool(),
        ranks=torch.arange(1, n + 1),
        scores=torch.full((n, ), 0.9),
        keypoints=gt.keypoints[order],
        keypoint_scores=gt.keypoints_visible[order])
    out_file = str(tmp_path / 'drawn.png')
    visualizer.add_datasample('sample', image, sample, out_file=out_file)
    drawn = mmcv.imread(out_file, channel_order='rgb')
    h, w = image.shape[:2]
    assert drawn.shape == (h, 2 * w, 3)
    gt_img, pred_img = drawn[:, :w].astype(int), drawn[:, w:].astype(int)
    m1 = gt.masks.masks[0].astype(bool)  # rank-1 GT mask
    colour = np.array(rank_colour(1))
    # pixels of the rank-1 mask moved towards the rank-1 colour
    before = np.abs(image[m1].astype(int) - colour).sum(1).mean()
    after = np.abs(gt_img[m1] - colour).sum(1).mean()
    assert after < before - 20
    # in the prediction the same object has the last rank's colour
    last = np.array(rank_colour(n))
    assert np.abs(pred_img[m1] -
                  last).sum(1).mean() < np.abs(pred_img[m1] -
                                               colour).sum(1).mean()
    # without out_file the drawing goes to the backends (no error)
    visualizer.add_datasample('sample', image, sample, draw_gt=False)
    assert visualizer.get_image().shape == (h, w, 3)
    # a score threshold drops predictions
    strict = SORLocalVisualizer(name='strict', score_thr=0.95)
    strict.add_datasample(
        's',
        image,
        sample,
        draw_gt=False,
        out_file=str(tmp_path / 'strict.png'))
    np.testing.assert_array_equal(strict.get_image(), image)


def test_browse_dataset_tool(synthetic_dataset, tmp_path, monkeypatch):
    import sys
    tools = osp.join(
        osp.dirname(__file__), '..', '..', 'tools', 'analysis_tools')
    sys.path.insert(0, tools)
    try:
        import browse_dataset
    finally:
        sys.path.pop(0)
    config = osp.join(osp.dirname(RUNTIME), 'datasets', 'synthetic.py')
    out = tmp_path / 'browse'
    monkeypatch.setattr(sys, 'argv', [
        'browse_dataset.py', config, '--output-dir',
        str(out), '--num', '2', '--cfg-options',
        f'train_dataloader.dataset.data_root={synthetic_dataset}'
    ])
    browse_dataset.main()
    files = sorted(p.name for p in out.iterdir())
    assert len(files) == 2
    drawn = mmcv.imread(str(out / files[0]))
    size = Config.fromfile(config).image_size
    assert drawn.shape == (size, size, 3)
