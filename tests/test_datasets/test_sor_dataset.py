# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
import json
import os.path as osp
import random
import shutil

import cv2
import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine import fileio
from mmengine.config import Config
from mmengine.registry import init_default_scope

import posesor  # noqa: F401
from posesor.datasets import SORDataset
from posesor.datasets.sor_parsing import (SORAnnotationError, SORDataWarning,
                                          decode_segmentation)

CONFIG_DIR = osp.join(
    osp.dirname(__file__), '..', '..', 'configs', '_base_', 'datasets')
SIZE = 64  # network input size used here


def _pipeline(test: bool = False, flip_prob: float = 0.0):
    load = [dict(type='LoadImageFromFile')]
    resize = [dict(type='SORResize', scale=(SIZE, SIZE), keep_ratio=False)]
    anns = [dict(type='LoadSORAnnotations')]
    if test:
        return load + resize + anns + [dict(type='PackSORInputs')]
    return load + anns + resize + [
        dict(type='SORRandomFlip', prob=flip_prob),
        dict(type='PackSORInputs')
    ]


def _dataset(root, split='train', **kw):
    init_default_scope('mmdet')
    kw.setdefault('pipeline', _pipeline(test=split == 'test'))
    if split == 'train':
        kw.setdefault('filter_cfg', dict(filter_empty_gt=True))
    else:
        kw.setdefault('test_mode', True)
    return SORDataset(
        data_root=root,
        ann_file=f'synthetic_{split}.json',
        data_prefix=dict(img=f'images/{split}/'),
        **kw)


def _copy(synthetic_dataset, tmp_path):
    root = tmp_path / 'ds'
    shutil.copytree(synthetic_dataset, root)
    return str(root)


def _edit(root, split, fn):
    path = osp.join(root, f'synthetic_{split}.json')
    with open(path) as f:
        data = json.load(f)
    fn(data)
    with open(path, 'w') as f:
        json.dump(data, f)
    return data


def test_generated_dataset_fields(synthetic_dataset):
    ds = _dataset(synthetic_dataset)
    assert len(ds) == 8
    with open(osp.join(synthetic_dataset, 'synthetic_train.json')) as f:
        raw = json.load(f)
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        item = ds[idx]
        sample = item['data_samples']
        assert isinstance(sample, DetDataSample)
        assert item['inputs'].shape == (3, SIZE, SIZE)
        assert item['inputs'].dtype == torch.uint8
        for key in ('img_id', 'img_path', 'img_name', 'ori_shape', 'img_shape',
                    'scale_factor', 'flip'):
            assert key in sample.metainfo, key
        assert sample.img_shape == (SIZE, SIZE)
        assert sample.ori_shape == (96, 96)
        assert sample.flip is False
        gt = sample.gt_instances
        n = len(info['instances'])
        assert n == len(
            [a for a in raw['annotations'] if a['image_id'] == info['img_id']])
        assert isinstance(gt.masks, BitmapMasks)
        assert gt.masks.masks.shape == (n, SIZE, SIZE)
        assert gt.bboxes.shape == (n, 4)
        assert gt.bboxes.dtype == torch.float32
        assert gt.labels.dtype == torch.int64 and not gt.labels.any()
        assert gt.ranks.dtype == torch.int64
        assert gt.ranks.tolist() == list(range(1, n + 1))
        assert gt.class_ids.dtype == torch.int64
        assert gt.class_ids[0] == 1  # rank 1 is always a person
        assert gt.keypoints.shape == (n, 17, 2)
        assert gt.keypoints.dtype == torch.float32
        assert gt.keypoints_visible.shape == (n, 17)
        assert gt.keypoints_visible.dtype == torch.float32
        persons = gt.class_ids == 1
        assert (gt.keypoints_visible[~persons] == 0).all()
        assert (gt.keypoints_visible[persons].sum(1) >= 14).all()
        # boxes enclose the masks (in the resized frame)
        for box, mask in zip(gt.bboxes, gt.masks.masks):
            ys, xs = np.nonzero(mask)
            assert xs.min() >= box[0] - 1.5 and xs.max() <= box[2] + 0.5
            assert ys.min() >= box[1] - 1.5 and ys.max() <= box[3] + 0.5


def test_sorted_by_rank_not_json_order(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)
    ref = _dataset(synthetic_dataset)

    def shuffle(data):
        random.Random(0).shuffle(data['annotations'])

    _edit(root, 'train', shuffle)
    ds = _dataset(root)
    for idx in range(len(ds)):
        got = ds.get_data_info(idx)['instances']
        want = ref.get_data_info(idx)['instances']
        assert [i['ann_id'] for i in got] == [i['ann_id'] for i in want]
        assert [i['rank'] for i in got] == sorted(i['rank'] for i in got)


def test_empty_images_filtered_for_training_kept_for_test(
        synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)

    def drop(ids):

        def fn(data):
            data['annotations'] = [
                a for a in data['annotations'] if a['image_id'] not in ids
            ]

        return fn

    _edit(root, 'train', drop({2, 5}))
    _edit(root, 'test', drop({1}))
    train = _dataset(root)
    assert len(train) == 6 and train.num_filtered_images == 2
    assert 2 not in [train.get_data_info(i)['img_id'] for i in range(6)]
    # without filter_cfg nothing is filtered
    assert len(_dataset(root, filter_cfg=None)) == 8
    test = _dataset(root, 'test')
    assert len(test) == 4 and test.num_filtered_images == 0
    item = test[0]
    assert item['data_samples'].img_id == 1
    gt = item['data_samples'].gt_instances
    assert len(gt) == 0
    assert gt.masks.masks.shape == (0, 96, 96)
    assert gt.keypoints.shape == (0, 17, 2)
    assert gt.bboxes.shape == (0, 4)


def test_test_pipeline_keeps_original_resolution_gt(synthetic_dataset):
    ds = _dataset(synthetic_dataset, 'test')
    item = ds[0]
    gt = item['data_samples'].gt_instances
    assert item['inputs'].shape == (3, SIZE, SIZE)
    assert gt.masks.masks.shape[1:] == (96, 96)
    info = ds.get_data_info(0)
    with open(osp.join(synthetic_dataset, 'synthetic_test.json')) as f:
        raw = {a['id']: a for a in json.load(f)['annotations']}
    for inst, mask in zip(info['instances'], gt.masks.masks):
        ref = decode_segmentation(raw[inst['ann_id']]['segmentation'], 96, 96)
        assert np.array_equal(ref, mask)


def test_missing_image_file(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)
    (tmp_path / 'ds' / 'images' / 'train' / '000003.jpg').unlink()
    with pytest.raises(SORAnnotationError) as e:
        _dataset(root)
    assert '000003.jpg' in str(e.value) and 'image id 3' in str(e.value)


def test_unreadable_image_file(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)
    (tmp_path / 'ds' / 'images' / 'train' /
     '000001.jpg').write_bytes(b'not a jpeg')
    ds = _dataset(root)
    with pytest.raises(Exception, match='000001.jpg'):
        ds[0]


def test_image_size_mismatch(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)
    # the stored image no longer has the size its annotation says (96x96)
    path = osp.join(root, 'images', 'train', '000001.jpg')
    cv2.imwrite(path, cv2.imread(path)[:50])
    ds = _dataset(root)
    with pytest.raises(SORAnnotationError, match='image id 1'):
        ds[0]


def test_bad_annotation_names_file(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)

    def fn(data):
        data['annotations'][3]['keypoints'] = [0] * 48

    data = _edit(root, 'train', fn)
    with pytest.raises(SORAnnotationError) as e:
        _dataset(root)
    msg = str(e.value)
    assert 'synthetic_train.json' in msg
    assert f"annotation id {data['annotations'][3]['id']}" in msg


def test_empty_masks_warned_and_counted(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)
    state = {}

    def fn(data):
        # a degenerate (zero-area) polygon and an all-zero RLE
        data['annotations'][0]['segmentation'] = [[5, 5, 5, 5, 5, 5]]
        data['annotations'][1]['segmentation'] = dict(
            size=[96, 96], counts=[96 * 96])
        state['ids'] = [data['annotations'][i]['id'] for i in (0, 1)]

    _edit(root, 'train', fn)
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    messages = []
    handler_cls = type(
        'H', (__import__('logging').Handler, ),
        dict(emit=lambda self, rec: messages.append(rec.getMessage())))
    handler = handler_cls()
    logger.addHandler(handler)
    try:
        ds = _dataset(root)
    finally:
        logger.removeHandler(handler)
    assert ds.num_empty_masks == 2
    assert any('empty mask' in m and str(state['ids'][0]) in m
               for m in messages)
    kept = [
        i['ann_id'] for k in range(len(ds))
        for i in ds.get_data_info(k)['instances']
    ]
    assert not set(state['ids']) & set(kept)


def test_duplicate_ranks_and_unranked(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)

    def fn(data):
        anns = [a for a in data['annotations'] if a['image_id'] == 1]
        anns[1]['category_id'] = 1  # duplicate of rank 1
        anns[-1]['category_id'] = 0  # unranked

    _edit(root, 'train', fn)
    with pytest.warns(SORDataWarning) as record:
        ds = _dataset(root)
    text = ' '.join(str(w.message) for w in record)
    assert 'duplicate' in text and 'unranked' in text
    assert ds.num_unranked == 1
    ranks = [i['rank'] for i in ds.get_data_info(0)['instances']]
    assert ranks[:2] == [1, 1] and 0 not in ranks
    ids = [i['ann_id'] for i in ds.get_data_info(0)['instances']]
    assert ids[0] < ids[1]  # tie broken by annotation id
    with pytest.warns(SORDataWarning):
        kept = _dataset(root, keep_unranked=True)
    assert [i['rank'] for i in kept.get_data_info(0)['instances']][-1] == 0


def test_rank_key_argument(synthetic_dataset):
    with pytest.raises(ValueError, match='rank_key'):
        _dataset(synthetic_dataset, rank_key='score')
    ds = _dataset(synthetic_dataset, rank_key='visiting_order')
    assert len(ds) == 8


@pytest.mark.parametrize('name', ['assr', 'irsr', 'synthetic'])
def test_base_configs(name, synthetic_dataset):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, f'{name}.py'))
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key]['dataset']['type'] == 'SORDataset'
    for key in ('val_evaluator', 'test_evaluator'):
        ev = cfg[key]
        assert ev['type'] == 'SORMetric'
        assert ev['ann_file'].endswith('.json')
        assert ev['metric'] == ['sa_sor', 'sor', 'mae']
        assert ev['rank_key'] == 'category_id'
    assert cfg.train_dataloader.dataset.filter_cfg.filter_empty_gt
    if name == 'synthetic':
        init_default_scope('mmdet')
        from mmdet.registry import DATASETS
        for key, n in (('train_dataloader', 8), ('test_dataloader', 4)):
            ds_cfg = cfg[key]['dataset']
            ds_cfg['data_root'] = synthetic_dataset
            ds = DATASETS.build(ds_cfg)
            assert len(ds) == n
            item = ds[0]
            size = cfg.image_size
            assert item['inputs'].shape == (3, size, size)


def test_exif_orientation_rule(synthetic_dataset, tmp_path):
    """Annotations refer to the stored pixels (the reference reads with PIL,
    no EXIF transposition) unless they are for the EXIF-rotated size (a
    phone photo annotated as displayed, issue 24): the configs' loader then
    reads the image rotated."""
    from PIL import Image
    root = _copy(synthetic_dataset, tmp_path)
    path = osp.join(root, 'images', 'train', '000001.jpg')
    img = Image.open(path)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees on display
    img.save(path, exif=exif.tobytes())
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'synthetic.py'))
    pipeline = cfg.train_pipeline
    assert pipeline[0]['type'] == 'LoadImageAsAnnotated'
    assert pipeline[0]['color_type'] == 'color_ignore_orientation'
    item = _dataset(root, pipeline=pipeline)[0]
    assert item['data_samples'].ori_shape == (96, 96)
    # a non-square image shows the difference: 96 high, 48 wide as stored
    stored = np.asarray(img)[:, :48]
    Image.fromarray(stored).save(path, exif=exif.tobytes())

    def annotate(height, width):

        def fn(d):
            d['images'][0]['height'] = height
            d['images'][0]['width'] = width
            d['annotations'] = [
                a for a in d['annotations'] if a['image_id'] != 1
            ]

        _edit(root, 'train', fn)

    annotate(96, 48)  # annotated on the stored pixels: read as stored
    item = _dataset(root, pipeline=pipeline, filter_cfg=None)[0]
    assert item['data_samples'].ori_shape == (96, 48)
    rotating = [dict(type='LoadImageFromFile', color_type='color')
                ] + pipeline[1:]
    with pytest.raises(SORAnnotationError, match='image id 1') as e:
        _dataset(root, pipeline=rotating, filter_cfg=None)[0]
    assert 'EXIF orientation 6' in str(e.value)

    annotate(48, 96)  # annotated as displayed: read EXIF-rotated
    ds = _dataset(root, pipeline=pipeline[:1], filter_cfg=None)
    loaded = ds[0]
    assert loaded['ori_shape'] == (48, 96)
    assert loaded['exif_orientation'] == 6
    # orientation 6: the displayed image is the stored one turned clockwise
    expected = cv2.rotate(
        cv2.imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION),
        cv2.ROTATE_90_CLOCKWISE)
    assert np.array_equal(loaded['img'], expected)
    item = _dataset(root, pipeline=pipeline, filter_cfg=None)[0]
    assert item['data_samples'].ori_shape == (48, 96)
    # mmcv's loader reading the stored pixels: an error that names EXIF
    plain = [
        dict(type='LoadImageFromFile', color_type=pipeline[0]['color_type'])
    ] + pipeline[1:]
    with pytest.raises(SORAnnotationError) as e:
        _dataset(root, pipeline=plain, filter_cfg=None)[0]
    msg = str(e.value)
    assert 'image id 1' in msg and '(96, 48)' in msg
    assert 'EXIF orientation 6' in msg and 'LoadImageAsAnnotated' in msg

    # no EXIF: a rotated size stays an error, which says EXIF does not
    # explain it
    Image.fromarray(stored).save(path)
    with pytest.raises(SORAnnotationError) as e:
        _dataset(root, pipeline=pipeline, filter_cfg=None)[0]
    assert 'no EXIF orientation' in str(e.value)


# issue 14, case 11: a 0-byte image
def test_empty_image_file_named_at_load(synthetic_dataset, tmp_path):
    root = _copy(synthetic_dataset, tmp_path)
    (tmp_path / 'ds' / 'images' / 'train' / '000004.jpg').write_bytes(b'')
    with pytest.raises(SORAnnotationError) as e:
        _dataset(root)
    msg = str(e.value)
    assert '000004.jpg' in msg and 'image id 4' in msg and '0 bytes' in msg
    assert 'synthetic_train.json' in msg


def test_pipeline_error_names_image(synthetic_dataset, tmp_path):
    """Without the load-time check (or on a remote backend), OpenCV's
    decoding error gets a note naming the file and the image id."""
    root = _copy(synthetic_dataset, tmp_path)
    (tmp_path / 'ds' / 'images' / 'train' / '000004.jpg').write_bytes(b'')
    ds = _dataset(root, check_image_files=False)
    with pytest.raises(Exception) as e:
        ds[3]
    note = ' '.join(getattr(e.value, '__notes__', []))
    assert '000004.jpg' in note and 'image id 4' in note
    assert 'synthetic_train.json' in note
    assert '000004.jpg' not in str(e.value)  # OpenCV alone names nothing


# issue 14, case 14: a training split whose images all lack annotations
@pytest.mark.parametrize('how', ['none', 'unranked', 'mixed'])
def test_nothing_to_train_on(synthetic_dataset, tmp_path, how):
    root = _copy(synthetic_dataset, tmp_path)

    def fn(data):
        if how == 'none':
            data['annotations'] = []
        elif how == 'unranked':
            for ann in data['annotations']:
                ann['category_id'] = 0
        else:  # images 1-3 unranked, 4 an empty mask, the others nothing
            anns = [a for a in data['annotations'] if a['image_id'] <= 4]
            for ann in anns:
                if ann['image_id'] == 4:
                    ann['segmentation'] = dict(size=[96, 96], counts=[96 * 96])
                else:
                    ann['category_id'] = 0
            data['annotations'] = anns

    _edit(root, 'train', fn)
    with pytest.raises(SORAnnotationError) as e:
        _dataset(root)
    msg = str(e.value)
    assert 'synthetic_train.json' in msg and 'all 8 image(s)' in msg
    expected = dict(
        none=['8 with no annotation'],
        unranked=['8 with unranked objects only', 'keep_unranked=True'],
        mixed=[
            '1 with empty masks', '4 with no annotation',
            '3 with unranked objects only'
        ])[how]
    for fragment in expected:
        assert fragment in msg, msg
    # the test split and an unfiltered dataset keep their images
    assert len(_dataset(root, filter_cfg=None)) == 8
    if how == 'unranked':
        assert len(_dataset(root, keep_unranked=True)) == 8


class _MemoryBackend(fileio.BaseStorageBackend):
    """A storage backend holding files in a dict (not on the local disk),
    registered below as ``posesor_test_memory``."""

    files = {}

    def __init__(self, **kwargs):
        pass

    def get(self, filepath):
        if str(filepath) not in self.files:
            raise FileNotFoundError(filepath)
        return self.files[str(filepath)]

    def get_text(self, filepath, encoding='utf-8'):
        return self.get(filepath).decode(encoding)

    def exists(self, filepath):
        return str(filepath) in self.files

    isfile = exists

    def join_path(self, filepath, *filepaths):
        return '/'.join([str(filepath).rstrip('/')] +
                        [str(p).strip('/') for p in filepaths])


def test_backend_args_honoured(synthetic_dataset, monkeypatch):
    """Every file the dataset reads goes through ``backend_args``: the
    data root below does not exist on disk, only in the memory backend."""
    fileio.register_backend('posesor_test_memory', _MemoryBackend, force=True)
    backend_args = dict(backend='posesor_test_memory')
    root = '/nonexistent/posesor-memory/ds'
    assert not osp.exists(root)
    files = {}
    for rel in ['synthetic_train.json'
                ] + [f'images/train/{i:06d}.jpg' for i in range(1, 9)]:
        with open(osp.join(synthetic_dataset, rel), 'rb') as f:
            files[f'{root}/{rel}'] = f.read()
    monkeypatch.setattr(_MemoryBackend, 'files', files)
    pipeline = _pipeline()
    pipeline[0] = dict(type='LoadImageFromFile', backend_args=backend_args)
    ds = _dataset(root + '/', pipeline=pipeline, backend_args=backend_args)
    ref = _dataset(synthetic_dataset)
    assert len(ds) == len(ref) == 8
    assert torch.equal(ds[2]['inputs'], ref[2]['inputs'])
    # a missing image is found through the backend too ...
    del files[f'{root}/images/train/000005.jpg']
    with pytest.raises(SORAnnotationError, match='000005.jpg.*does not exist'):
        _dataset(root + '/', pipeline=pipeline, backend_args=backend_args)
    # ... and a 0-byte one fails by name when the pipeline reads it
    files[f'{root}/images/train/000005.jpg'] = b''
    ds = _dataset(root + '/', pipeline=pipeline, backend_args=backend_args)
    with pytest.raises(Exception) as e:
        ds[4]
    assert '000005.jpg' in ' '.join(e.value.__notes__)
    # without backend_args the local disk is used, where nothing is
    with pytest.raises(SORAnnotationError, match='does not exist'):
        _dataset(root + '/')


def test_person_without_keypoints_is_counted_and_flagged(
        synthetic_dataset, tmp_path):
    """Issue 24: a person without ``keypoints`` is counted once per file and
    reaches the model as ``keypoints_labelled`` False (a non-person without
    keypoints stays labelled: no joint)."""
    root = _copy(synthetic_dataset, tmp_path)
    changed = {}

    def fn(d):
        person, other = [
            a for a in d['annotations']
            if a['image_id'] == 1 and a.get('category_id')
        ][:2]
        person['class_id'] = 1
        del person['keypoints']
        other.update(class_id=5, keypoints=[])
        changed.update(person=person['id'], other=other['id'])

    _edit(root, 'train', fn)
    assert set(changed) == {'person', 'other'}
    with pytest.warns(
            SORDataWarning,
            match=r'1 person\(s\) \(class_id 1\) '
            r'without keypoints') as record:
        ds = _dataset(root)
    repair_msgs = [
        str(w.message) for w in record if 'loaded with' in str(w.message)
    ]
    assert len(repair_msgs) == 1
    assert '1 empty "keypoints" list(s) read as absent' in repair_msgs[0]
    assert ds.repairs['persons_without_keypoints'] == 1
    info = ds.get_data_info(0)
    flags = {i['ann_id']: i['keypoints_labelled'] for i in info['instances']}
    assert flags.pop(changed['person']) is False
    assert all(flags.values())  # the non-person and the other persons
    gt = ds[0]['data_samples'].gt_instances
    order = [i['ann_id'] for i in info['instances']]
    assert gt.keypoints_labelled.tolist() == [
        a != changed['person'] for a in order
    ]
    assert gt.keypoints_visible[order.index(changed['person'])].sum() == 0
