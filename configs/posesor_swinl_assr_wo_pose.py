# PoseSOR-w/o-Pose-Knowledge on ASSR (the reference README's "ID2"): the same
# network trained without any pose supervision (no joint, visibility or
# heatmap losses), so PAI/PDR cannot learn human-pose cues.
# The reference's PAI variant file ``pai_id2.py`` additionally drops the
# scene tokens; to load the released ID2 checkpoint add
#   --cfg-options model.pai.use_scene_tokens=False
_base_ = './posesor_swinl_assr.py'

model = dict(criterion=dict(enable_pose_losses=False))
