# Synthetic pose-driven SOR dataset, rule 'pose_order': every object is
# salient and annotated, all objects look alike, and the order is decided by
# pose alone (see posesor/datasets/synthetic.py). Generate it with
#   python tools/dataset_converters/make_synthetic_sor.py \
#       --rule pose_order --out data/synthetic_pose_order
# Evaluated with SA-SOR / SOR / MAE and the pose-order accuracy.
_base_ = './synthetic.py'

synthetic_rule = 'pose_order'
data_root = 'data/synthetic_pose_order/'
rank_key = 'category_id'
train_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = test_dataloader
test_evaluator = [
    dict(
        type='SORMetric',
        ann_file=data_root + 'synthetic_test.json',
        metric=['sa_sor', 'sor', 'mae'],
        rank_key=rank_key),
    dict(
        type='PoseOrderMetric',
        ann_file=data_root + 'synthetic_test.json',
        rank_key=rank_key),
]
val_evaluator = test_evaluator
