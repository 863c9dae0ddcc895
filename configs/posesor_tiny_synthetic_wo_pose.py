# The tiny synthetic PoseSOR without pose knowledge, for the pose ablation
# (tools/analysis_tools/pose_ablation.py): everything as in
# posesor_tiny_synthetic.py except
# - no pose supervision: no joint, joint-visibility or heatmap losses;
# - no pose pathways: PAI's joint tokens neither interact with the features
#   and each other nor form sub-pose tokens (the reference's ablation
#   ``pai_id8``), and PDR relates instances without pose-derived directional
#   cues (the reference's ablation ``pdr_ri``);
# - no keypoint/heatmap predictors and no joint tokens: no loss would reach
#   them (under DDP an unreached parameter stops training).
_base_ = './posesor_tiny_synthetic.py'

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
