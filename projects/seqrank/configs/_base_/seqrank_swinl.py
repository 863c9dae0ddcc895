# SeqRank with a Swin-L backbone, first release (assets/seqrank_results/
# {assr,irsr}_swinL of the authors' repository): FrcPN neck, 6 Fovea Module
# blocks, 6 Sequential Ranking Module blocks, C = 256, 8 heads, FFN 2048,
# 100 queries, learnable positional encodings; 800 x 800 inputs.
embed_dims = 256
num_heads = 8
ffn_channels = 2048
# the releases resize train and test images to an 800 x 800 square
seqrank_image_size = 800
model = dict(
    type='SeqRank',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        # RGB ImageNet statistics, inputs are loaded as BGR
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32),
    backbone=dict(
        type='mmpretrain.SwinTransformer',
        arch='large',
        img_size=384,
        window_size=12,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True),
    neck=dict(
        type='FrcPN',
        in_channels=[192, 384, 768, 1536],
        out_channels=embed_dims),
    instance_head=dict(
        type='SeqRankInstanceHead',
        positional_encoding=dict(
            type='LearnableGridPositionalEncoding',
            embed_dims=embed_dims,
            grid_size=(25, 25)),
        decoder=dict(
            type='FoveaDecoder',
            num_queries=100,
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=ffn_channels,
            num_blocks=6,
            key_features=('res5', 'res4', 'res3'),
            grid_sizes=((1, 1), (2, 2), (3, 3)),
            mask_key='res2'),
        # matching: SeqRankInstanceHead's default assigner, 5 * BCE + 5 *
        # dice on sampled points - objectness probability
        num_points=12544,
        obj_pos_weight=1.0,
        obj_neg_weight=0.1,
        loss_obj=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=10.0),
        loss_mask=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=5.0),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_giou=dict(type='GIoULoss', eps=1e-7, loss_weight=2.0)),
    rank_head=dict(
        type='SequentialRankingHead',
        ranker=dict(
            type='SequentialRanker',
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=ffn_channels,
            num_blocks=6),
        feature_key='res5',
        # per query and step; summed over the steps of the mean
        loss_rank=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=5.0)),
    post_processor=dict(type='SeqRankPostProcessor'),
    test_cfg=dict(obj_threshold=0.001, rank_threshold=0.001))

# SeqRank's pipelines: square resize (no aspect ratio) and horizontal flip.
seqrank_train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadSORAnnotations'),
    dict(
        type='SORResize',
        scale=(seqrank_image_size, seqrank_image_size),
        keep_ratio=False),
    dict(type='SORRandomFlip', prob=0.5, swap_keypoint_pairs=False),
    dict(type='PackSORInputs'),
]
seqrank_test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(
        type='SORResize',
        scale=(seqrank_image_size, seqrank_image_size),
        keep_ratio=False),
    dict(type='LoadSORAnnotations'),
    dict(type='PackSORInputs'),
]
