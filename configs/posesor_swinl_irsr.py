# PoseSOR, Swin-L, IRSR, 768 x 768: the released IRSR model's recipe
# (assets/model_cards/posesor_irsr_768x768 of the reference; trained like the
# ASSR model with 32 images per iteration: 4 GPUs x 8 in its shell.sh).
_base_ = [
    './_base_/models/posesor_swinl.py', './_base_/datasets/irsr.py',
    './_base_/schedules/schedule_50k.py', './_base_/default_runtime.py'
]

pretrained = 'pretrained/swin_large_patch4_window12_384_22k_mmpretrain.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

train_dataloader = dict(batch_size=4)  # per GPU, 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10000, by_epoch=False))
