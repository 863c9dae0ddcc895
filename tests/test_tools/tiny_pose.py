# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""A tiny mmpose top-down model with random weights, saved locally."""
import os.path as osp
from typing import Tuple

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

#: Input size (w, h) of the tiny model; heatmaps are a quarter of it.
INPUT_SIZE = (64, 64)
HEATMAP_SIZE = (16, 16)


def tiny_pose_config() -> Config:
    """An mmpose ``TopdownPoseEstimator`` config small enough for CI.

    ResNet-18 layout with 8 base channels, a 3-deconv heatmap head, 17 COCO
    keypoints, 64x64 input.

    Returns:
        Config: The mmpose config.
    """
    codec = dict(
        type='MSRAHeatmap',
        input_size=INPUT_SIZE,
        heatmap_size=HEATMAP_SIZE,
        sigma=2)
    test_pipeline = [
        dict(type='LoadImage'),
        dict(type='GetBBoxCenterScale'),
        dict(type='TopdownAffine', input_size=INPUT_SIZE),
        dict(type='PackPoseInputs')
    ]
    return Config(
        dict(
            default_scope='mmpose',
            codec=codec,
            model=dict(
                type='TopdownPoseEstimator',
                data_preprocessor=dict(
                    type='PoseDataPreprocessor',
                    mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375],
                    bgr_to_rgb=True),
                backbone=dict(
                    type='ResNet', depth=18, stem_channels=8, base_channels=8),
                head=dict(
                    type='HeatmapHead',
                    in_channels=64,
                    out_channels=17,
                    deconv_out_channels=(16, 16, 16),
                    deconv_kernel_sizes=(4, 4, 4),
                    loss=dict(type='KeypointMSELoss', use_target_weight=True),
                    decoder=codec),
                test_cfg=dict(flip_test=False)),
            test_dataloader=dict(
                batch_size=1,
                dataset=dict(
                    type='CocoDataset',
                    data_root='',
                    data_mode='topdown',
                    metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
                    pipeline=test_pipeline,
                    test_mode=True))))


def save_tiny_pose_model(out_dir: str, seed: int = 0) -> Tuple[str, str]:
    """Write the tiny config and a random-weight checkpoint to ``out_dir``.

    Args:
        out_dir (str): Existing folder.
        seed (int): Seed of the random weights.

    Returns:
        tuple[str, str]: Paths of the config and the checkpoint.
    """
    from mmpose.registry import MODELS
    cfg = tiny_pose_config()
    config_path = osp.join(out_dir, 'tiny_topdown_pose.py')
    cfg.dump(config_path)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmpose'):
        import mmpose.models  # noqa: F401
        model = MODELS.build(cfg.model)  # PyTorch's default random init
    ckpt_path = osp.join(out_dir, 'tiny_topdown_pose.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt_path)
    return config_path, ckpt_path
