# SeqRank, Swin-L, IRSR, 800 x 800, as released (assets/seqrank_results/
# irsr_swinL; SA-SOR 0.576, SOR 0.822, MAE 6.20). Recipe as for ASSR.
_base_ = [
    './_base_/seqrank_swinl.py', '../../../configs/_base_/datasets/irsr.py',
    '../../../configs/_base_/schedules/schedule_30k.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['posesor', 'projects.seqrank.seqrank'],
    allow_failed_imports=False)

pretrained = 'pretrained/swin_large_patch4_window12_384_22k_mmpretrain.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

train_dataloader = dict(
    batch_size=8,  # per GPU, 4 GPUs
    dataset=dict(pipeline={{_base_.seqrank_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.seqrank_test_pipeline}}))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=1e-4))
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10000, by_epoch=False))
