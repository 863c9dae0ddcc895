# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Per-batch multi-scale training resize of PoseSOR.

The reference picks, for every training batch, one size from a fixed list
(704/736/768/800 for the 768 model) and bilinearly resizes the normalised
image batch to it. The ground truth is left in the frame of the pipeline's
output (``img_shape``): keypoints and boxes are normalised by that frame, the
Hungarian matcher compares against masks in that frame, and the targets
(``build_sor_targets``) resize the float masks bilinearly to the batch size
for the mask losses, exactly as the reference does.
"""
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from torch import Tensor, nn


@MODELS.register_module()
class SORBatchMultiScaleResize(nn.Module):
    """Resize a training batch to a size drawn uniformly from ``sizes``.

    Use it in ``DetDataPreprocessor(batch_augments=[...])`` (batch augments
    only run in training). The ground truth and the ``img_shape`` /
    ``batch_input_shape`` metainfo keep describing the frame the pipeline
    produced (``build_sor_targets`` normalises and resizes targets from it,
    see the module docstring); the size drawn is recorded as
    ``batch_resize_shape``.

    Args:
        sizes (Sequence[Sequence[int]]): Candidate (h, w) sizes.
    """

    def __init__(self, sizes: Sequence[Sequence[int]]) -> None:
        super().__init__()
        if len(sizes) == 0:
            raise ValueError('SORBatchMultiScaleResize: `sizes` is empty')
        self.sizes: List[Tuple[int, int]] = []
        for size in sizes:
            if len(size) != 2 or min(size) <= 0:
                raise ValueError('SORBatchMultiScaleResize: every entry of '
                                 f'`sizes` must be (h, w) > 0, got {size}')
            self.sizes.append((int(size[0]), int(size[1])))

    def forward(
        self,
        inputs: Tensor,
        data_samples: Optional[List[DetDataSample]] = None
    ) -> Tuple[Tensor, Optional[List[DetDataSample]]]:
        """Resize the batch.

        Args:
            inputs (Tensor): (B, 3, H, W) normalised images.
            data_samples (list[DetDataSample], optional): Their samples.

        Returns:
            tuple: the (B, 3, h, w) resized batch and the samples with
            ``batch_resize_shape`` set to (h, w).
        """
        size = self.sizes[np.random.randint(len(self.sizes))]
        if tuple(inputs.shape[-2:]) != size:
            inputs = F.interpolate(
                inputs, size=size, mode='bilinear', align_corners=False)
        if data_samples is not None:
            for sample in data_samples:
                sample.set_metainfo(dict(batch_resize_shape=size))
        return inputs, data_samples
