# The reference README's computation-friendly recipe: as schedule_50k but
# 30k iterations with a x0.1 step at 20k, batch 16 on one GPU.
_base_ = './schedule_50k.py'

max_iters = 30000
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[20000],
        gamma=0.1)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=5000)
auto_scale_lr = dict(enable=False, base_batch_size=16)
