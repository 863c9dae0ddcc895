# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank's salient-instance head: PoseSOR's head with box losses.

The positional encodings, the matching (Hungarian on ``num_points`` sampled
pixels: ``5 * BCE + 5 * dice - sigmoid(objectness)`` in the releases), the
point-sampled mask BCE and dice losses and the weighted objectness BCE are
:class:`~posesor.models.heads.SalientInstanceHead`'s; this head adds L1 and
GIoU losses on the boxes the :class:`~.fovea_decoder.FoveaDecoder` predicts,
against boxes of the ground-truth masks (:func:`.boxes_from_masks`).
"""
from typing import Dict

from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import Tensor

from posesor.models.heads import SalientInstanceHead, mask_matching_assigner
from posesor.models.task_modules import QuerySlots, box_losses
from .seqrank_criterion import boxes_from_masks

#: The releases' matching: mask BCE and dice on sampled points, weighted as
#: their losses, and the negative objectness probability.
SEQRANK_ASSIGNER = mask_matching_assigner(mask_weight=5.0, dice_weight=5.0)


@MODELS.register_module()
class SeqRankInstanceHead(SalientInstanceHead):
    """:class:`~posesor.models.heads.SalientInstanceHead` whose decoder also
    predicts boxes (``bboxes`` (B, Nq, 4) ``(cx, cy, h, w)`` logits), with
    their losses.

    Args:
        assigner (dict): Assigner config. Defaults to
            :data:`SEQRANK_ASSIGNER`.
        loss_bbox (dict): L1 loss on normalised ``(cx, cy, h, w)``
            (reference weight 5).
        loss_giou (dict): GIoU loss (reference weight 2).
        **kwargs: :class:`~posesor.models.heads.SalientInstanceHead`'s
            arguments (``positional_encoding``, ``decoder``, ``num_points``,
            ``obj_pos_weight``, ``obj_neg_weight``, ``loss_obj``,
            ``loss_mask``, ``loss_dice``, ``init_cfg``).
    """

    def __init__(self,
                 assigner: ConfigType = SEQRANK_ASSIGNER,
                 loss_bbox: ConfigType = dict(type='L1Loss', loss_weight=5.0),
                 loss_giou: ConfigType = dict(
                     type='GIoULoss', eps=1e-7, loss_weight=2.0),
                 **kwargs) -> None:
        super().__init__(assigner=assigner, **kwargs)
        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_giou = MODELS.build(loss_giou)

    def loss_by_matching(self, outputs: Dict, targets: Dict[str, Tensor],
                         matched: QuerySlots) -> Dict[str, Tensor]:
        """The instance losses given the matching.

        Args:
            outputs (dict): ``masks`` (B, Nq, h, w), ``scores`` (B, Nq, 1)
                and ``bboxes`` (B, Nq, 4) logits.
            targets (dict[str, Tensor]): The batch's targets; the box
                targets are the boxes of ``match_masks``.
            matched (QuerySlots): From :meth:`match`.

        Returns:
            dict[str, Tensor]: ``loss_mask``, ``loss_dice``, ``loss_obj``,
            ``loss_bbox`` and ``loss_giou``.
        """
        losses = super().loss_by_matching(outputs, targets, matched)
        bi, qi, ti = matched.batch_inds, matched.query_inds, matched.slot_inds
        gt_boxes = boxes_from_masks(targets['match_masks'][bi, ti])
        losses.update(
            box_losses(outputs['bboxes'][bi, qi], gt_boxes, self.loss_bbox,
                       self.loss_giou))
        return losses
