# QAGNet, Swin-Base, IRSR, 1024 x 1024 (GPU): the authors' Swin-Base
# model (maskformer2_swin_base_IN21k_384_*.yaml: window 12, drop path 0.3,
# 100 queries) and the R50 recipe.
#   python tools/train.py projects/qagnet/configs/qagnet_swinb_1024_irsr.py
_base_ = './qagnet_r50_1024_irsr.py'

# ImageNet-22k Swin-B, converted by
# tools/model_converters/swin_to_mmpretrain.py
pretrained = 'pretrained/swin_base_patch4_window12_384_22k_mmpretrain.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='base',
        img_size=384,
        window_size=12,
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    panoptic_head=dict(
        in_channels=[128, 256, 512, 1024], num_queries=100))
