# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .heatmap_focal_loss import (SoftmaxGaussianFocalLoss,
                                 gaussian_focal_loss_elementwise)

__all__ = ['SoftmaxGaussianFocalLoss', 'gaussian_focal_loss_elementwise']
