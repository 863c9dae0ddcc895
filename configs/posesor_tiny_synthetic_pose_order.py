# The tiny PoseSOR (posesor_tiny_synthetic.py: same model, schedule and
# pipelines) on the 'pose_order' synthetic data, where pose alone decides
# the order of look-alike objects (configs/_base_/datasets/
# synthetic_pose_order.py states the same data settings for other models).
# Used by `make demo`.
#   python tools/dataset_converters/make_synthetic_sor.py \
#       --rule pose_order --out data/synthetic_pose_order
#   python tools/train.py configs/posesor_tiny_synthetic_pose_order.py
_base_ = './posesor_tiny_synthetic.py'

synthetic_rule = 'pose_order'
data_root = 'data/synthetic_pose_order/'
train_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = test_dataloader
test_evaluator = [
    dict(
        type='SORMetric',
        ann_file=data_root + 'synthetic_test.json',
        metric=['sa_sor', 'sor', 'mae']),
    dict(type='PoseOrderMetric', ann_file=data_root + 'synthetic_test.json'),
]
val_evaluator = test_evaluator
