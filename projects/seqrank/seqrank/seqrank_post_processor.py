# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank's inference post-processing: PoseSOR's, in visiting order.

:class:`SeqRankPostProcessor` is :class:`~posesor.models.post_processors.
SORPostProcessor` (resizing to the output frame, mask threshold, boxes,
optional duplicate merging) with two changes: the instances are ranked in
the order the ranking head visited them (its slots), with their ranking
probabilities as ``rank_scores``, and it owns the rule that ends a visiting
sequence.
"""
from typing import Dict, Tuple

import torch
from mmdet.registry import MODELS
from torch import Tensor

from posesor.models.post_processors import SORPostProcessor
from posesor.models.post_processors.sor_post_processor import DEFAULT_TEST_CFG

#: The releases' thresholds (0.001: rank as many objects as possible), the
#: mask threshold and no duplicate merging (the reference merges nothing);
#: PoseSOR's memory bound of the full-resolution masks.
SEQRANK_TEST_CFG = dict(
    obj_threshold=0.001,
    rank_threshold=0.001,
    mask_threshold=0.5,
    merge_duplicates=False,
    maskness_threshold=0.95,
    mask_chunk_elements=DEFAULT_TEST_CFG['mask_chunk_elements'])


@MODELS.register_module()
class SeqRankPostProcessor(SORPostProcessor):
    """Post-processing of SeqRank.

    Reads the instance head's ``scores`` (B, Nq, 1) and the ranking head's
    slots (``rank_scores`` (B, n), ``masks`` (B, n, h, w), ``bboxes``
    (B, n, 4)); see :meth:`SORPostProcessor.predict` for the predictions.

    Args:
        test_cfg (dict, optional): ``obj_threshold`` and ``rank_threshold``
            (0.001; see :meth:`ends_sequence`), ``mask_threshold`` (0.5),
            ``merge_duplicates`` (False), ``maskness_threshold`` (0.95;
            the overlap ratio of :func:`~posesor.models.post_processors.
            merge_duplicates` when merging) and ``mask_chunk_elements``
            (see :class:`SORPostProcessor`).
    """

    default_test_cfg: Dict = SEQRANK_TEST_CFG

    def ends_sequence(self, objectness: Tensor, rank_probs: Tensor) -> Tensor:
        """Whether a visiting sequence ends before its chosen query: when
        the query's objectness is below ``obj_threshold`` or its ranking
        probability below ``rank_threshold``.

        Args:
            objectness (Tensor): (B,) objectness probability of each image's
                chosen query.
            rank_probs (Tensor): (B,) its ranking probability.

        Returns:
            Tensor: (B,) bool.
        """
        return ((objectness < self.test_cfg['obj_threshold']) |
                (rank_probs < self.test_cfg['rank_threshold']))

    def rank_order(self, outputs: Dict[str, Tensor]) -> Tuple[Tensor, Tensor]:
        """The visiting order (the slots' order) and the ranking
        probabilities (``outputs['rank_scores']`` (n,)) as rank scores."""
        rank_scores = outputs['rank_scores'].float()
        return rank_scores, torch.arange(
            len(rank_scores), device=rank_scores.device)
