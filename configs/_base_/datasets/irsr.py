# IRSR with PoseSOR's keypoint annotations (6059 train / 2929 test images).
# Layout under ``data_root``:
#   irsr_{train,test}.json, images/{train,test}/*.jpg
# IRSR has no validation split: validation runs on the test split.
dataset_type = 'SORDataset'
data_root = 'data/irsr/'  # override with --cfg-options or in your config
# The reference resizes every image to a 768 x 768 square.
image_size = 768
rank_key = 'category_id'
backend_args = None
# Read the stored pixels as they are, like the reference (PIL without EXIF
# transposition): the annotations refer to the unrotated image.
# LoadImageAsAnnotated (training) reads an image EXIF-oriented only when its
# annotation is for the rotated (displayed) size; the test pipeline keeps
# mmcv's LoadImageFromFile, which mmdet's DetInferencer looks for by name.
# LoadSORAnnotations checks the size.
color_type = 'color_ignore_orientation'

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

train_dataloader = dict(
    batch_size=8,  # posesor_swinl_irsr.py: 4 per GPU x 8 GPUs (32, as ref.)
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='irsr_train.json',
        data_prefix=dict(img='images/train/'),
        rank_key=rank_key,
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
        backend_args=backend_args))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='irsr_test.json',
        data_prefix=dict(img='images/test/'),
        rank_key=rank_key,
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
val_dataloader = test_dataloader

test_evaluator = dict(
    type='SORMetric',
    ann_file=data_root + 'irsr_test.json',
    metric=['sa_sor', 'sor', 'mae'],
    rank_key=rank_key)
val_evaluator = test_evaluator
