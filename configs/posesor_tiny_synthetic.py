# A tiny PoseSOR on the synthetic pose-driven SOR dataset: the same code path
# as the Swin-L models (every module, loss and post-process), at the size of
# the parity fixture's micro model (Swin embed 32, depths 2-2-2-2, window 7,
# C = 64, 16 queries; 3.2 M parameters), 128 x 128 inputs. Trains on 2 CPU
# cores; used by the tests and by `make demo`.
#   python tools/dataset_converters/make_synthetic_sor.py --out data/synthetic
#   python tools/train.py configs/posesor_tiny_synthetic.py
_base_ = [
    './_base_/models/posesor_swinl.py', './_base_/datasets/synthetic.py',
    './_base_/schedules/schedule_50k.py', './_base_/default_runtime.py'
]

embed_dims = 64
num_heads = 4
ffn_channels = 128
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
    neck=dict(in_channels=[32, 64, 128, 256], out_channels=embed_dims),
    instance_head=dict(
        positional_encoding=dict(embed_dims=embed_dims),
        decoder=dict(
            num_queries=16,
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=ffn_channels),
        num_points=4096),
    rank_head=dict(
        pai=dict(
            embed_dims=embed_dims,
            num_heads=num_heads,
            feedforward_channels=ffn_channels),
        pdr=dict(embed_dims=embed_dims, feedforward_channels=ffn_channels),
        num_points=4096))

# From scratch on a small dataset: a larger learning rate, no AMP (CPU).
max_iters = 1000  # make demo: under 10 min on 2 idle CPU cores
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    # foreach: one fused update for all tensors (CPU default is a loop)
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
    logger=dict(interval=20),
    checkpoint=dict(
        type='CheckpointHook',
        interval=max_iters,
        by_epoch=False,
        max_keep_ckpts=1))
log_processor = dict(window_size=20)
