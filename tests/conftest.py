# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Shared pytest fixtures."""
import pytest

# Small synthetic dataset used across the test suite (fast to generate).
SYNTHETIC_NUM_TRAIN = 8
SYNTHETIC_NUM_TEST = 4
SYNTHETIC_SIZE = 96
SYNTHETIC_SEED = 0


@pytest.fixture(scope='session')
def synthetic_dataset(tmp_path_factory) -> str:
    """Generate a tiny synthetic SOR dataset once per session.

    Returns:
        str: Dataset root holding ``synthetic_train.json`` (8 images),
        ``synthetic_test.json`` (4 images) and ``images/{train,test}/``
        (96 x 96 JPEGs).
    """
    from posesor.datasets.synthetic import generate_synthetic_sor
    root = tmp_path_factory.mktemp('synthetic_sor')
    generate_synthetic_sor(
        str(root),
        num_train=SYNTHETIC_NUM_TRAIN,
        num_test=SYNTHETIC_NUM_TEST,
        size=SYNTHETIC_SIZE,
        seed=SYNTHETIC_SEED)
    return str(root)


#: COCO's person class (``class_id`` of the annotations).
PERSON_CLASS = 1


@pytest.fixture(scope='session')
def pose_order_roots(tmp_path_factory) -> dict:
    """A small 'pose_order' synthetic dataset (the data of every tiny
    config: 5-7 objects an image) and a copy whose training annotations
    hold no person (every person made a plain object without joints).

    Returns:
        dict: ``people`` and ``no_people`` dataset roots (4 training and 2
        test images of 96 x 96).
    """
    import json
    import os.path as osp

    from posesor.datasets.synthetic import generate_synthetic_sor
    roots = {}
    for name in ('people', 'no_people'):
        root = str(tmp_path_factory.mktemp(f'pose_order_{name}'))
        generate_synthetic_sor(
            root, num_train=4, num_test=2, size=96, seed=0, rule='pose_order')
        roots[name] = root
    ann_file = osp.join(roots['no_people'], 'synthetic_train.json')
    with open(ann_file) as f:
        data = json.load(f)
    people = [a for a in data['annotations'] if a['class_id'] == PERSON_CLASS]
    assert people, 'the pose_order data should hold people'
    for ann in data['annotations']:
        ann.update(
            class_id=0, keypoints=[0] * len(ann['keypoints']), num_keypoints=0)
    with open(ann_file, 'w') as f:
        json.dump(data, f)
    return roots
