# Mask2Former-SOR with a Swin-L backbone: mmdet's own Mask2Former,
# Mask2FormerHead (MSDeformAttn pixel decoder, 9 masked-attention decoder
# layers), Hungarian assigner and losses, unchanged. The classes are the rank
# levels: ranks 1..K are classes 0..K-1 (SORRankLabels), plus mmdet's
# no-object class; SORRankFusionHead ranks the queries by expected rank.
num_ranks = 5  # K: rank levels as classes (ASSR ranks its top 5 objects)
embed_dims = 256
num_queries = 100
train_sizes = [(704, 704), (736, 736), (768, 768), (800, 800)]
model = dict(
    type='Mask2Former',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        # RGB ImageNet statistics, inputs are loaded as BGR
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        pad_mask=True,
        mask_pad_value=0,
        batch_augments=[
            dict(type='SORRankLabels', num_ranks=num_ranks),
            dict(type='SORBatchMultiScaleResize', sizes=train_sizes)
        ]),
    backbone=dict(
        type='mmpretrain.SwinTransformer',
        arch='large',
        img_size=384,
        window_size=12,
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True),
    panoptic_head=dict(
        type='Mask2FormerHead',
        in_channels=[192, 384, 768, 1536],
        strides=[4, 8, 16, 32],
        feat_channels=embed_dims,
        out_channels=embed_dims,
        num_things_classes=num_ranks,
        num_stuff_classes=0,
        num_queries=num_queries,
        num_transformer_feat_level=3,
        pixel_decoder=dict(
            type='MSDeformAttnPixelDecoder',
            num_outs=3,
            norm_cfg=dict(type='GN', num_groups=32),
            act_cfg=dict(type='ReLU'),
            encoder=dict(
                num_layers=6,
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        embed_dims=embed_dims,
                        num_heads=8,
                        num_levels=3,
                        num_points=4,
                        dropout=0.0,
                        batch_first=True),
                    ffn_cfg=dict(
                        embed_dims=embed_dims,
                        feedforward_channels=1024,
                        num_fcs=2,
                        ffn_drop=0.0,
                        act_cfg=dict(type='ReLU', inplace=True)))),
            positional_encoding=dict(
                num_feats=embed_dims // 2, normalize=True)),
        enforce_decoder_input_project=False,
        positional_encoding=dict(num_feats=embed_dims // 2, normalize=True),
        transformer_decoder=dict(
            return_intermediate=True,
            num_layers=9,
            layer_cfg=dict(
                self_attn_cfg=dict(
                    embed_dims=embed_dims,
                    num_heads=8,
                    dropout=0.0,
                    batch_first=True),
                cross_attn_cfg=dict(
                    embed_dims=embed_dims,
                    num_heads=8,
                    dropout=0.0,
                    batch_first=True),
                ffn_cfg=dict(
                    embed_dims=embed_dims,
                    feedforward_channels=2048,
                    num_fcs=2,
                    ffn_drop=0.0,
                    act_cfg=dict(type='ReLU', inplace=True))),
            init_cfg=None),
        loss_cls=dict(
            type='CrossEntropyLoss',
            use_sigmoid=False,
            loss_weight=2.0,
            reduction='mean',
            class_weight=[1.0] * num_ranks + [0.1]),
        loss_mask=dict(
            type='CrossEntropyLoss',
            use_sigmoid=True,
            reduction='mean',
            loss_weight=5.0),
        loss_dice=dict(
            type='DiceLoss',
            use_sigmoid=True,
            activate=True,
            reduction='mean',
            naive_dice=True,
            eps=1.0,
            loss_weight=5.0)),
    panoptic_fusion_head=dict(
        type='SORRankFusionHead',
        num_things_classes=num_ranks,
        num_stuff_classes=0,
        loss_panoptic=None,
        init_cfg=None),
    train_cfg=dict(
        num_points=12544,
        oversample_ratio=3.0,
        importance_sample_ratio=0.75,
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='ClassificationCost', weight=2.0),
                dict(
                    type='CrossEntropyLossCost', weight=5.0, use_sigmoid=True),
                dict(type='DiceCost', weight=5.0, pred_act=True, eps=1.0)
            ]),
        sampler=dict(type='MaskPseudoSampler')),
    test_cfg=dict(
        panoptic_on=False,
        semantic_on=False,
        instance_on=True,
        # SORRankFusionHead: objectness to keep a query, queries kept at most,
        # mask probability threshold
        score_thr=0.5,
        max_per_image=num_queries,
        mask_thr=0.5),
    init_cfg=None)
