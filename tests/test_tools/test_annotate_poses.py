# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""``tools/dataset_converters/annotate_poses.py`` on generated data."""
import copy
import json
import os.path as osp

import mmcv
import numpy as np
import pytest
from conftest import load_tool

pytest.importorskip('mmpose')

FILLED_KEYS = ('keypoints', 'num_keypoints')


def _read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


@pytest.fixture(scope='module')
def tool():
    return load_tool('dataset_converters/annotate_poses.py')


@pytest.fixture
def stripped(synthetic_dataset, tmp_path):
    """The synthetic train annotations with some person keypoints removed:
    one person loses the key, one gets ``[]``, one gets ``null``; one
    person gets a degenerate box."""
    with open(osp.join(synthetic_dataset, 'synthetic_train.json')) as f:
        data = json.load(f)
    persons = [a for a in data['annotations'] if a['class_id'] == 1]
    assert len(persons) >= 5
    removed = {}
    for ann, how in zip(persons, ('del', 'empty', 'null', 'del')):
        removed[ann['id']] = how
        if how == 'del':
            del ann['keypoints']
            del ann['num_keypoints']
        else:
            ann['keypoints'] = [] if how == 'empty' else None
    persons[3]['bbox'] = [5.0, 5.0, 0.5, 20.0]  # degenerate: skipped
    path = tmp_path / 'stripped.json'
    path.write_text(json.dumps(data))
    return str(path), data, removed, persons[3]['id']


def test_fills_missing_and_keeps_the_rest(tool, stripped, synthetic_dataset,
                                          tiny_pose_model, tmp_path):
    from posesor.apis import TopdownPoseRefiner
    ann_file, before, removed, degenerate = stripped
    config, checkpoint = tiny_pose_model
    raw_input = _read_bytes(ann_file)
    img_dir = osp.join(synthetic_dataset, 'images', 'train')
    out = str(tmp_path / 'filled.json')
    stats = tool.main([
        ann_file, img_dir, '--pose-config', config, '--pose-checkpoint',
        checkpoint, '--out', out, '--kpt-thr=-1e9'
    ])
    assert _read_bytes(ann_file) == raw_input  # input untouched
    assert stats['annotated'] == len(removed) - 1
    assert [s[1] for s in stats['skipped']] == [degenerate]

    with open(out) as f:
        after = json.load(f)
    assert after['images'] == before['images']
    assert after.keys() == before.keys()
    for key in after:
        if key != 'annotations':
            assert after[key] == before[key]
    refiner = TopdownPoseRefiner(config, checkpoint)
    images = {img['id']: img for img in before['images']}
    assert len(after['annotations']) == len(before['annotations'])
    for old, new in zip(before['annotations'], after['annotations']):
        if old['id'] not in removed or old['id'] == degenerate:
            assert new == old
            continue
        rest_old = {k: v for k, v in old.items() if k not in FILLED_KEYS}
        rest_new = {k: v for k, v in new.items() if k not in FILLED_KEYS}
        assert rest_new == rest_old
        kpts = np.asarray(new['keypoints'], np.float64).reshape(17, 3)
        assert (kpts[:, 2] == 2).all()  # every score >= -1e9
        assert new['num_keypoints'] == 17
        img = mmcv.imread(
            osp.join(img_dir, images[old['image_id']]['file_name']))
        x, y, w, h = old['bbox']
        expected, _ = refiner.estimate(img, np.array([[x, y, x + w, y + h]]))
        np.testing.assert_allclose(kpts[:, :2], expected[0], atol=0.01)


def test_threshold_never_overwrite_and_unlabeled(tool, stripped,
                                                 synthetic_dataset,
                                                 tiny_pose_model, tmp_path):
    ann_file, before, removed, _ = stripped
    config, checkpoint = tiny_pose_model
    img_dir = osp.join(synthetic_dataset, 'images', 'train')
    args = ['--pose-config', config, '--pose-checkpoint', checkpoint]
    raw_input = _read_bytes(ann_file)
    with pytest.raises(ValueError, match='overwrite'):
        tool.main([ann_file, img_dir, '--out', ann_file] + args)
    assert _read_bytes(ann_file) == raw_input

    # a threshold above every score writes COCO's "not labelled" zeros
    out = str(tmp_path / 'zeros.json')
    tool.main([ann_file, img_dir, '--out', out, '--kpt-thr=1e9'] + args)
    with open(out) as f:
        after = json.load(f)
    filled = [a for a in after['annotations'] if a['id'] in removed]
    assert any('keypoints' in a for a in filled)
    for ann in filled:
        if 'keypoints' in ann and ann['keypoints']:
            assert ann['keypoints'] == [0] * 51
            assert ann['num_keypoints'] == 0

    # --include-unlabeled also fills all-zero keypoints (here: the output
    # above, whose filled persons are all zeros)
    out2 = str(tmp_path / 'refilled.json')
    stats = tool.main(
        [out, img_dir, '--out', out2, '--kpt-thr=-1e9', '--include-unlabeled'
         ] + args)
    assert stats['annotated'] >= len(removed) - 1
    with open(out2) as f:
        again = json.load(f)
    for ann in again['annotations']:
        if ann['id'] in removed and ann.get('keypoints'):
            assert ann['num_keypoints'] == 17


def test_needs_keypoints_rule(tool):
    person = dict(id=1, class_id=1)
    assert tool.needs_keypoints(person, False)
    assert tool.needs_keypoints(dict(person, keypoints=[]), False)
    assert tool.needs_keypoints(dict(person, keypoints=None), False)
    zeros = dict(person, keypoints=[0] * 51)
    assert not tool.needs_keypoints(zeros, False)
    assert tool.needs_keypoints(zeros, True)
    labelled = dict(person, keypoints=[1, 2, 2] * 17)
    assert not tool.needs_keypoints(labelled, True)
    assert not tool.needs_keypoints(dict(id=2, class_id=3), True)
    bad = copy.deepcopy(dict(person, keypoints=[1, 2]))
    with pytest.raises(ValueError, match='annotation id 1'):
        tool.needs_keypoints(bad, False)


def test_image_size_mismatch_is_skipped_by_name(tool, stripped,
                                                synthetic_dataset,
                                                tiny_pose_model, tmp_path):
    ann_file, data, removed, _ = stripped
    config, checkpoint = tiny_pose_model
    first = next(a for a in data['annotations'] if a['id'] in removed)
    image = next(i for i in data['images'] if i['id'] == first['image_id'])
    image['height'] += 1  # the stored JPEG no longer matches the JSON
    bad = tmp_path / 'bad_size.json'
    bad.write_text(json.dumps(data))
    stats = tool.main([
        str(bad),
        osp.join(synthetic_dataset, 'images', 'train'), '--pose-config',
        config, '--pose-checkpoint', checkpoint, '--out',
        str(tmp_path / 'out.json')
    ])
    reasons = [s[2] for s in stats['skipped'] if s[1] == first['id']]
    assert reasons and f'image id {image["id"]}' in reasons[0]


@pytest.mark.parametrize('text, what', [('{"images": [', 'not valid JSON'),
                                        (b'\xff\xfe{}', 'not valid JSON'),
                                        ('[1, 2]', 'JSON object')])
def test_malformed_json_names_the_file(tool, tmp_path, text, what):
    """Issue 14, case 18: the file is named (before any model loads)."""
    bad = tmp_path / 'broken_anns.json'
    if isinstance(text, bytes):
        bad.write_bytes(text)
    else:
        bad.write_text(text)
    with pytest.raises(ValueError, match=what) as e:
        tool.main([
            str(bad),
            str(tmp_path), '--pose-config', 'unused.py', '--pose-checkpoint',
            'unused.pth', '--out',
            str(tmp_path / 'out.json')
        ])
    assert str(bad) in str(e.value)
    assert not (tmp_path / 'out.json').exists()
