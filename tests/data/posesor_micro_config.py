# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
# The micro PoseSOR of the parity fixtures (../shared/parity): the released
# ASSR architecture with Swin embed 32, depths 2-2-2-2, heads 1-2-4-8,
# window 7; C=64, 4 heads, FFN 128, 16 queries; test size 128.
custom_imports = dict(imports=['posesor'], allow_failed_imports=False)
default_scope = 'mmdet'

embed_dims = 64
model = dict(
    type='PoseSOR',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=False),
    backbone=dict(
        type='mmpretrain.SwinTransformer',
        arch=dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8]),
        img_size=224,
        window_size=7,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True),
    neck=dict(
        type='SORFPN', in_channels=[32, 64, 128, 256],
        out_channels=embed_dims),
    instance_head=dict(
        type='SalientInstanceHead',
        positional_encoding=dict(
            type='LearnableGridPositionalEncoding', embed_dims=embed_dims),
        decoder=dict(
            type='SalientInstanceDecoder',
            num_queries=16,
            embed_dims=embed_dims,
            num_heads=4,
            feedforward_channels=128,
            num_blocks=6)),
    rank_head=dict(
        type='PoseRankingHead',
        num_keypoints=17,
        pai=dict(
            type='PoseAwareInteraction',
            embed_dims=embed_dims,
            num_heads=4,
            feedforward_channels=128,
            num_blocks=3,
            mask_key='res2',
            feat_key='res3',
            scene_bins=(4, 4)),
        pdr=dict(
            type='PoseDrivenRanking',
            embed_dims=embed_dims,
            feedforward_channels=128,
            num_directions=8,
            max_rank_level=20,
            mask_key='res3')),
    test_cfg=dict(
        obj_threshold=0.1,
        maskness_threshold=0.95,
        with_heatmaps=True,
        with_partitions=True))
