# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""User-facing inference API (inferencer, optional mmpose poses)."""
from .inferencer import (SORInferencer, instances_to_dict, list_inputs,
                         prediction_to_json)
from .pose_estimator import (SOURCE_MMPOSE, SOURCE_POSESOR, TopdownPoseRefiner,
                             build_pose_refiner, keypoint_sources,
                             rank_with_pose_estimator)
from .test_loop import (PoseRefinedTestLoop, set_test_pose_source,
                        use_pose_estimator_in_test)

__all__ = [
    'SORInferencer', 'instances_to_dict', 'list_inputs', 'prediction_to_json',
    'TopdownPoseRefiner', 'build_pose_refiner', 'keypoint_sources',
    'rank_with_pose_estimator', 'SOURCE_MMPOSE', 'SOURCE_POSESOR',
    'PoseRefinedTestLoop', 'use_pose_estimator_in_test', 'set_test_pose_source'
]
