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


def test_inferencer_is_an_mmengine_inferencer(inferencer, image_folder,
                                              tmp_path):
    from mmdet.structures import DetDataSample
    from mmengine.infer import BaseInferencer
    assert isinstance(inferencer, BaseInferencer)
    folder, names = image_folder
    pred_dir, vis_dir = tmp_path / 'preds', tmp_path / 'vis'
    out = inferencer(
        folder,
        batch_size=3,
        out_dir=str(vis_dir),
        pred_out_dir=str(pred_dir),
        no_save_vis=True,
        return_datasamples=True)
    assert len(out['predictions']) == 2
    assert all(isinstance(p, DetDataSample) for p in out['predictions'])
    assert sorted(p.name for p in pred_dir.iterdir()) == sorted(
        osp.splitext(n)[0] + '.json' for n in names)
    assert not vis_dir.exists() or not list(vis_dir.glob('*.png'))
    assert [name for name, _ in out['failed']] == ['broken.jpg']
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match='batch_size'):
            inferencer(folder, batch_size=bad)


def test_same_names_get_distinct_outputs(inferencer, synthetic_dataset,
                                         tmp_path):
    from posesor.apis.inferencer import output_stems
    assert output_stems(['x/a.jpg', 'y/a.png', 'b.jpg', 'z/b.jpg']) == \
        ['a_jpg', 'a_png', 'b_jpg_000002', 'b_jpg_000003']
    src = cv2.imread(
        osp.join(synthetic_dataset, 'images', 'test', '000001.jpg'))
    folder = tmp_path / 'same_names'
    folder.mkdir()
    cv2.imwrite(str(folder / 'a.jpg'), src)
    cv2.imwrite(str(folder / 'a.png'), src[::-1].copy())  # another image
    out_dir = tmp_path / 'out'
    out = inferencer(str(folder), out_dir=str(out_dir))
    assert len(out['predictions']) == 2
    assert sorted(p.name for p in out_dir.iterdir()) == [
        'a_jpg.json', 'a_jpg.png', 'a_png.json', 'a_png.png'
    ]
    for stem, pred in zip(('a_jpg', 'a_png'), out['predictions']):
        with open(out_dir / f'{stem}.json') as f:
            assert json.load(f)['img_path'] == pred['img_path']


def test_inferencer_refuses_partial_weights(trained, tmp_path):
    import torch

    from posesor.apis import SORInferencer
    from posesor.utils.checkpoint import (CheckpointReadError,
                                          PartialCheckpointError)
    ckpt = torch.load(trained['checkpoint'])
    ckpt['state_dict'] = {
        k: v
        for k, v in ckpt['state_dict'].items() if not k.startswith('neck.')
    }
    bad = str(tmp_path / 'no_neck.pth')
    torch.save(ckpt, bad)
    with pytest.raises(PartialCheckpointError, match='missing: neck'):
        SORInferencer(trained['config'], bad, device='cpu')
    SORInferencer(trained['config'], bad, device='cpu', allow_partial=True)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(
            CheckpointReadError, match=f'Cannot read checkpoint {empty}'):
        SORInferencer(trained['config'], str(empty), device='cpu')


def test_inferencer_reads_through_backend_args(trained, synthetic_dataset,
                                               tmp_path):
    """A prefixed backend (``mem://``) serves the images and takes the JSON."""
    from mmengine.fileio import BaseStorageBackend, register_backend

    from posesor.apis import SORInferencer
    store = {}

    class MemoryBackend(BaseStorageBackend):
        """Files in a dict; folders are key prefixes."""

        def get(self, filepath):
            return store[filepath]

        def get_text(self, filepath, encoding='utf-8'):
            return store[filepath].decode(encoding)

        def put(self, obj, filepath):
            store[filepath] = obj

        def put_text(self, obj, filepath, encoding='utf-8'):
            store[filepath] = obj.encode(encoding)

        def isdir(self, filepath):
            return any(k.startswith(filepath.rstrip('/') + '/') for k in store)

        def join_path(self, filepath, *parts):
            return '/'.join([filepath.rstrip('/')] + list(parts))

        def list_dir_or_file(self,
                             dir_path,
                             list_dir=True,
                             list_file=True,
                             suffix=None,
                             recursive=False):
            prefix = dir_path.rstrip('/') + '/'
            for key in sorted(store):
                name = key[len(prefix):]
                if key.startswith(prefix) and '/' not in name and (
                        suffix is None or name.endswith(suffix)):
                    yield name

    register_backend('posesor_test_memory', MemoryBackend, force=True)
    src = osp.join(synthetic_dataset, 'images', 'test', '000001.jpg')
    with open(src, 'rb') as f:
        store['mem://imgs/000001.jpg'] = f.read()
    store['mem://imgs/bad.jpg'] = b''
    inferencer = SORInferencer(
        trained['config'],
        trained['checkpoint'],
        device='cpu',
        backend_args=dict(backend='posesor_test_memory'),
        show_progress=False)
    out = inferencer('mem://imgs', pred_out_dir='mem://preds', draw=False)
    assert [p['img_path'] for p in out['predictions']] == \
        ['mem://imgs/000001.jpg']
    assert out['failed'][0][0] == 'bad.jpg'
    assert 'empty' in out['failed'][0][1]
    pred = json.loads(store['mem://preds/000001.json'])
    assert pred['ranks'] == list(range(1, len(pred['ranks']) + 1))


def test_image_demo_validates_numbers(trained, image_folder, tmp_path):
    from conftest import load_tool
    folder, _ = image_folder
    demo = load_tool('image_demo.py')
    base = [
        folder, trained['config'], trained['checkpoint'], '--out-dir',
        str(tmp_path)
    ]
    for option, value in (('--batch-size', '0'), ('--batch-size', '-1'),
                          ('--pose-visible-thr',
                           '1.5'), ('--pose-min-keypoints',
                                    '0'), ('--pose-min-keypoints', '18')):
        with pytest.raises(SystemExit) as info:
            demo.parse_args(base + [option, value])
        assert info.value.code == 2


def test_mmdet_apis_on_the_tiny_config(trained, synthetic_dataset):
    """mmdet's init_detector, inference_detector and DetInferencer."""
    import torch
    from mmdet.apis import DetInferencer, inference_detector, init_detector

    from posesor.apis import SORInferencer
    path = osp.join(synthetic_dataset, 'images', 'test', '000001.jpg')
    model = init_detector(
        trained['config'], trained['checkpoint'], device='cpu')
    result = inference_detector(model, path)
    ours = SORInferencer(
        trained['config'],
        trained['checkpoint'],
        device='cpu',
        show_progress=False)(
            path, return_datasamples=True)['predictions'][0]
    pred = result.pred_instances
    assert len(pred) == len(ours.pred_instances) >= 1
    torch.testing.assert_close(pred.rank_scores,
                               ours.pred_instances.rank_scores)
    det = DetInferencer(
        model=trained['config'],
        weights=trained['checkpoint'],
        device='cpu',
        show_progress=False)
    out = det(path, return_datasamples=True)
    torch.testing.assert_close(out['predictions'][0].pred_instances.scores,
                               pred.scores)


@pytest.mark.parametrize(
    'name',
    sorted(
        n for n in __import__('os').listdir(
            osp.join(
                osp.dirname(osp.dirname(osp.dirname(__file__))), 'configs'))
        if n.endswith('.py')))
def test_every_config_pipeline_runs_without_annotations(
        name, synthetic_dataset):
    """What inference_detector feeds each config's test pipeline."""
    from conftest import REPO
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import posesor  # noqa: F401
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    path = osp.join(synthetic_dataset, 'images', 'test', '000001.jpg')
    out = pipeline(dict(img_path=path, img_id=0))  # no annotations
    sample = out['data_samples']
    assert sample.metainfo['img_path'] == path
    assert len(sample.gt_instances) == 0 if 'gt_instances' in sample \
        else True
    assert out['inputs'].shape[0] == 3
