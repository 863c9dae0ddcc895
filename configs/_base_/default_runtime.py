# Runtime shared by every PoseSOR config (mmdet conventions).
default_scope = 'mmdet'
custom_imports = dict(imports=['posesor'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # validation metrics are logged against the iteration (the training
    # loops are iteration based), not all at "epoch" 0; SORLoggerHook
    # writes numpy counts as numbers (mmengine's hook writes null)
    logger=dict(type='SORLoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # checkpoints are written to a temporary file and renamed, so a full
    # disk or a kill never leaves a truncated iter_N.pth
    checkpoint=dict(
        type='CheckpointHook',
        interval=5000,
        by_epoch=False,
        max_keep_ckpts=3,
        backend_args=dict(backend='local_atomic')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # test overlays keep the image's relative path: names stay unique
    visualization=dict(type='SORVisualizationHook'))
# stop on a NaN/inf loss before a checkpoint of a broken model is written
custom_hooks = [dict(type='NonFiniteLossHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='SORLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

log_level = 'INFO'
load_from = None
resume = False
