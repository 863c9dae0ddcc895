# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
import filecmp
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest

from posesor.datasets import synthetic
from posesor.datasets.sor_parsing import (decode_segmentation, load_sor_gt,
                                          load_sor_json)
from posesor.datasets.synthetic import (L_ELB, L_SHO, L_WRI, R_ELB, R_SHO,
                                        R_WRI, generate_synthetic_sor)

TOOLS = osp.join(osp.dirname(__file__), '..', '..', 'tools')


def _layout(root):
    return sorted(
        osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root)
        for f in fs)


def test_layout_and_loadable(synthetic_dataset):
    files = _layout(synthetic_dataset)
    assert 'synthetic_train.json' in files and 'synthetic_test.json' in files
    assert len([f for f in files if f.startswith('images/train/')]) == 8
    assert len([f for f in files if f.startswith('images/test/')]) == 4
    for split, n in (('train', 8), ('test', 4)):
        data = load_sor_json(
            osp.join(synthetic_dataset, f'synthetic_{split}.json'))
        assert len(data['images']) == n
        for img in data['images']:
            assert osp.isfile(
                osp.join(synthetic_dataset, 'images', split, img['file_name']))
            assert (img['height'], img['width']) == (96, 96)
        for ann in data['annotations']:
            assert ann['category_id'] == ann['visiting_order'] >= 1
            assert len(ann['keypoints']) == 51
            assert ann['area'] > 0 and ann['iscrowd'] == 0


def test_deterministic(tmp_path):
    a, b, c = (str(tmp_path / n) for n in 'abc')
    generate_synthetic_sor(a, 3, 2, size=64, seed=5)
    generate_synthetic_sor(b, 3, 2, size=64, seed=5)
    generate_synthetic_sor(c, 3, 2, size=64, seed=6)
    assert _layout(a) == _layout(b)
    for f in _layout(a):
        assert filecmp.cmp(osp.join(a, f), osp.join(b, f), shallow=False), f
    assert not filecmp.cmp(
        osp.join(a, 'synthetic_train.json'),
        osp.join(c, 'synthetic_train.json'),
        shallow=False)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='size'):
        generate_synthetic_sor(str(tmp_path), 1, 1, size=8)
    with pytest.raises(ValueError, match='split'):
        generate_synthetic_sor(str(tmp_path), 1, 1, splits=('val', ))


def _angle(u, v):
    cos = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def _pointing_arm(kpts):
    """Direction of the straight (pointing) arm: shoulder -> wrist."""
    best = None
    for sho, elb, wri in ((L_SHO, L_ELB, L_WRI), (R_SHO, R_ELB, R_WRI)):
        bend = _angle(kpts[elb] - kpts[sho], kpts[wri] - kpts[elb])
        if best is None or bend < best[0]:
            best = (bend, kpts[sho], kpts[wri] - kpts[sho])
    return best


def test_ranking_rule(tmp_path):
    size = 160
    generate_synthetic_sor(
        str(tmp_path), 40, 0, size=size, seed=1, splits=('train', ))
    groups = load_sor_gt(osp.join(tmp_path, 'synthetic_train.json'))
    n_people, n_two_plus = 0, 0
    for group in groups.values():
        anns = group['annotations']
        assert [a['category_id']
                for a in anns] == list(range(1,
                                             len(anns) + 1))
        assert anns[0]['class_id'] == 1
        heights = []
        object_classes = set()
        for i, ann in enumerate(anns):
            kpts = np.array(ann['keypoints'], float).reshape(17, 3)
            if ann['class_id'] != 1:
                object_classes.add(ann['class_id'])
                assert (kpts == 0).all()
                # an object always follows the person pointing at it
                assert anns[i - 1]['class_id'] == 1
                person = np.array(anns[i - 1]['keypoints'],
                                  float).reshape(17, 3)[:, :2]
                bend, sho, direction = _pointing_arm(person)
                assert bend < 1.0  # a straight arm
                mask = decode_segmentation(ann['segmentation'], size, size)
                ys, xs = np.nonzero(mask)
                centre = np.array([xs.mean(), ys.mean()])
                assert _angle(direction, centre - sho) < 15.0
                continue
            n_people += 1
            assert (kpts[:, 2] > 0).sum() >= 14
            heights.append(kpts[:, 1].max() - kpts[:, 1].min())
        # people ordered by size, largest first
        assert heights == sorted(heights, reverse=True)
        n_two_plus += len(heights) >= 2
        # targets all look alike (one shape per scene)
        assert len(object_classes) <= 1
    assert n_people > 40 and n_two_plus > 10


def test_scenes_have_decoys():
    n_decoys = []
    for i in range(30):
        rng = np.random.default_rng([3, i])
        scene = synthetic._sample_scene(rng, 192)
        n_decoys.append(len(scene['objects']) - scene['num_targets'])
        assert scene['num_targets'] <= len(scene['people'])
    assert np.mean([d >= 1 for d in n_decoys]) > 0.9


def test_cli(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, osp.join(TOOLS, 'dataset_converters'))
    try:
        import make_synthetic_sor
    finally:
        sys.path.pop(0)
    out = tmp_path / 'cli'
    monkeypatch.setattr(sys, 'argv', [
        'make_synthetic_sor.py', '--out',
        str(out), '--num-train', '2', '--num-test', '1', '--size', '64',
        '--seed', '3'
    ])
    make_synthetic_sor.main()
    assert 'train: 2 images' in capsys.readouterr().out
    with open(out / 'synthetic_test.json') as f:
        data = json.load(f)
    assert len(data['images']) == 1 and data['info']['seed'] == 3
