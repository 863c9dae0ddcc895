# SeqRank, Swin-L, ASSR, 800 x 800, as released (assets/seqrank_results/
# assr_swinL; paper: SA-SOR 0.685, SOR 0.870, MAE 7.22). Recipe: AdamW 1e-4,
# weight decay 1e-4 (none for norms, embeddings, relative position tables),
# full-model gradient clipping at 5, AMP, batch 32 (4 GPUs x 8), 30k
# iterations with a x0.1 step at 20k.
#   bash tools/dist_train.sh \
#       projects/seqrank/configs/seqrank_swinl_800_assr.py 4
# Test a converted release (projects/seqrank/tools/seqrank_to_mmdet.py):
#   python tools/test.py projects/seqrank/configs/seqrank_swinl_800_assr.py \
#       seqrank_assr_swinL.pth
_base_ = [
    './_base_/seqrank_swinl.py', '../../../configs/_base_/datasets/assr.py',
    '../../../configs/_base_/schedules/schedule_30k.py',
    '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['posesor', 'projects.seqrank.seqrank'],
    allow_failed_imports=False)

# ImageNet-22k Swin-L converted by tools/model_converters/swin_to_mmpretrain.py
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
