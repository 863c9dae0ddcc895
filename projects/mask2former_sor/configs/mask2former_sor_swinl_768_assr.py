# Mask2Former-SOR, Swin-L, ASSR, 768 x 768 (GPU). The data pipeline, the
# metric and the training recipe are PoseSOR's (configs/posesor_swinl_assr.py:
# AdamW 5e-5, batch 32 = 8 GPUs x 4, 50k iterations, step at 30k, sizes
# 704-800, AMP), so the two compare on equal terms.
#   bash tools/dist_train.sh \
#       projects/mask2former_sor/configs/mask2former_sor_swinl_768_assr.py 8
_base_ = [
    './_base_/mask2former_sor_swinl.py',
    '../../../configs/_base_/datasets/assr.py',
    '../../../configs/_base_/schedules/schedule_50k.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['posesor', 'projects.mask2former_sor.mask2former_sor'],
    allow_failed_imports=False)

# ImageNet-22k Swin-L converted by tools/model_converters/swin_to_mmpretrain.py
pretrained = 'pretrained/swin_large_patch4_window12_384_22k_mmpretrain.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

train_dataloader = dict(batch_size=4)  # per GPU, 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10000, by_epoch=False))
