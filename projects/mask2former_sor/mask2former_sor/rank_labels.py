# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Rank levels as Mask2Former classes (the training targets).

Mask2Former-SOR treats the rank level of a salient instance as its class:
rank 1 (most salient) is class 0, ..., rank K is class K - 1, and mmdet's
no-object class (index K) covers everything else. The conversion runs as a
batch augment of the data preprocessor, so the SOR data pipeline stays the
one every model of this repository uses.
"""
from typing import List, Optional, Tuple

import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from torch import Tensor, nn


@MODELS.register_module()
class SORRankLabels(nn.Module):
    """Set ``gt_instances.labels`` to ``rank - 1`` (rank levels as classes).

    Use it in ``DetDataPreprocessor(batch_augments=[...])`` (batch augments
    run in training only). Unranked instances (rank 0, only present with
    ``SORDataset(keep_unranked=True)``) are removed: to a ranking model they
    are background. Ranks above ``num_ranks`` share the last class.

    Args:
        num_ranks (int): Number K of rank classes.
    """

    def __init__(self, num_ranks: int) -> None:
        super().__init__()
        if num_ranks < 1:
            raise ValueError(f'SORRankLabels: num_ranks must be >= 1, got '
                             f'{num_ranks}')
        self.num_ranks = num_ranks

    def forward(
        self,
        inputs: Tensor,
        data_samples: Optional[List[DetDataSample]] = None
    ) -> Tuple[Tensor, Optional[List[DetDataSample]]]:
        """Relabel the ground truth of a training batch.

        Args:
            inputs (Tensor): (B, 3, H, W) images, returned unchanged.
            data_samples (list[DetDataSample], optional): Samples whose
                ``gt_instances`` carry ``ranks`` (n,) (1 = most salient).

        Returns:
            tuple: ``inputs`` and the relabelled samples.
        """
        for sample in data_samples or []:
            gt = sample.gt_instances
            if 'ranks' not in gt:
                raise KeyError(
                    'SORRankLabels: gt_instances of image id '
                    f'{sample.metainfo.get("img_id")!r} have no `ranks` '
                    '(load them with LoadSORAnnotations)')
            ranks = torch.as_tensor(gt.ranks).long()
            if len(ranks) and int(ranks.min()) < 0:
                raise ValueError(
                    'SORRankLabels: negative rank in image id '
                    f'{sample.metainfo.get("img_id")!r}: {ranks.tolist()}')
            ranked = gt[ranks > 0] if bool((ranks == 0).any()) else gt
            labels = ranked.ranks.clamp(max=self.num_ranks) - 1
            ranked.labels = labels.to(torch.long)
            sample.gt_instances = ranked
        return inputs, data_samples
