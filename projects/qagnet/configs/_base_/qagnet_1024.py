# QAGNet's data pipeline and recipe (the authors' Base-COCO-Instance
# Segmentation.yaml and dataset mappers): every image resized to 1024 x 1024
# (aspect ratio ignored, no flip), batch 4, AdamW 2.5e-5 (backbone x0.1),
# weight decay 1e-4 except norms and embeddings, full-model gradient-norm
# clipping at 0.01, AMP, 28680 iterations with x0.1 steps at 11472 and
# 14340 (warm-up factor 1.0, i.e. none). A dataset config's loaders take the
# pipelines (qagnet_*_pipeline, named apart from the dataset config's own).
qagnet_image_size = 1024
max_iters = 28680
qagnet_train_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(type='LoadSORAnnotations'),
    dict(
        type='SORResize',
        scale=(qagnet_image_size, qagnet_image_size),
        keep_ratio=False),
    dict(type='PackSORInputs'),
]
qagnet_test_pipeline = [
    dict(type='LoadImageFromFile', color_type='color_ignore_orientation'),
    dict(
        type='SORResize',
        scale=(qagnet_image_size, qagnet_image_size),
        keep_ratio=False),
    # after the resize: ground truth stays at the original resolution
    dict(type='LoadSORAnnotations'),
    dict(type='PackSORInputs'),
]

optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=2.5e-5, weight_decay=1e-4),
    clip_grad=dict(max_norm=0.01, norm_type=2),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        custom_keys={
            'backbone': dict(lr_mult=0.1),
            'relative_position_bias_table': dict(decay_mult=0.0),
            'absolute_pos_embed': dict(decay_mult=0.0),
            # the decoder's nn.Embedding tables (the pixel decoder's level
            # embedding is a plain parameter in the reference: decayed)
            'query_embed': dict(decay_mult=0.0),
            'query_feat': dict(decay_mult=0.0),
            'panoptic_head.level_embed': dict(decay_mult=0.0),
        }))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=max_iters,
        by_epoch=False,
        milestones=[11472, 14340],
        gamma=0.1)
]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=4)
