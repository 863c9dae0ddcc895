# Synthetic pose-driven SOR dataset, rule 'pointing' (pose decides which
# look-alike objects are salient; see posesor/datasets/synthetic.py).
# Generate it with
#   python tools/dataset_converters/make_synthetic_sor.py --out data/synthetic
# Layout: synthetic_{train,test}.json, images/{train,test}/*.jpg
dataset_type = 'SORDataset'
# the generator's rule (tools/demo.py generates the data with it)
synthetic_rule = 'pointing'
data_root = 'data/synthetic/'
# network input size (the generator's default images are 192 x 192)
image_size = 128
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

# CPU friendly: decoding is cheap, so no worker processes.
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='synthetic_train.json',
        data_prefix=dict(img='images/train/'),
        rank_key=rank_key,
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline,
        backend_args=backend_args))
test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='synthetic_test.json',
        data_prefix=dict(img='images/test/'),
        rank_key=rank_key,
        test_mode=True,
        pipeline=test_pipeline,
        backend_args=backend_args))
val_dataloader = test_dataloader

test_evaluator = dict(
    type='SORMetric',
    ann_file=data_root + 'synthetic_test.json',
    metric=['sa_sor', 'sor', 'mae'],
    rank_key=rank_key)
val_evaluator = test_evaluator
