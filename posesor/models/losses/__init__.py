# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .heatmap_focal_loss import (SoftmaxGaussianFocalLoss,
                                 gaussian_focal_loss_elementwise)
from .posesor_criterion import PoseSORCriterion

__all__ = [
    'PoseSORCriterion', 'SoftmaxGaussianFocalLoss',
    'gaussian_focal_loss_elementwise'
]
