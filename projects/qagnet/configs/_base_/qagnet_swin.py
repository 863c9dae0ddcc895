# The authors' Swin-B / Swin-L QAGNet models
# (maskformer2_swin_{base,large}_IN21k_384_*.yaml: window 12, drop path 0.3,
# Swin-L with 200 queries) as model patches for the R50 configs:
#   _base_ = ['./qagnet_r50_1024_assr.py', './_base_/qagnet_swin.py']
#   model = {{_base_.qagnet_swinl}}
# The backbones start from ImageNet-22k Swin checkpoints converted by
# tools/model_converters/swin_to_mmpretrain.py.
qagnet_swin_backbone = dict(
    _delete_=True,
    type='mmpretrain.SwinTransformer',
    img_size=384,
    window_size=12,
    drop_path_rate=0.3,
    out_indices=(0, 1, 2, 3),
    pad_small_map=True)
qagnet_swinb = dict(
    backbone=dict(
        **qagnet_swin_backbone,
        arch='base',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='pretrained/'
            'swin_base_patch4_window12_384_22k_mmpretrain.pth')),
    panoptic_head=dict(in_channels=[128, 256, 512, 1024], num_queries=100))
qagnet_swinl = dict(
    backbone=dict(
        **qagnet_swin_backbone,
        arch='large',
        init_cfg=dict(
            type='Pretrained',
            checkpoint='pretrained/'
            'swin_large_patch4_window12_384_22k_mmpretrain.pth')),
    panoptic_head=dict(in_channels=[192, 384, 768, 1536], num_queries=200))
