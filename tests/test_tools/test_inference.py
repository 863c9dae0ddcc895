# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""``SORInferencer`` and ``tools/image_demo.py``."""
import json
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from conftest import run_tool
from pycocotools import mask as mask_utils


@pytest.fixture(scope='module')
def inferencer(trained):
    from posesor.apis import SORInferencer
    return SORInferencer(
        trained['config'],
        trained['checkpoint'],
        device='cpu',
        show_progress=False)


@pytest.fixture
def image_folder(synthetic_dataset, tmp_path):
    """Two test images, one corrupt JPEG and one non-image file."""
    folder = tmp_path / 'images'
    folder.mkdir()
    src = osp.join(synthetic_dataset, 'images', 'test')
    names = sorted(n for n in __import__('os').listdir(src))[:2]
    for name in names:
        shutil.copy(osp.join(src, name), folder / name)
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not a jpeg')
    (folder / 'notes.txt').write_text('ignored')
    return str(folder), names


def _check_prediction(pred, height, width):
    n = len(pred['ranks'])
    assert n >= 1
    assert pred['ranks'] == list(range(1, n + 1))
    rank_scores = np.asarray(pred['rank_scores'])
    assert (np.diff(rank_scores) <= 1e-6).all()  # most salient first
    assert pred['masks'].shape == (n, height, width)
    assert pred['masks'].dtype == bool
    assert np.asarray(pred['bboxes']).shape == (n, 4)
    assert np.asarray(pred['keypoints']).shape == (n, 17, 2)
    assert np.asarray(pred['keypoint_scores']).shape == (n, 17)
    assert len(pred['scores']) == n
    assert pred['keypoint_source'] == ['posesor'] * n


def test_inferencer_single_image(inferencer, synthetic_dataset):
    path = osp.join(synthetic_dataset, 'images', 'test', '000001.jpg')
    img = cv2.imread(path)
    out = inferencer(path, return_vis=True)
    assert out['failed'] == []
    (pred, ) = out['predictions']
    assert pred['img_path'] == path
    _check_prediction(pred, *img.shape[:2])
    (vis, ) = out['visualization']
    assert vis.shape == img.shape
    # the same image given as an array gives the same prediction
    (pred2, ) = inferencer(img)['predictions']
    np.testing.assert_allclose(
        pred2['rank_scores'], pred['rank_scores'], atol=1e-5)
    assert (pred2['masks'] == pred['masks']).all()


def test_inferencer_folder_with_corrupt_file(inferencer, image_folder,
                                             tmp_path):
    folder, names = image_folder
    out_dir = str(tmp_path / 'out')
    out = inferencer(folder, batch_size=2, out_dir=out_dir)
    assert [name for name, _ in out['failed']] == ['broken.jpg']
    assert [osp.basename(p['img_path']) for p in out['predictions']] == names
    for name in names:
        stem = osp.splitext(name)[0]
        assert osp.isfile(osp.join(out_dir, stem + '.png'))
        assert osp.isfile(osp.join(out_dir, stem + '.json'))
    assert not osp.exists(osp.join(out_dir, 'broken.png'))


def test_image_demo_cli(trained, image_folder, tmp_path):
    folder, names = image_folder
    out_dir = str(tmp_path / 'demo')
    proc = run_tool('image_demo.py', [
        folder, trained['config'], trained['checkpoint'], '--out-dir', out_dir,
        '--device', 'cpu'
    ])
    assert 'skipped 1 unreadable input(s): broken.jpg' in proc.stdout
    for name in names:
        stem = osp.splitext(name)[0]
        img = cv2.imread(osp.join(folder, name))
        overlay = cv2.imread(osp.join(out_dir, stem + '.png'))
        assert overlay.shape == img.shape
        with open(osp.join(out_dir, stem + '.json')) as f:
            pred = json.load(f)
        n = len(pred['ranks'])
        assert pred['ranks'] == list(range(1, n + 1))
        assert len(pred['masks']) == n
        for rle in pred['masks']:
            mask = mask_utils.decode(
                dict(size=rle['size'], counts=rle['counts'].encode()))
            assert mask.shape == img.shape[:2]
        assert np.asarray(pred['keypoints']).shape == (n, 17, 2)
        assert pred['keypoint_source'] == ['posesor'] * n
