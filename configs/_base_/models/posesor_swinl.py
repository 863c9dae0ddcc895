# PoseSOR with a Swin-L backbone: the released ASSR/IRSR architecture of the
# reference implementation (C = 256, 8 heads, FFN 2048, 100 queries,
# 17 keypoints, 20 rank levels). 220.5 M parameters.
embed_dims = 256
num_heads = 8
ffn_channels = 2048
# COCO keypoints: the one place the joint count is set
num_keypoints = 17
max_rank_level = 20
# the reference's per-batch training sizes of the 768 model
train_sizes = [(704, 704), (736, 736), (768, 768), (800, 800)]

model = dict(
    type='PoseSOR',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        # RGB ImageNet statistics, inputs are loaded as BGR
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        batch_augments=[
            dict(type='SORBatchMultiScaleResize', sizes=train_sizes)
        ]),
    backbone=dict(
        type='mmpretrain.SwinTransformer',
        arch='large',
        img_size=384,
        window_size=12,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        # pad maps smaller than a window and keep shifting (as the
        # detection-style Swin of the reference)
        pad_small_map=True),
    neck=dict(
        type='SORFPN',
        in_channels=[192, 384, 768, 1536],
        out_channels=embed_dims),
    instance_head=dict(
        type='SalientInstanceHead',
        positional_encoding=dict(
            type='LearnableGridPositionalEncoding',
            embed_dims=embed_dims,
            grid_size=(25, 25)),
        decoder=dict(
            type='SalientInstanceDecoder',
            num_queries=100,
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=ffn_channels,
            num_blocks=6,
            key_features=('res5', 'res4', 'res3'),
            mask_key='res2'),
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
            loss_weight=5.0)),
    rank_head=dict(
        type='PoseRankingHead',
        num_keypoints=num_keypoints,
        pai=dict(
            type='PoseAwareInteraction',
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=ffn_channels,
            num_blocks=3,
            mask_key='res2',
            feat_key='res3',
            scene_bins=(4, 4)),
        pdr=dict(
            type='PoseDrivenRanking',
            embed_dims=embed_dims,
            feedforward_channels=ffn_channels,
            num_directions=8,
            max_rank_level=max_rank_level,
            mask_key='res3'),
        num_points=12544,
        loss_joint=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1000.0),
        loss_joint_vis=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=10.0),
        loss_heatmap=dict(
            type='SoftmaxGaussianFocalLoss', sigma=0.01, loss_weight=100.0),
        loss_refined_mask=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=5.0),
        loss_refined_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_giou=dict(type='GIoULoss', eps=1e-7, loss_weight=2.0),
        loss_partition=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=5.0),
        loss_partition_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0),
        loss_rank=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.1)),
    post_processor=dict(type='SORPostProcessor'),
    test_cfg=dict(obj_threshold=0.1, maskness_threshold=0.95))
