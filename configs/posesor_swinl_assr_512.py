# PoseSOR, Swin-L, ASSR, 512 x 512: the reference README's
# computation-friendly recipe (one GPU, 16 images per iteration, training
# sizes 480/512/544, 30k iterations, x0.1 at 20k).
_base_ = [
    './_base_/models/posesor_swinl.py', './_base_/datasets/assr.py',
    './_base_/schedules/schedule_30k.py', './_base_/default_runtime.py'
]

image_size = 512
pretrained = 'pretrained/swin_large_patch4_window12_384_22k_mmpretrain.pth'
model = dict(
    data_preprocessor=dict(batch_augments=[
        dict(
            type='SORBatchMultiScaleResize',
            sizes=[(480, 480), (512, 512), (544, 544)])
    ]),
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))

# The base pipelines with 512 x 512 inputs (mmengine configs cannot rebind
# the base's ``image_size``, so the lists are restated; keep them in step).
backend_args = None
color_type = 'color_ignore_orientation'  # as the base: no EXIF rotation
train_pipeline = [
    dict(
        type='LoadImageAsAnnotated',
        color_type=color_type,
        backend_args=backend_args),
    dict(type='LoadSORAnnotations'),
    dict(type='SORResize', scale=(image_size, image_size), keep_ratio=False),
    dict(type='SORRandomFlip', prob=0.5, swap_keypoint_pairs=False),
    dict(type='PackSORInputs'),
]
test_pipeline = [
    dict(
        type='LoadImageFromFile',
        color_type=color_type,
        backend_args=backend_args),
    dict(type='SORResize', scale=(image_size, image_size), keep_ratio=False),
    dict(type='LoadSORAnnotations'),
    dict(type='PackSORInputs'),
]
train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
