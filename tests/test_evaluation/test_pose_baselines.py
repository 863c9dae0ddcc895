# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""JAE of the pose baselines, hand-computed on one person."""
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from posesor.evaluation.baselines import mean_pose, score_pose_baselines

H, W = 40, 50


def _ann_file(tmp_path, keypoints):
    mask = np.zeros((H, W), np.uint8)
    mask[10:20, 20:30] = 1  # centroid (24.5, 14.5)
    rle = mask_utils.encode(np.asfortranarray(mask))
    data = dict(
        images=[dict(id=1, file_name='a.jpg', height=H, width=W)],
        annotations=[
            dict(
                id=1,
                image_id=1,
                category_id=1,
                class_id=1,
                segmentation=dict(
                    size=[H, W], counts=rle['counts'].decode('ascii')),
                keypoints=keypoints)
        ])
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(data))
    return str(path)


def test_pose_baselines_hand_computed(tmp_path):
    rng = np.random.default_rng(0)
    joints = rng.uniform(0, 40, (17, 2))
    visible = np.array([2] * 10 + [0] * 7)
    kpts = np.concatenate([joints, visible[:, None]], axis=1)
    path = _ann_file(tmp_path, kpts.reshape(-1).tolist())
    centroid = np.array([24.5, 14.5])
    # the float32 joints the metric reads
    joints32 = joints.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(
        mean_pose(path), joints32 - centroid, rtol=0, atol=1e-5)
    got = score_pose_baselines(path, path)
    err = np.abs(joints32[:10] - centroid) / [W, H]
    assert got['joints_at_centroid'] == pytest.approx(
        err.sum() / (1e-6 + 10), rel=1e-6)
    # the mean pose of this one person is its own pose
    assert got['mean_pose_at_centroid'] == pytest.approx(0, abs=1e-6)
