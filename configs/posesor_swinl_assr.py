# PoseSOR, Swin-L, ASSR, 768 x 768: the released ASSR model's recipe
# (assets/model_cards/posesor_assr_768x768 of the reference).
# Train: 8 GPUs x 4 images (= the reference's 32 per iteration), e.g.
#   bash tools/dist_train.sh configs/posesor_swinl_assr.py 8
# Test a converted release (tools/model_converters/posesor_to_mmdet.py):
#   python tools/test.py configs/posesor_swinl_assr.py posesor_assr.pth
_base_ = [
    './_base_/models/posesor_swinl.py', './_base_/datasets/assr.py',
    './_base_/schedules/schedule_50k.py', './_base_/default_runtime.py'
]

# ImageNet-22k Swin-L converted by tools/model_converters/swin_to_mmpretrain.py
# (drop this init_cfg, e.g. --cfg-options model.backbone.init_cfg=None, to
# train from scratch or when loading a whole PoseSOR checkpoint).
pretrained = 'pretrained/swin_large_patch4_window12_384_22k_mmpretrain.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

train_dataloader = dict(batch_size=4)  # per GPU, 8 GPUs
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10000, by_epoch=False))
