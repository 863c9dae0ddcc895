# The reference's recipe for the released 768 models: AdamW 5e-5, weight
# decay 1e-4 except norms, embeddings and relative position tables, full-model
# gradient-norm clipping at 5, AMP, 50k iterations with a x0.1 step at 30k
# (its warm-up factor is 1.0, i.e. no warm-up). Batch 32 in total.
max_iters = 50000
lr_steps = [30000]

optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-5, weight_decay=1e-4),
    clip_grad=dict(max_norm=5.0, norm_type=2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            'relative_position_bias_table': dict(decay_mult=0.0),
            'absolute_pos_embed': dict(decay_mult=0.0),
            'level_embed': dict(decay_mult=0.0),
        }))

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=lr_steps,
        gamma=0.1)
]

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# the reference trains with 32 images per iteration
auto_scale_lr = dict(enable=False, base_batch_size=32)
