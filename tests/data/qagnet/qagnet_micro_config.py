# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
# The micro QAGNet of the parity fixtures in this folder (made by
# projects/qagnet/tools/make_parity_fixtures.py from the authors' code): the
# released R50 model (projects/qagnet/configs/_base_/qagnet_r50.py) at 1/8
# width (stem 8, res2 32 channels), C = 32, 4 heads, 1 pixel-decoder encoder
# layer, decoder FFN 64, 8 queries, 2 graph layers with 3 final heads, the
# top-5 queries kept. The Swin variant swaps the backbone (embed 8, depths
# 1-1-2-1, window 7) and uses 3 graph layers.
_base_ = ['../../../projects/qagnet/configs/_base_/qagnet_r50.py']
custom_imports = dict(
    imports=['posesor', 'projects.qagnet.qagnet'], allow_failed_imports=False)
default_scope = 'mmdet'

embed_dims = 32
num_heads = 4
model = dict(
    backbone=dict(stem_channels=8, base_channels=8, init_cfg=None),
    panoptic_head=dict(
        in_channels=[32, 64, 128, 256],
        feat_channels=embed_dims,
        out_channels=embed_dims,
        num_queries=8,
        pixel_decoder=dict(
            encoder=dict(
                num_layers=1,
                layer_cfg=dict(
                    self_attn_cfg=dict(
                        embed_dims=embed_dims, num_heads=num_heads),
                    ffn_cfg=dict(embed_dims=embed_dims))),
            positional_encoding=dict(num_feats=embed_dims // 2)),
        positional_encoding=dict(num_feats=embed_dims // 2),
        transformer_decoder=dict(
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=embed_dims, num_heads=num_heads),
                cross_attn_cfg=dict(
                    embed_dims=embed_dims, num_heads=num_heads),
                ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=64))),
        graph=dict(num_layers=2, num_final_heads=3)),
    test_cfg=dict(max_per_image=5))
swin_backbone = dict(
    type='mmpretrain.SwinTransformer',
    arch=dict(embed_dims=8, depths=[1, 1, 2, 1], num_heads=[1, 2, 4, 8]),
    img_size=224,
    window_size=7,
    drop_path_rate=0.0,
    out_indices=(0, 1, 2, 3),
    pad_small_map=True)
