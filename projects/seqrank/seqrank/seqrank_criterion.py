# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Matching and instance losses of SeqRank.

- Matching: Hungarian, per image, on ``num_points`` pixels drawn at random
  from the ground-truth grid (the predicted masks bilinearly upsampled to
  it): ``5 * BCE + 5 * dice - sigmoid(objectness)``.
- Masks: BCE and dice on a fresh random pixel draw, weight 5 each.
- Boxes (normalised, from the ground-truth masks): L1 on ``(cx, cy, h, w)``
  (weight 5) and GIoU (weight 2).
- Objectness: BCE of every query, positives (matched) weighted 1, the
  others 0.1, mean over all queries, times 10.

The ranking loss (one BCE per step of the visiting sequence) needs the
ranker and lives in the detector.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.models.losses import CrossEntropyLoss, DiceLoss, GIoULoss, L1Loss
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from torch import Tensor, nn

from posesor.models.task_modules import (cxcyhw_to_xyxy, sample_grid_pixels,
                                         sample_logits_at_pixels,
                                         xyxy_to_cxcyhw)

MatchIndices = Tuple[Tensor, Tensor, Tensor]


def boxes_from_masks(masks: Tensor) -> Tensor:
    """Normalised xyxy boxes of binary masks, as the reference computes them
    (``torchvision.ops.masks_to_boxes``, i.e. the last foreground row and
    column, divided by the grid size, clamped to [0, 1]); empty masks give
    zero boxes.

    Args:
        masks (Tensor): (n, H, W) binary masks.

    Returns:
        Tensor: (n, 4) normalised xyxy.
    """
    n, height, width = masks.shape
    boxes = masks.new_zeros((n, 4), dtype=torch.float32)
    fg = masks > 0.5
    rows, cols = fg.any(dim=2), fg.any(dim=1)
    for i in range(n):
        ys, xs = torch.nonzero(rows[i]).flatten(), torch.nonzero(
            cols[i]).flatten()
        if len(ys) == 0:
            continue
        boxes[i] = torch.stack([xs.min(),
                                ys.min(),
                                xs.max(),
                                ys.max()]).float()
    scale = boxes.new_tensor([width, height, width, height])
    return (boxes / scale).clamp(0.0, 1.0)


@MODELS.register_module()
class SeqRankCriterion(nn.Module):
    """SeqRank's matcher and instance losses.

    Args:
        num_points (int): Pixels drawn for matching and mask losses.
            Defaults to 12544.
        mask_ce_weight (float): BCE weight (loss and matching cost).
            Defaults to 5.
        mask_dice_weight (float): Dice weight (loss and matching cost).
            Defaults to 5.
        obj_weight (float): Objectness loss weight. Defaults to 10.
        obj_pos_weight (float): Weight of matched queries. Defaults to 1.
        obj_neg_weight (float): Weight of the others. Defaults to 0.1.
        bbox_l1_weight (float): Defaults to 5.
        bbox_giou_weight (float): Defaults to 2.
        rank_weight (float): Weight of the ranking loss (used by the
            detector). Defaults to 5.
    """

    def __init__(self,
                 num_points: int = 12544,
                 mask_ce_weight: float = 5.0,
                 mask_dice_weight: float = 5.0,
                 obj_weight: float = 10.0,
                 obj_pos_weight: float = 1.0,
                 obj_neg_weight: float = 0.1,
                 bbox_l1_weight: float = 5.0,
                 bbox_giou_weight: float = 2.0,
                 rank_weight: float = 5.0) -> None:
        super().__init__()
        self.num_points = num_points
        self.obj_pos_weight = obj_pos_weight
        self.obj_neg_weight = obj_neg_weight
        self.rank_weight = rank_weight
        self.assigner = TASK_UTILS.build(
            dict(
                type='HungarianAssigner',
                match_costs=[
                    dict(
                        type='CrossEntropyLossCost',
                        use_sigmoid=True,
                        weight=mask_ce_weight),
                    dict(
                        type='DiceCost',
                        pred_act=True,
                        eps=1.0,
                        naive_dice=True,
                        weight=mask_dice_weight),
                    dict(type='ObjectnessCost', weight=1.0)
                ]))
        self.loss_mask = CrossEntropyLoss(
            use_sigmoid=True, loss_weight=mask_ce_weight)
        self.loss_dice = DiceLoss(
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            loss_weight=mask_dice_weight)
        self.loss_obj = CrossEntropyLoss(
            use_sigmoid=True, loss_weight=obj_weight)
        self.loss_bbox = L1Loss(loss_weight=bbox_l1_weight)
        self.loss_giou = GIoULoss(eps=1e-7, loss_weight=bbox_giou_weight)

    @staticmethod
    def _sample_name(sample: DetDataSample) -> str:
        meta = sample.metainfo
        return (f"image id {meta.get('img_id', '?')} "
                f"({meta.get('img_path', 'unknown file')})")

    def prepare_targets(
            self,
            batch_data_samples: Sequence[DetDataSample],
            device: Optional[torch.device] = None) -> List[Dict[str, Tensor]]:
        """Masks (in rank order) and boxes of every image.

        The samples' ``gt_instances`` must be sorted most salient first
        (``SORDataset`` does so); SeqRank's visiting order is that order.

        Args:
            batch_data_samples (Sequence[DetDataSample]): Samples with
                ``gt_instances.masks``.
            device (torch.device, optional): Target device.

        Returns:
            list[dict]: Per image ``masks`` (n, H, W) float on the padded
            input extent and ``bboxes`` (n, 4) normalised xyxy.
        """
        targets = []
        for sample in batch_data_samples:
            gt = sample.gt_instances
            if 'masks' not in gt:
                raise KeyError(f'SeqRank: {self._sample_name(sample)} has no '
                               'gt masks (load them with LoadSORAnnotations)')
            masks = gt.masks
            if not isinstance(masks, Tensor):
                masks = masks.to_tensor(dtype=torch.float32, device=device)
            masks = masks.float()
            if 'ranks' in gt and len(gt.ranks) > 1:
                ranks = torch.as_tensor(gt.ranks)
                ranked = ranks[ranks > 0]
                if bool((ranked[1:] < ranked[:-1]).any()):
                    raise ValueError(
                        f'SeqRank: {self._sample_name(sample)}: ground truth '
                        f'is not in rank order ({ranks.tolist()})')
            pad_shape = sample.metainfo.get('batch_input_shape',
                                            masks.shape[-2:])
            if tuple(masks.shape[-2:]) != tuple(pad_shape):
                padded = masks.new_zeros((len(masks), *pad_shape))
                h, w = masks.shape[-2:]
                padded[:, :h, :w] = masks
                masks = padded
            targets.append(dict(masks=masks, bboxes=boxes_from_masks(masks)))
        return targets

    @torch.no_grad()
    def match(self, instance_out: Dict[str, Tensor],
              targets: List[Dict[str, Tensor]]) -> MatchIndices:
        """One-to-one matching of queries and ground-truth instances.

        Args:
            instance_out (dict[str, Tensor]): ``masks`` (B, Nq, h, w) and
                ``scores`` (B, Nq, 1) logits.
            targets (list[dict]): From :meth:`prepare_targets`.

        Returns:
            tuple[Tensor, Tensor, Tensor]: batch, query and target indices
            of the matched pairs, each (M,).
        """
        pred_masks = instance_out['masks'].detach()
        pred_scores = instance_out['scores'].detach()
        device = pred_masks.device
        bis, qis, tis = [], [], []
        for b, target in enumerate(targets):
            gt_masks = target['masks']
            if len(gt_masks) == 0:
                continue
            grid = tuple(gt_masks.shape[-2:])
            ys, xs = sample_grid_pixels(grid[0], grid[1], self.num_points,
                                        device)
            pred_points = sample_logits_at_pixels(pred_masks[b], ys, xs, grid)
            result = self.assigner.assign(
                InstanceData(
                    masks=pred_points,
                    scores=pred_scores[b].float().reshape(
                        pred_points.shape[0], -1)),
                InstanceData(
                    masks=gt_masks[:, ys, xs],
                    labels=torch.zeros(
                        len(gt_masks), dtype=torch.long, device=device)))
            query_inds = torch.nonzero(result.gt_inds > 0).squeeze(1)
            bis.append(torch.full_like(query_inds, b))
            qis.append(query_inds)
            tis.append(result.gt_inds[query_inds] - 1)
        if not bis:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return empty, empty.clone(), empty.clone()
        return torch.cat(bis), torch.cat(qis), torch.cat(tis)

    def loss_instances(self, instance_out: Dict[str, Tensor],
                       targets: List[Dict[str, Tensor]], bi: Tensor,
                       qi: Tensor, ti: Tensor) -> Dict[str, Tensor]:
        """Mask, box and objectness losses.

        Args:
            instance_out (dict[str, Tensor]): ``masks`` (B, Nq, h, w),
                ``scores`` (B, Nq, 1), ``bboxes`` (B, Nq, 4) logits.
            targets (list[dict]): From :meth:`prepare_targets`.
            bi, qi, ti (Tensor): Matched indices from :meth:`match`, (M,).

        Returns:
            dict[str, Tensor]: ``loss_mask``, ``loss_dice``, ``loss_bbox``,
            ``loss_giou``, ``loss_obj``.
        """
        losses = dict()
        logits = instance_out['masks'][bi, qi]
        if len(bi) == 0:
            zero = instance_out['masks'].sum() * 0.0
            losses.update(
                loss_mask=zero, loss_dice=zero, loss_bbox=zero, loss_giou=zero)
        else:
            gt_masks = torch.stack([
                targets[b]['masks'][t]
                for b, t in zip(bi.tolist(), ti.tolist())
            ])
            gt_boxes = torch.stack([
                targets[b]['bboxes'][t]
                for b, t in zip(bi.tolist(), ti.tolist())
            ])
            grid = tuple(gt_masks.shape[-2:])
            ys, xs = sample_grid_pixels(grid[0], grid[1], self.num_points,
                                        logits.device)
            points = sample_logits_at_pixels(logits, ys, xs, grid)
            gt_points = gt_masks[:, ys, xs].to(points.dtype)
            losses['loss_mask'] = self.loss_mask(points, gt_points)
            losses['loss_dice'] = self.loss_dice(points, gt_points)
            pred_xyxy = cxcyhw_to_xyxy(
                instance_out['bboxes'][bi, qi].float().sigmoid())
            losses['loss_bbox'] = self.loss_bbox(
                xyxy_to_cxcyhw(pred_xyxy), xyxy_to_cxcyhw(gt_boxes))
            losses['loss_giou'] = self.loss_giou(pred_xyxy, gt_boxes)

        scores = instance_out['scores']
        labels = torch.zeros_like(scores)
        labels[bi, qi, 0] = 1.0
        weights = torch.full_like(scores, self.obj_neg_weight)
        weights[bi, qi, 0] = self.obj_pos_weight
        losses['loss_obj'] = self.loss_obj(scores, labels, weight=weights)
        return losses
