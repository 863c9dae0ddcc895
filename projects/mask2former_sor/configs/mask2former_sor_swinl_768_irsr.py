# Mask2Former-SOR, Swin-L, IRSR, 768 x 768 (GPU); recipe as the ASSR config.
#   bash tools/dist_train.sh \
#       projects/mask2former_sor/configs/mask2former_sor_swinl_768_irsr.py 8
_base_ = [
    './_base_/mask2former_sor_swinl.py',
    '../../../configs/_base_/datasets/irsr.py',
    '../../../configs/_base_/schedules/schedule_50k.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['posesor', 'projects.mask2former_sor.mask2former_sor'],
    allow_failed_imports=False)

# IRSR ranks more objects per image than ASSR; levels beyond K share class K.
num_ranks = 10
pretrained = 'pretrained/swin_large_patch4_window12_384_22k_mmpretrain.pth'
model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(type='SORRankLabels', num_ranks=num_ranks),
        dict(type='SORBatchMultiScaleResize', sizes={{_base_.train_sizes}})
    ]),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    panoptic_head=dict(
        num_things_classes=num_ranks,
        loss_cls=dict(class_weight=[1.0] * num_ranks + [0.1])),
    panoptic_fusion_head=dict(num_things_classes=num_ranks))

train_dataloader = dict(batch_size=4)  # per GPU, 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10000, by_epoch=False))
