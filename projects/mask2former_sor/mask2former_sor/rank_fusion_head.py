# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Ranked salient instances from Mask2Former's rank-level classes.

Each query's softmax over the K rank classes and no-object gives

- its objectness ``1 - p(no-object)`` (the instance's ``scores``),
- its expected rank ``E[r] = sum_k k * p(k) / sum_k p(k)``, k = 1..K (the
  rank given that the query is an object).

Queries whose objectness reaches ``score_thr`` and whose mask is not empty
are kept (at most ``max_per_image``, the most confident first) and sorted by
expected rank, so ``pred_instances`` are ranked like PoseSOR's: most
salient first, ``ranks`` 1..n, ``rank_scores = 1 / E[r]`` (higher = more
salient), and ``SORMetric``, the inferencer and the visualiser read them
unchanged.
"""
import torch
import torch.nn.functional as F
from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from mmdet.registry import MODELS
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData
from torch import Tensor

DEFAULT_TEST_CFG = dict(score_thr=0.5, max_per_image=100, mask_thr=0.5)


def expected_ranks(rank_probs: Tensor) -> Tensor:
    """Expected rank level given that a query is an object.

    Args:
        rank_probs (Tensor): (N, K) probabilities of ranks 1..K (the
            no-object column removed; rows need not sum to 1).

    Returns:
        Tensor: (N,) expected ranks in [1, K].
    """
    levels = torch.arange(
        1,
        rank_probs.shape[-1] + 1,
        device=rank_probs.device,
        dtype=rank_probs.dtype)
    mass = rank_probs.sum(dim=-1).clamp(min=torch.finfo(rank_probs.dtype).tiny)
    return (rank_probs * levels).sum(dim=-1) / mass


@MODELS.register_module()
class SORRankFusionHead(MaskFormerFusionHead):
    """Turn Mask2Former's rank-class outputs into ranked salient instances.

    Configure Mask2Former's ``test_cfg`` with ``instance_on=True``,
    ``panoptic_on=False``, ``semantic_on=False`` and, optionally,
    ``score_thr`` (objectness to keep a query, 0.5), ``max_per_image``
    (100) and ``mask_thr`` (mask probability, 0.5). ``num_things_classes``
    is the number K of rank levels; there are no stuff classes.
    """

    def instance_postprocess(self, mask_cls: Tensor,
                             mask_pred: Tensor) -> InstanceData:
        """Rank one image's queries.

        Args:
            mask_cls (Tensor): (Nq, K + 1) class logits, no-object last.
            mask_pred (Tensor): (Nq, H, W) mask logits at the output size.

        Returns:
            InstanceData: ``masks`` (n, H, W) bool, ``scores`` (objectness),
            ``expected_ranks``, ``rank_scores`` (``1 / expected_ranks``),
            ``ranks`` (1..n), ``labels`` (zeros: one salient class),
            ``rank_labels`` (most likely rank level, 1..K), ``bboxes``
            (n, 4) xyxy pixels and ``query_indices``; most salient first.
        """
        cfg = {**DEFAULT_TEST_CFG, **(self.test_cfg or {})}
        probs = F.softmax(mask_cls.float(), dim=-1)
        rank_probs = probs[:, :-1]
        objectness = rank_probs.sum(dim=-1)
        exp_ranks = expected_ranks(rank_probs)
        masks = mask_pred.sigmoid() > cfg['mask_thr']

        keep = (objectness >= cfg['score_thr']) & masks.flatten(1).any(dim=1)
        candidates = torch.nonzero(keep).flatten()
        by_score = torch.sort(
            objectness[candidates], descending=True, stable=True).indices
        candidates = candidates[by_score][:cfg['max_per_image']]
        # ascending expected rank; equal ranks keep the confidence order
        order = candidates[torch.sort(exp_ranks[candidates],
                                      stable=True).indices]

        num = len(order)
        results = InstanceData()
        results.masks = masks[order]
        results.scores = objectness[order]
        results.expected_ranks = exp_ranks[order]
        results.rank_scores = 1.0 / exp_ranks[order]
        results.ranks = torch.arange(1, num + 1, device=order.device)
        results.labels = torch.zeros(
            num, dtype=torch.long, device=order.device)
        results.rank_labels = rank_probs[order].argmax(dim=-1) + 1
        results.bboxes = mask2bbox(results.masks)
        results.query_indices = order
        return results
