# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
# The micro SeqRank of the parity fixtures in this folder (made by
# projects/seqrank/tools/make_parity_fixtures.py from the authors' code): the
# first release's architecture (FrcPN neck) with Swin embed 8, depths
# 1-1-2-1, heads 1-2-4-8, window 7; C = 32, 4 heads, hidden 64, 10 queries,
# 3 Fovea Module blocks, 2 ranking blocks. The FPN variant swaps the neck.
custom_imports = dict(
    imports=['posesor', 'projects.seqrank.seqrank'],
    allow_failed_imports=False)
default_scope = 'mmdet'

embed_dims = 32
num_heads = 4
hidden = 64
model = dict(
    type='SeqRank',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='mmpretrain.SwinTransformer',
        arch=dict(embed_dims=8, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8]),
        img_size=224,
        window_size=7,
        drop_path_rate=0.0,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True),
    neck=dict(type='FrcPN', in_channels=[8, 16, 32, 64], out_channels=32),
    instance_head=dict(
        type='SeqRankInstanceHead',
        positional_encoding=dict(
            type='LearnableGridPositionalEncoding', embed_dims=embed_dims),
        decoder=dict(
            type='FoveaDecoder',
            num_queries=10,
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=hidden,
            num_blocks=3),
        num_points=1024),
    rank_head=dict(
        type='SequentialRankingHead',
        ranker=dict(
            type='SequentialRanker',
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=hidden,
            num_blocks=2)))
