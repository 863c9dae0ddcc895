# A tiny QAGNet on the synthetic pose-driven SOR dataset (CPU): the backbone,
# input sizes, optimizer and 1000-iteration budget of the other projects'
# tiny configs (configs/posesor_tiny_synthetic.py, the demo's), a 64-channel
# Mask2Former head (2 deformable encoder layers, 9 decoder layers: 3 per
# scale as the graph wants, 16 queries) and the released graph (2 layers,
# 8 final heads).
#   python tools/train.py projects/qagnet/configs/qagnet_tiny_synthetic.py
_base_ = [
    '../../../configs/_base_/datasets/synthetic_pose_order.py',
    './_base_/qagnet_r50.py', '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['posesor', 'projects.qagnet.qagnet'], allow_failed_imports=False)

embed_dims = 64
num_queries = 16
model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(
            type='SORBatchMultiScaleResize',
            sizes=[(112, 112), (128, 128), (144, 144)])
    ]),
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch=dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8]),
        img_size=224,
        window_size=7,
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True),
    panoptic_head=dict(
        in_channels=[32, 64, 128, 256],
        feat_channels=embed_dims,
        out_channels=embed_dims,
        num_queries=num_queries,
        pixel_decoder=dict(
            encoder=dict(
                num_layers=2,
                layer_cfg=dict(
                    self_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
                    ffn_cfg=dict(
                        embed_dims=embed_dims, feedforward_channels=128))),
            positional_encoding=dict(num_feats=embed_dims // 2)),
        positional_encoding=dict(num_feats=embed_dims // 2),
        transformer_decoder=dict(
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
                cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=4),
                ffn_cfg=dict(embed_dims=embed_dims,
                             feedforward_channels=128)))),
    train_cfg=dict(num_points=4096),
    test_cfg=dict(max_per_image=num_queries))

# The tiny PoseSOR's recipe (configs/posesor_tiny_synthetic.py): AdamW 3e-4
# from scratch, no AMP (CPU), 1000 iterations with a x0.1 step at 800.
max_iters = 1000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=3e-4, weight_decay=1e-4, foreach=True),
    clip_grad=dict(max_norm=5.0, norm_type=2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.0),
            'level_embed': dict(decay_mult=0.0),
            'query_embed': dict(decay_mult=0.0),
            'query_feat': dict(decay_mult=0.0),
        }))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[800],
        gamma=0.1)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(
        type='CheckpointHook',
        interval=max_iters,
        by_epoch=False,
        max_keep_ckpts=1))
log_processor = dict(window_size=20)
