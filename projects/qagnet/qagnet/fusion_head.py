# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""QAGNet's inference: confident queries ranked by their saliency score."""
import torch
import torch.nn.functional as F
from mmdet.models.seg_heads.panoptic_fusion_heads import MaskFormerFusionHead
from mmdet.registry import MODELS
from mmdet.structures.mask import mask2bbox
from mmengine.structures import InstanceData
from torch import Tensor

# The reference's guard of the mean mask probability of an empty mask.
MASK_AREA_EPS = 1e-6
DEFAULT_TEST_CFG = dict(max_per_image=100, score_thr=0.7, mask_thr=0.5)


@MODELS.register_module()
class QAGNetFusionHead(MaskFormerFusionHead):
    """Turn QAGNet's outputs into ranked salient instances.

    As the reference (``MaskFormer.instance_inference`` then its
    ``inference.py``): the ``max_per_image`` most confident queries (class
    probability) are scored by ``class probability x mean mask probability
    inside the mask (logit > 0)``; those scoring above ``score_thr`` are
    kept and ranked by their saliency score (most salient first). Masks are
    ``probability > mask_thr``.

    Configure Mask2Former's ``test_cfg`` with ``instance_on=True``,
    ``panoptic_on=False``, ``semantic_on=False`` and optionally
    ``max_per_image`` (100), ``score_thr`` (0.7, the reference's
    ``RESULT_THRESHOLD``) and ``mask_thr`` (0.5).
    """

    def instance_postprocess(self, mask_cls: Tensor,
                             mask_pred: Tensor) -> InstanceData:
        """Rank one image's queries.

        Args:
            mask_cls (Tensor): (Q, K + 2): class logits (no-object at K)
                and the saliency score (last column), see
                :meth:`QAGNetHead.predict`.
            mask_pred (Tensor): (Q, H, W) mask logits at the output size.

        Returns:
            InstanceData: Most salient first: ``masks`` (n, H, W) bool,
            ``scores``, ``rank_scores`` (saliency logits), ``ranks``
            (1..n), ``labels`` (class, 0), ``bboxes`` (n, 4) xyxy pixels
            and ``query_indices``.
        """
        cfg = {**DEFAULT_TEST_CFG, **(self.test_cfg or {})}
        saliency = mask_cls[:, -1].float()
        probs = F.softmax(mask_cls[:, :-1].float(), dim=-1)[:, :-1]
        num_classes = probs.shape[1]
        top = min(cfg['max_per_image'], probs.numel())
        cls_scores, top_inds = probs.flatten().topk(top)
        query_inds = torch.div(top_inds, num_classes, rounding_mode='floor')
        labels = top_inds % num_classes

        logits = mask_pred[query_inds].float()
        inside = (logits > 0).float()
        mask_scores = (logits.sigmoid() * inside).flatten(1).sum(1) / (
            inside.flatten(1).sum(1) + MASK_AREA_EPS)
        scores = cls_scores * mask_scores
        keep = torch.nonzero(scores > cfg['score_thr']).flatten()
        # most salient first; ties keep the confidence order
        keep = keep[torch.sort(
            saliency[query_inds[keep]], descending=True, stable=True).indices]

        num = len(keep)
        results = InstanceData()
        results.masks = logits[keep].sigmoid() > cfg['mask_thr']
        results.scores = scores[keep]
        results.rank_scores = saliency[query_inds[keep]]
        results.ranks = torch.arange(1, num + 1, device=keep.device)
        results.labels = labels[keep]
        results.bboxes = mask2bbox(results.masks)
        results.query_indices = query_inds[keep]
        return results
