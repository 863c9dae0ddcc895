# The pose ablation on the 'pose_order' synthetic data
# (tools/analysis_tools/pose_ablation.py --rule pose_order): the model of
# posesor_tiny_synthetic_pose_order.py with the switches of
# posesor_tiny_synthetic_wo_pose.py (no pose losses, no pose pathways in PAI,
# no directional cues in PDR, no keypoint/heatmap predictors nor joint
# tokens).
_base_ = './posesor_tiny_synthetic_pose_order.py'

model = dict(
    rank_head=dict(
        pai=dict(
            use_joint_interaction=False,
            use_sub_pose=False,
            with_pose_outputs=False,
            output_joints=False),
        pdr=dict(use_directions=False),
        loss_joint=None,
        loss_joint_vis=None,
        loss_heatmap=None))
