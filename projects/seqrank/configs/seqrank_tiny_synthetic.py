# A tiny SeqRank on the synthetic pose-driven SOR dataset (CPU): the corrected
# release's architecture (FPN neck, 2 ranking blocks) at the tiny PoseSOR's
# size (Swin embed 32, depths 2-2-2-2, window 7, C = 64, 16 queries), 128 x
# 128 inputs, and the tiny PoseSOR's optimizer and 1000-iteration budget
# (configs/posesor_tiny_synthetic.py). As in SeqRank, one input size (no
# per-batch multi-scale resize).
#   python tools/train.py projects/seqrank/configs/seqrank_tiny_synthetic.py
_base_ = [
    './_base_/seqrank_swinl.py',
    '../../../configs/_base_/datasets/synthetic_pose_order.py',
    '../../../configs/_base_/schedules/schedule_50k.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['posesor', 'projects.seqrank.seqrank'],
    allow_failed_imports=False)

embed_dims = 64
num_heads = 4
ffn_channels = 128
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.SwinTransformer',
        arch=dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8]),
        img_size=224,
        window_size=7,
        drop_path_rate=0.1,
        out_indices=(0, 1, 2, 3),
        pad_small_map=True),
    neck=dict(
        type='SORFPN', in_channels=[32, 64, 128, 256],
        out_channels=embed_dims),
    instance_head=dict(
        positional_encoding=dict(embed_dims=embed_dims),
        decoder=dict(
            num_queries=16,
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=ffn_channels),
        num_points=4096),
    rank_head=dict(
        ranker=dict(
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=ffn_channels,
            num_blocks=2)))

# The tiny PoseSOR's recipe: AdamW 3e-4 from scratch, no AMP (CPU), 1000
# iterations with a x0.1 step at 800.
max_iters = 1000
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=3e-4, weight_decay=1e-4, foreach=True),
    clip_grad=dict(max_norm=5.0, norm_type=2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.0),
            'level_embed': dict(decay_mult=0.0),
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
auto_scale_lr = dict(enable=False, base_batch_size=8)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(
        type='CheckpointHook',
        interval=max_iters,
        by_epoch=False,
        max_keep_ckpts=1))
log_processor = dict(window_size=20)
