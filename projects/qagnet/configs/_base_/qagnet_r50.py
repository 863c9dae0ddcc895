# QAGNet with a ResNet-50 (the authors' maskformer2_R50_bs16_50ep.yaml): the
# Mask2Former of projects/mask2former_sor (mmdet's own Mask2Former: MSDeform
# Attn pixel decoder with 6 encoder layers, 9 masked-attention decoder layers,
# 100 queries, Hungarian assigner, class 2 / mask 5 / dice 5 losses, 12544
# points: the authors' Mask2Former settings) with one "salient" class.
# QAGNetHead ranks the queries with the tri-tiered nested graph (2 graph
# layers, 8 final heads) and adds the rank losses (final x5, each graph layer
# x3); QAGNetFusionHead keeps the top-100 queries scoring > 0.7 and sorts
# them by saliency.
_base_ = '../../../mask2former_sor/configs/_base_/mask2former_sor_swinl.py'
model = dict(
    # no rank classes: QAGNetHead reads the ranks itself
    data_preprocessor=dict(batch_augments=None),
    # detectron2's ResNet-50 with frozen BN, no frozen stage (FREEZE_AT 0)
    backbone=dict(
        _delete_=True,
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    panoptic_head=dict(
        type='QAGNetHead',
        in_channels=[256, 512, 1024, 2048],
        num_things_classes=1,
        graph=dict(
            type='TriTieredQueryGraph',
            num_layers=2,
            num_final_heads=8,
            negative_slope=0.2,
            attn_drop=0.2),
        loss_cls=dict(class_weight=[1.0, 0.1]),
        loss_rank=dict(type='PairwiseRankLoss', loss_weight=5.0),
        loss_side_rank=dict(type='PairwiseRankLoss', loss_weight=3.0)),
    panoptic_fusion_head=dict(type='QAGNetFusionHead', num_things_classes=1),
    # QAGNetFusionHead: the most confident queries kept (the reference's
    # TEST.DETECTIONS_PER_IMAGE), the score to keep an instance (its
    # EVALUATION.RESULT_THRESHOLD, strictly above), mask probability
    test_cfg=dict(max_per_image=100, score_thr=0.7, mask_thr=0.5))
