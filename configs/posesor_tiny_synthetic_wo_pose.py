# The tiny synthetic PoseSOR without pose knowledge (no joint, visibility or
# heatmap supervision): the ablation `make demo` compares against.
_base_ = './posesor_tiny_synthetic.py'

model = dict(criterion=dict(enable_pose_losses=False))
