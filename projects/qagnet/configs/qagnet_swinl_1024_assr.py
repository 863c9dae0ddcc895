# QAGNet, Swin-Large, ASSR, 1024 x 1024 (GPU): the authors' Swin-Large
# model (maskformer2_swin_large_IN21k_384_*.yaml: window 12, drop path 0.3,
# 200 queries) and the R50 recipe.
#   python tools/train.py projects/qagnet/configs/qagnet_swinl_1024_assr.py
_base_ = './qagnet_r50_1024_assr.py'

# ImageNet-22k Swin-L, converted by
# tools/model_converters/swin_to_mmpretrain.py
pretrained = 'pretrained/swin_large_patch4_window12_384_22k_mmpretrain.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch='large',
        img_size=384,
        window_size=12,
        drop_path_rate=0.3,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    panoptic_head=dict(
        in_channels=[192, 384, 768, 1536], num_queries=200))
