# ASSR with PoseSOR's keypoint annotations (7646 train / 1436 val / 2418
# test images). Layout under ``data_root``:
#   assr_{train,val,test}.json, images/{train,val,test}/*.jpg
dataset_type = 'SORDataset'
data_root = 'data/assr/'  # override with --cfg-options or in your config
# The reference resizes every image to a square, ignoring the aspect ratio
# (INPUT.TRAIN_IMAGE_SIZE = INPUT.TEST_IMAGE_SIZE = 768).
image_size = 768
# 'category_id' (what the reference trains and tests on) or
# 'visiting_order'.
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
    # Faithful: mirror x without swapping left/right joints; set
    # swap_keypoint_pairs=True for the semantically correct variant.
    dict(type='SORRandomFlip', prob=0.5, swap_keypoint_pairs=False),
    dict(type='PackSORInputs'),
]
test_pipeline = [
    dict(
        type='LoadImageFromFile',
        color_type=color_type,
        backend_args=backend_args),
    dict(type='SORResize', scale=(image_size, image_size), keep_ratio=False),
    # after the resize: ground truth stays at the original resolution
    dict(type='LoadSORAnnotations'),
    dict(type='PackSORInputs'),
]

train_dataloader = dict(
    batch_size=32,  # the reference's SOLVER.IMS_PER_BATCH for ASSR
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='assr_train.json',
        data_prefix=dict(img='images/train/'),
        rank_key=rank_key,
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='assr_val.json',
        data_prefix=dict(img='images/val/'),
        rank_key=rank_key,
        test_mode=True,
        pipeline=test_pipeline,
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
        ann_file='assr_test.json',
        data_prefix=dict(img='images/test/'),
        rank_key=rank_key,
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))

val_evaluator = dict(
    type='SORMetric',
    ann_file=data_root + 'assr_val.json',
    metric=['sa_sor', 'sor', 'mae'],
    rank_key=rank_key)
test_evaluator = dict(
    type='SORMetric',
    ann_file=data_root + 'assr_test.json',
    metric=['sa_sor', 'sor', 'mae'],
    rank_key=rank_key)
