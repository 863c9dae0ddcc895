# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR's salient-instance head: query decoder, matching and its losses.

The counterpart of mmdet's :class:`~mmdet.models.Mask2FormerHead` for
salient object ranking: it owns the positional encodings of the neck maps,
the :class:`SalientInstanceDecoder` (instance queries, objectness, masks),
the Hungarian matching of queries to the ground truth and the decoder's
losses. Its outputs (the queries, their positions, the maps' positional
encodings and the matching) feed a ranking head.
"""
from typing import Dict, Tuple

import torch
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from torch import Tensor

from posesor.utils.misc import float32_region
from ..task_modules.point_sampling import (point_mask_losses,
                                           sample_grid_pixels,
                                           sample_logits_at_pixels)
from ..task_modules.query_slots import QuerySlots

FeatDict = Dict[str, Tensor]


def mask_matching_assigner(mask_weight: float = 1.0,
                           dice_weight: float = 1.0,
                           obj_weight: float = 1.0) -> dict:
    """Config of a Hungarian assigner on mask BCE + dice (on sampled points)
    and the negative objectness probability.

    Args:
        mask_weight (float): Weight of the mask BCE cost. Defaults to 1.
        dice_weight (float): Weight of the dice cost. Defaults to 1.
        obj_weight (float): Weight of the objectness cost. Defaults to 1.

    Returns:
        dict: A ``HungarianAssigner`` config.
    """
    return dict(
        type='HungarianAssigner',
        match_costs=[
            dict(
                type='CrossEntropyLossCost',
                use_sigmoid=True,
                weight=mask_weight),
            dict(
                type='DiceCost',
                pred_act=True,
                eps=1.0,
                naive_dice=True,
                weight=dice_weight),
            dict(type='ObjectnessCost', weight=obj_weight)
        ])


#: The matching of the released model (every cost weighted 1).
DEFAULT_ASSIGNER = mask_matching_assigner()


@MODELS.register_module()
class SalientInstanceHead(BaseModule):
    """Salient-instance head of PoseSOR.

    Outputs (a dict): ``query`` (B, Nq, C) decoded queries, ``query_pos``
    (B, Nq, C) their positions, ``feats_pe`` (dict of (B, C, H, W)
    positional encodings of the neck maps), ``masks`` (B, Nq, H4, W4) and
    ``scores`` (B, Nq, 1) objectness logits.

    Losses (faithful to the reference): ``loss_mask`` + ``loss_dice`` on
    ``num_points`` target pixels drawn uniformly with replacement (the
    prediction read bilinearly upsampled), averaged over matched pairs;
    ``loss_obj``, a BCE with weight ``obj_pos_weight`` on matched queries
    and ``obj_neg_weight`` elsewhere, averaged over all B * Nq queries.
    Matching: per image, ``assigner`` on a fresh draw of ``num_points``
    pixels of the un-resized ground truth.

    Args:
        positional_encoding (dict): Per-map encoder config (e.g.
            ``LearnableGridPositionalEncoding``).
        decoder (dict): :class:`SalientInstanceDecoder` config.
        assigner (dict): Assigner config. Defaults to
            :data:`DEFAULT_ASSIGNER`.
        num_points (int): Pixels sampled for the mask losses and costs.
            Defaults to 12544.
        obj_pos_weight (float): Objectness BCE weight of matched queries.
            Defaults to 1.
        obj_neg_weight (float): Objectness BCE weight of the other queries.
            Defaults to 0.1.
        loss_obj (dict): Objectness loss (sigmoid BCE, reference weight 10).
        loss_mask (dict): Mask BCE loss (reference weight 5).
        loss_dice (dict): Mask dice loss (reference weight 5).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 positional_encoding: ConfigType,
                 decoder: ConfigType,
                 assigner: ConfigType = DEFAULT_ASSIGNER,
                 num_points: int = 12544,
                 obj_pos_weight: float = 1.0,
                 obj_neg_weight: float = 0.1,
                 loss_obj: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=10.0),
                 loss_mask: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=5.0),
                 loss_dice: ConfigType = dict(
                     type='DiceLoss',
                     use_sigmoid=True,
                     activate=True,
                     naive_dice=True,
                     eps=1.0,
                     loss_weight=5.0),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.positional_encoding = MODELS.build(positional_encoding)
        self.decoder = MODELS.build(decoder)
        self.assigner = TASK_UTILS.build(assigner)
        self.num_points = num_points
        self.obj_pos_weight = obj_pos_weight
        self.obj_neg_weight = obj_neg_weight
        self.loss_obj = MODELS.build(loss_obj)
        self.loss_mask = MODELS.build(loss_mask)
        self.loss_dice = MODELS.build(loss_dice)

    def forward(self, feats: FeatDict) -> Dict:
        """Decode the instances (see the class docstring for the outputs).

        Args:
            feats (dict[str, Tensor]): Neck maps (B, C, H, W) by level.
        """
        feats_pe = {k: self.positional_encoding(v) for k, v in feats.items()}
        return dict(feats_pe=feats_pe, **self.decoder(feats, feats_pe))

    def predict(self, feats: FeatDict) -> Dict:
        """Outputs at inference; the same as :meth:`forward`."""
        return self(feats)

    @torch.no_grad()
    def match(self, outputs: Dict, targets: Dict[str, Tensor]) -> QuerySlots:
        """One-to-one matching of queries and ground-truth instances.

        Args:
            outputs (dict): ``masks`` (B, Nq, h, w) and ``scores``
                (B, Nq, 1) logits.
            targets (dict[str, Tensor]): From
                :func:`~posesor.models.task_modules.build_sor_targets`.

        Returns:
            QuerySlots: The matched queries, images in order and queries
            ascending within an image; slot = ground-truth index; as many
            slots as the most ground-truth instances in an image.
        """
        pred_masks = outputs['masks'].detach()
        pred_scores = outputs['scores'].detach()
        gt_masks, valid = targets['match_masks'], targets['valid']
        device = pred_masks.device
        grid = tuple(gt_masks.shape[-2:])
        bis, qis, tis = [], [], []
        for b in range(pred_masks.shape[0]):
            num_gts = int(valid[b].sum())
            if num_gts == 0:
                continue
            ys, xs = sample_grid_pixels(grid[0], grid[1], self.num_points,
                                        device)
            pred_points = sample_logits_at_pixels(pred_masks[b], ys, xs, grid)
            gt_points = gt_masks[b, :num_gts][:, ys, xs].float()
            pred_instances = InstanceData(
                masks=pred_points,
                scores=pred_scores[b].float().reshape(pred_points.shape[0],
                                                      -1))
            gt_instances = InstanceData(
                masks=gt_points,
                labels=torch.zeros(num_gts, dtype=torch.long, device=device))
            # float32 costs: under AMP a near tie could match differently
            with float32_region(device):
                result = self.assigner.assign(pred_instances, gt_instances)
            query_inds = torch.nonzero(result.gt_inds > 0).squeeze(1)
            bis.append(torch.full_like(query_inds, b))
            qis.append(query_inds)
            tis.append(result.gt_inds[query_inds] - 1)
        num_slots = valid.shape[1]
        if not bis:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return QuerySlots(empty, empty.clone(), empty.clone(), num_slots)
        return QuerySlots(
            torch.cat(bis), torch.cat(qis), torch.cat(tis), num_slots)

    def loss_by_matching(self, outputs: Dict, targets: Dict[str, Tensor],
                         matched: QuerySlots) -> Dict[str, Tensor]:
        """The head's losses given the matching.

        Args:
            outputs (dict): ``masks`` (B, Nq, h, w), ``scores`` (B, Nq, 1).
            targets (dict[str, Tensor]): The batch's targets.
            matched (QuerySlots): From :meth:`match`.

        Returns:
            dict[str, Tensor]: ``loss_mask``, ``loss_dice``, ``loss_obj``.
        """
        bi, qi, ti = matched.batch_inds, matched.query_inds, matched.slot_inds
        losses = dict()
        losses['loss_mask'], losses['loss_dice'] = point_mask_losses(
            outputs['masks'][bi, qi], targets['masks'][bi, ti],
            self.num_points, self.loss_mask, self.loss_dice)
        scores = outputs['scores']
        labels = torch.zeros_like(scores)
        labels[bi, qi, 0] = 1.0
        weights = torch.full_like(scores, self.obj_neg_weight)
        weights[bi, qi, 0] = self.obj_pos_weight
        losses['loss_obj'] = self.loss_obj(scores, labels, weight=weights)
        return losses

    def loss(self, feats: FeatDict,
             targets: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], Dict]:
        """Decode, match and compute the losses.

        Args:
            feats (dict[str, Tensor]): Neck maps by level.
            targets (dict[str, Tensor]): The batch's targets.

        Returns:
            tuple[dict, dict]: The losses and the outputs (see the class
            docstring) with the matching under ``slots``
            (:class:`QuerySlots`).
        """
        outputs = self(feats)
        outputs['slots'] = self.match(outputs, targets)
        return self.loss_by_matching(outputs, targets,
                                     outputs['slots']), outputs
