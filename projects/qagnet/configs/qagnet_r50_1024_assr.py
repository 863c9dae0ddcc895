# QAGNet, ResNet-50, ASSR, 1024 x 1024 (GPU): the authors' R50 model and
# recipe. Start from a COCO Mask2Former as the authors do (their res50.pkl),
# or convert their released model with projects/qagnet/tools/
# qagnet_to_mmdet.py to test it.
#   python tools/train.py projects/qagnet/configs/qagnet_r50_1024_assr.py
_base_ = [
    '../../../configs/_base_/datasets/assr.py', './_base_/qagnet_r50.py',
    './_base_/qagnet_1024.py', '../../../configs/_base_/default_runtime.py'
]
custom_imports = dict(
    imports=['posesor', 'projects.qagnet.qagnet'], allow_failed_imports=False)

train_dataloader = dict(
    batch_size=4, dataset=dict(pipeline={{_base_.qagnet_train_pipeline}}))
val_dataloader = dict(dataset=dict(pipeline={{_base_.qagnet_test_pipeline}}))
test_dataloader = dict(dataset=dict(pipeline={{_base_.qagnet_test_pipeline}}))
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=2000, by_epoch=False))
