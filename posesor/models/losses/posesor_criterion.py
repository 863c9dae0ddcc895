# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Matching and losses of PoseSOR (instances, pose, ranking)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.losses import (CrossEntropyLoss, DiceLoss, GIoULoss, L1Loss,
                                 SmoothL1Loss)
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData
from torch import Tensor

from ..task_modules.bbox_utils import cxcyhw_to_xyxy, xyxy_to_cxcyhw
from ..task_modules.point_sampling import (sample_grid_pixels,
                                           sample_logits_at_pixels)
from .heatmap_focal_loss import SoftmaxGaussianFocalLoss

# Matched pairs: batch index, query (or output slot) index, target index.
MatchIndices = Tuple[Tensor, Tensor, Tensor]

# A COCO visibility flag above this marks a labelled (visible) joint.
VISIBLE_THRESHOLD = 0.5
# Box losses are skipped for these output keys when absent.
BOX_KEY = 'bboxes'
INSTANCE_BOX_INDEX_CHOICES = ('query', 'target')


@MODELS.register_module()
class PoseSORCriterion(nn.Module):
    """Hungarian matching and every training loss of PoseSOR.

    The detector calls, in order::

        targets = criterion.prepare_targets(data_samples, size=(H, W))
        bi, qi, ti = criterion.match(instance_out, targets)
        losses = criterion.loss_instances(instance_out, targets, bi, qi, ti)
        # scatter the matched queries into slots ``[bi, ti]`` (q_mask)
        losses.update(criterion.loss_pose(joints_out, targets, bi, ti,
                                          q_mask))
        losses.update(criterion.loss_ranking(partition_out, targets, bi, ti))

    where ``(H, W)`` is the (multi-scale) size the image batch was resized
    to. Network outputs are raw logits:

    - ``instance_out``: ``masks`` (B, nq, h, w) at stride 4 and ``scores``
      (B, nq, 1) objectness; optionally ``bboxes`` (B, nq, 4) as
      ``(cx, cy, h, w)`` logits.
    - ``joints_out`` (PAI head, slots ordered like the targets, n >= the
      batch's most instances): ``keypoints`` (B, n, 17, 3) = ``(x, y,
      visibility)`` logits, ``heatmaps`` (B, n, 17, h, w), ``masks``
      (B, n, h, w) refined masks, optionally ``bboxes`` (B, n, 4)
      ``(cx, cy, h, w)`` logits.
    - ``partition_out`` (PDR head): ``partitions`` (B, n, h', w') next-target
      logits and ``ranks`` (B, n, L) rank-level logits.

    Loss keys (each already weighted): ``loss_mask``, ``loss_dice``,
    ``loss_obj`` (+ ``loss_ins_bbox``, ``loss_ins_giou`` when the decoder
    predicts boxes); ``loss_joint``, ``loss_joint_vis``, ``loss_heatmap``
    (only with ``enable_pose_losses``), ``loss_refined_mask``,
    ``loss_refined_dice``, ``loss_bbox``, ``loss_giou``; ``loss_partition``,
    ``loss_partition_dice``, ``loss_rank``. The reference's ``mask_loss`` is
    ``loss_mask + loss_dice`` (likewise for the refined masks and the
    partitions) and its ``bbox_loss`` is ``loss_bbox + loss_giou``.

    Faithful to the reference implementation:

    - masks are compared on ``num_points`` target-grid pixels drawn
      uniformly with replacement (one draw per call, shared by all pairs;
      all pixels when the grid is not larger), the prediction being the
      bilinear upsampling of its logits (read with
      :func:`mmcv.ops.point_sample` at pixel centres); loss = mean BCE +
      dice with smoothing 1 (mmdet ``CrossEntropyLoss`` + ``DiceLoss(
      naive_dice=True, eps=1)``), averaged over pairs;
    - matching: per image, mmdet's ``HungarianAssigner`` with
      ``CrossEntropyLossCost`` + ``DiceCost(eps=1)`` on a fresh point draw on
      the *un-resized* ground-truth grid plus :class:`ObjectnessCost`
      ``-sigmoid(score)``;
    - objectness: BCE with weight ``obj_pos_weight`` on matched queries and
      ``obj_neg_weight`` elsewhere, averaged over all B * nq queries;
    - joints: smooth-L1 (beta 1) between ``sigmoid(x, y)`` and the
      normalised ground truth over the visible joints of occupied slots;
      visibility BCE over all joints of matched slots; heatmaps: see
      :class:`SoftmaxGaussianFocalLoss`; without any visible joint both are
      ``0 * (...)`` of the outputs so the graph is kept;
    - boxes: L1 on ``(cx, cy, h, w)`` (mean over the 4 values) + GIoU (mmdet
      ``GIoULoss``; it floors the union at ``eps`` where torchvision, used
      by the reference, adds ``eps``: a difference below 1e-6 for
      non-degenerate boxes);
    - next targets: the mask of the next instance in rank order, the
      background (1 - union of all masks) after the last one; masks and next
      targets are resized to the training size bilinearly as float maps;
    - rank: cross-entropy with the rank (1 = most salient) as class index.

    Args:
        num_points (int): Pixels sampled for mask losses and costs.
            Defaults to 12544.
        obj_pos_weight (float): Objectness BCE weight of matched queries.
            Defaults to 1.
        obj_neg_weight (float): Objectness BCE weight of the other queries.
            Defaults to 0.1.
        obj_weight (float): Weight of the objectness loss (reference
            ``CLS_COST``). Defaults to 10.
        mask_weight (float): Weight of decoder and refined mask losses
            (``MASK_COST``). Defaults to 5.
        mask_ce_weight (float): BCE weight inside mask losses and the
            matching cost (``MASK_CE_COST``). Defaults to 1.
        mask_dice_weight (float): Dice weight inside mask losses and the
            matching cost (``MASK_DICE_COST``). Defaults to 1.
        objectness_cost_weight (float): Weight of the objectness matching
            cost. Defaults to 1.
        joint_weight (float): Joint smooth-L1 weight (``JOINT_COST``).
            Defaults to 1000.
        joint_vis_weight (float): Joint visibility BCE weight
            (``JOINT_CLS_COST``). Defaults to 10.
        heatmap_weight (float): Heatmap loss weight (``HEATMAP_COST``).
            Defaults to 100.
        sigma (float): Heatmap Gaussian sigma in normalised coordinates.
            Defaults to 0.01.
        bbox_l1_weight (float): Box L1 weight (``BBOX_L1_COST``).
            Defaults to 5.
        bbox_giou_weight (float): Box GIoU weight (``BBOX_GIOU_COST``).
            Defaults to 2.
        partition_weight (float): Next-target mask loss weight
            (``PARTITION_COST``). Defaults to 5.
        rank_weight (float): Rank cross-entropy weight (``RANK_COST``).
            Defaults to 0.1.
        enable_pose_losses (bool): Supervise joints, visibility and heatmaps.
            False gives the w/o-pose-knowledge ablation. Defaults to True.
        enable_box_losses (bool): Supervise boxes when the outputs have
            ``bboxes``. Defaults to True.
        instance_box_index (str): Which index picks decoder box predictions
            for the matched pairs: ``'query'`` (correct) or ``'target'`` (the
            reference's ``[bi, ti]`` indexing, a bug that never runs with the
            released decoder, which predicts no boxes). Defaults to
            ``'query'``.
        assigner (dict, optional): Assigner config for ``TASK_UTILS``.
            Defaults to the Hungarian assigner described above.
    """

    def __init__(self,
                 num_points: int = 12544,
                 obj_pos_weight: float = 1.0,
                 obj_neg_weight: float = 0.1,
                 obj_weight: float = 10.0,
                 mask_weight: float = 5.0,
                 mask_ce_weight: float = 1.0,
                 mask_dice_weight: float = 1.0,
                 objectness_cost_weight: float = 1.0,
                 joint_weight: float = 1000.0,
                 joint_vis_weight: float = 10.0,
                 heatmap_weight: float = 100.0,
                 sigma: float = 0.01,
                 bbox_l1_weight: float = 5.0,
                 bbox_giou_weight: float = 2.0,
                 partition_weight: float = 5.0,
                 rank_weight: float = 0.1,
                 enable_pose_losses: bool = True,
                 enable_box_losses: bool = True,
                 instance_box_index: str = 'query',
                 assigner: Optional[dict] = None) -> None:
        super().__init__()
        if instance_box_index not in INSTANCE_BOX_INDEX_CHOICES:
            raise ValueError(
                f'instance_box_index must be one of '
                f'{INSTANCE_BOX_INDEX_CHOICES}, got {instance_box_index!r}')
        self.num_points = num_points
        self.obj_pos_weight = obj_pos_weight
        self.obj_neg_weight = obj_neg_weight
        self.enable_pose_losses = enable_pose_losses
        self.enable_box_losses = enable_box_losses
        self.instance_box_index = instance_box_index

        if assigner is None:
            assigner = dict(
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
                    dict(type='ObjectnessCost', weight=objectness_cost_weight)
                ])
        self.assigner = TASK_UTILS.build(assigner)

        self.loss_mask = CrossEntropyLoss(
            use_sigmoid=True, loss_weight=mask_weight * mask_ce_weight)
        self.loss_dice = self._dice(mask_weight * mask_dice_weight)
        self.loss_partition = CrossEntropyLoss(
            use_sigmoid=True, loss_weight=partition_weight * mask_ce_weight)
        self.loss_partition_dice = self._dice(partition_weight *
                                              mask_dice_weight)
        self.loss_obj = CrossEntropyLoss(
            use_sigmoid=True, loss_weight=obj_weight)
        self.loss_joint = SmoothL1Loss(beta=1.0, loss_weight=joint_weight)
        self.loss_joint_vis = CrossEntropyLoss(
            use_sigmoid=True, loss_weight=joint_vis_weight)
        self.loss_heatmap = SoftmaxGaussianFocalLoss(
            sigma=sigma, loss_weight=heatmap_weight)
        self.loss_bbox = L1Loss(loss_weight=bbox_l1_weight)
        self.loss_giou = GIoULoss(eps=1e-7, loss_weight=bbox_giou_weight)
        self.loss_rank = CrossEntropyLoss(
            use_sigmoid=False, loss_weight=rank_weight)

    @staticmethod
    def _dice(weight: float) -> DiceLoss:
        """Dice loss ``1 - (2 sum(p t) + 1) / (sum(p) + sum(t) + 1)``."""
        return DiceLoss(
            use_sigmoid=True,
            activate=True,
            naive_dice=True,
            eps=1.0,
            loss_weight=weight)

    # ------------------------------------------------------------------
    # targets
    # ------------------------------------------------------------------
    @staticmethod
    def _canvas_shape(batch_data_samples: Sequence[DetDataSample],
                      mask_shapes: List[Tuple[int, int]]) -> Tuple[int, int]:
        """Extent of the padded input batch the targets are drawn on."""
        heights, widths = [], []
        for sample, mask_shape in zip(batch_data_samples, mask_shapes):
            shape = sample.metainfo.get('batch_input_shape',
                                        sample.metainfo.get('img_shape'))
            if shape is None:
                shape = mask_shape
            heights += [int(shape[0]), int(mask_shape[0])]
            widths += [int(shape[1]), int(mask_shape[1])]
        return max(heights), max(widths)

    @staticmethod
    def _masks_tensor(gt_instances: InstanceData,
                      device: torch.device) -> Tensor:
        """Ground-truth masks as a float tensor, shape (n, h, w)."""
        masks = gt_instances.masks
        if isinstance(masks, Tensor):
            return masks.to(device=device, dtype=torch.float32)
        if isinstance(masks, np.ndarray):
            return torch.from_numpy(masks).to(device, torch.float32)
        return masks.to_tensor(dtype=torch.float32, device=device)

    @staticmethod
    def _sample_name(sample: DetDataSample) -> str:
        """Identify a sample in error messages."""
        meta = sample.metainfo
        return (f"image id {meta.get('img_id', '?')} "
                f"({meta.get('img_path', 'unknown file')})")

    @staticmethod
    def build_next_targets(masks: Tensor, ranks: Tensor) -> Tensor:
        """Next-target ("partition") maps of one image.

        The next target of a ranked instance is the mask of the instance
        ranked right after it; the least salient ranked instance's next
        target is the background, ``1 - union(masks)``. Unranked instances
        (rank 0, kept with ``SORDataset(keep_unranked=True)``) are not in
        the chain and get an all-zero map, as in the reference (its chain is
        built from objects with rank > 0 and zero-padded).

        Args:
            masks (Tensor): Binary masks, shape (n, H, W).
            ranks (Tensor): Ranks, 1 = most salient, 0 = unranked, shape
                (n,).

        Returns:
            Tensor: Next-target maps aligned with ``masks``, shape (n, H, W).
        """
        next_targets = torch.zeros_like(masks)
        ranked = torch.nonzero(ranks > 0).flatten()
        if ranked.numel() == 0:
            return next_targets
        order = ranked[torch.sort(ranks[ranked], stable=True)[1]]
        union = (masks.sum(dim=0) > 0.5).to(masks.dtype)
        next_targets[order[:-1]] = masks[order[1:]]
        next_targets[order[-1]] = 1.0 - union
        return next_targets

    def prepare_targets(
            self,
            batch_data_samples: Sequence[DetDataSample],
            size: Union[int, Tuple[int, int]],
            device: Optional[torch.device] = None) -> Dict[str, Tensor]:
        """Pad the batch's ground truth and resize it as the reference does.

        Coordinates are normalised by the padded input extent (the
        ``batch_input_shape`` metainfo set by ``DetDataPreprocessor``, else
        the largest ``img_shape``); it equals ``img_shape`` when the batch
        is not padded, as in the reference. Masks smaller than that extent
        are zero-padded at the bottom and right.

        Args:
            batch_data_samples (Sequence[DetDataSample]): Samples whose
                ``gt_instances`` carry ``masks``, ``bboxes`` (xyxy pixels),
                ``ranks`` (1..n), ``keypoints`` (n, 17, 2) pixels and
                ``keypoints_visible`` (n, 17).
            size (int | tuple[int, int]): Training size ``(H, W)`` the image
                batch is resized to.
            device (torch.device, optional): Target device. Defaults to the
                device of the first sample's ``ranks``.

        Returns:
            dict[str, Tensor]: With n = the most instances in an image:

            - ``masks``: float masks resized to ``size``, (B, n, H, W);
            - ``next_targets``: next-target maps resized to ``size``,
              (B, n, H, W);
            - ``match_masks``: bool masks on the padded input extent, used
              for matching, (B, n, Hc, Wc);
            - ``keypoints``: normalised ``(x, y, visible)``, (B, n, 17, 3);
            - ``bboxes``: normalised xyxy clamped to [0, 1], (B, n, 4);
            - ``ranks``: long ranks, 0 for padding, (B, n);
            - ``valid``: bool, True for real instances, (B, n).
        """
        if isinstance(size, int):
            size = (size, size)
        size = (int(size[0]), int(size[1]))
        if device is None:
            ranks0 = batch_data_samples[0].gt_instances.ranks
            device = ranks0.device if isinstance(ranks0, Tensor) else 'cpu'
        masks_list = [
            self._masks_tensor(s.gt_instances, device)
            for s in batch_data_samples
        ]
        canvas = self._canvas_shape(batch_data_samples,
                                    [tuple(m.shape[-2:]) for m in masks_list])
        num_imgs = len(batch_data_samples)
        n_max = max(len(m) for m in masks_list)

        match_masks = torch.zeros((num_imgs, n_max) + canvas, device=device)
        next_targets = torch.zeros_like(match_masks)
        keypoints, bboxes = None, torch.zeros((num_imgs, n_max, 4),
                                              device=device)
        ranks = torch.zeros((num_imgs, n_max), dtype=torch.long, device=device)
        valid = torch.zeros((num_imgs, n_max), dtype=torch.bool, device=device)
        scale = torch.tensor([canvas[1], canvas[0]],
                             dtype=torch.float32,
                             device=device)
        for b, (sample,
                masks) in enumerate(zip(batch_data_samples, masks_list)):
            gt = sample.gt_instances
            num, height, width = masks.shape
            inst_ranks = torch.as_tensor(gt.ranks, device=device).long()
            if inst_ranks.numel() != num:
                raise ValueError(f'{self._sample_name(sample)}: {num} masks '
                                 f'but {inst_ranks.numel()} ranks')
            if num > 0 and int(inst_ranks.min()) < 0:
                raise ValueError(f'{self._sample_name(sample)}: ranks must be '
                                 f'>= 1 (0 = unranked), got '
                                 f'{inst_ranks.tolist()}')
            padded = masks.new_zeros((num, ) + canvas)
            padded[:, :height, :width] = masks
            match_masks[b, :num] = padded
            next_targets[b, :num] = self.build_next_targets(padded, inst_ranks)
            ranks[b, :num] = inst_ranks
            valid[b, :num] = True

            kpts = torch.as_tensor(gt.keypoints, device=device).float()
            vis = torch.as_tensor(gt.keypoints_visible, device=device)
            if keypoints is None:
                keypoints = torch.zeros((num_imgs, n_max, kpts.shape[1], 3),
                                        device=device)
            keypoints[b, :num, :, :2] = kpts[..., :2] / scale
            keypoints[b, :num, :, 2] = (vis.float()
                                        > VISIBLE_THRESHOLD).float()

            boxes = gt.bboxes
            boxes = getattr(boxes, 'tensor', boxes)
            boxes = torch.as_tensor(boxes, device=device).float()
            bboxes[b, :num] = (boxes.reshape(-1, 4) / scale.repeat(2)).clamp(
                0.0, 1.0)

        if keypoints is None:
            keypoints = torch.zeros((num_imgs, n_max, 0, 3), device=device)
        if n_max > 0:
            resized_masks = F.interpolate(
                match_masks, size=size, mode='bilinear', align_corners=False)
            resized_next = F.interpolate(
                next_targets, size=size, mode='bilinear', align_corners=False)
        else:
            resized_masks = match_masks.new_zeros((num_imgs, 0) + size)
            resized_next = resized_masks.clone()
        return dict(
            masks=resized_masks,
            next_targets=resized_next,
            match_masks=match_masks > 0.5,
            keypoints=keypoints,
            bboxes=bboxes,
            ranks=ranks,
            valid=valid,
            sample_names=[self._sample_name(s) for s in batch_data_samples])

    # ------------------------------------------------------------------
    # matching
    # ------------------------------------------------------------------
    @torch.no_grad()
    def match(self, instance_out: Dict[str, Tensor],
              targets: Dict[str, Tensor]) -> MatchIndices:
        """One-to-one matching of queries and ground-truth instances.

        Args:
            instance_out (dict[str, Tensor]): ``masks`` (B, nq, h, w) and
                ``scores`` (B, nq, 1) logits.
            targets (dict[str, Tensor]): Output of :meth:`prepare_targets`.

        Returns:
            tuple[Tensor, Tensor, Tensor]: ``bi``, ``qi``, ``ti``, each of
            shape (M,): batch, query and target indices of the matched pairs,
            images in order and queries ascending within an image.
        """
        pred_masks = instance_out['masks'].detach()
        pred_scores = instance_out['scores'].detach()
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
            result = self.assigner.assign(pred_instances, gt_instances)
            query_inds = torch.nonzero(result.gt_inds > 0).squeeze(1)
            bis.append(torch.full_like(query_inds, b))
            qis.append(query_inds)
            tis.append(result.gt_inds[query_inds] - 1)
        if not bis:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return empty, empty.clone(), empty.clone()
        return torch.cat(bis), torch.cat(qis), torch.cat(tis)

    # ------------------------------------------------------------------
    # losses
    # ------------------------------------------------------------------
    def _point_mask_losses(self, logits: Tensor, gt_masks: Tensor,
                           ce_loss: nn.Module,
                           dice_loss: nn.Module) -> Tuple[Tensor, Tensor]:
        """Point-sampled BCE and dice between matched pairs.

        Args:
            logits (Tensor): Low-resolution mask logits, shape (M, h, w).
            gt_masks (Tensor): Targets on the training grid, (M, H, W).
            ce_loss (nn.Module): Weighted BCE loss.
            dice_loss (nn.Module): Weighted dice loss.

        Returns:
            tuple[Tensor, Tensor]: Weighted scalar BCE and dice losses.
        """
        if logits.shape[0] == 0:
            zero = logits.sum() * 0.0
            return zero, zero.clone()
        grid = tuple(gt_masks.shape[-2:])
        ys, xs = sample_grid_pixels(grid[0], grid[1], self.num_points,
                                    logits.device)
        pred_points = sample_logits_at_pixels(logits, ys, xs, grid)
        gt_points = gt_masks[:, ys, xs].to(pred_points.dtype)
        return (ce_loss(pred_points,
                        gt_points), dice_loss(pred_points, gt_points))

    def _box_losses(self, box_logits: Tensor,
                    gt_boxes: Tensor) -> Tuple[Tensor, Tensor]:
        """L1 on ``(cx, cy, h, w)`` and GIoU of matched boxes.

        Args:
            box_logits (Tensor): ``(cx, cy, h, w)`` logits, shape (M, 4).
            gt_boxes (Tensor): Normalised xyxy boxes, shape (M, 4).

        Returns:
            tuple[Tensor, Tensor]: Weighted scalar L1 and GIoU losses.
        """
        if box_logits.shape[0] == 0:
            zero = box_logits.sum() * 0.0
            return zero, zero.clone()
        pred_xyxy = cxcyhw_to_xyxy(box_logits.float().sigmoid())
        gt_boxes = gt_boxes.to(pred_xyxy.dtype)
        loss_l1 = self.loss_bbox(
            xyxy_to_cxcyhw(pred_xyxy), xyxy_to_cxcyhw(gt_boxes))
        loss_giou = self.loss_giou(pred_xyxy, gt_boxes)
        return loss_l1, loss_giou

    def loss_instances(self, instance_out: Dict[str, Tensor],
                       targets: Dict[str, Tensor], bi: Tensor, qi: Tensor,
                       ti: Tensor) -> Dict[str, Tensor]:
        """Losses of the salient instance decoder.

        Args:
            instance_out (dict[str, Tensor]): ``masks`` (B, nq, h, w),
                ``scores`` (B, nq, 1), optionally ``bboxes`` (B, nq, 4).
            targets (dict[str, Tensor]): Output of :meth:`prepare_targets`.
            bi, qi, ti (Tensor): Matched indices from :meth:`match`, (M,).

        Returns:
            dict[str, Tensor]: ``loss_mask``, ``loss_dice``, ``loss_obj`` and,
            with decoder boxes, ``loss_ins_bbox``, ``loss_ins_giou``.
        """
        losses = dict()
        losses['loss_mask'], losses['loss_dice'] = self._point_mask_losses(
            instance_out['masks'][bi, qi], targets['masks'][bi, ti],
            self.loss_mask, self.loss_dice)

        scores = instance_out['scores']
        if scores.dim() == 2:
            scores = scores.unsqueeze(-1)
        labels = torch.zeros_like(scores)
        labels[bi, qi, 0] = 1.0
        weights = torch.full_like(scores, self.obj_neg_weight)
        weights[bi, qi, 0] = self.obj_pos_weight
        losses['loss_obj'] = self.loss_obj(scores, labels, weight=weights)

        if BOX_KEY in instance_out and self.enable_box_losses:
            index = qi if self.instance_box_index == 'query' else ti
            losses['loss_ins_bbox'], losses['loss_ins_giou'] = \
                self._box_losses(instance_out[BOX_KEY][bi, index],
                                 targets['bboxes'][bi, ti])
        return losses

    @staticmethod
    def _slot_mask(bi: Tensor, ti: Tensor, shape: Tuple[int, int],
                   device: torch.device) -> Tensor:
        """Occupancy of the output slots ``[bi, ti]``, shape (B, n, 1)."""
        q_mask = torch.zeros(shape + (1, ), device=device)
        q_mask[bi, ti, 0] = 1.0
        return q_mask

    def loss_pose(self,
                  joints_out: Dict[str, Tensor],
                  targets: Dict[str, Tensor],
                  bi: Tensor,
                  ti: Tensor,
                  q_mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Losses of the pose-aware actor interaction (PAI) head.

        Args:
            joints_out (dict[str, Tensor]): ``keypoints`` (B, n, K, 3),
                ``heatmaps`` (B, n, K, h, w), ``masks`` (B, n, h, w),
                optionally ``bboxes`` (B, n, 4); slot ``[b, t]`` holds the
                query matched to target ``t`` of image ``b``.
            targets (dict[str, Tensor]): Output of :meth:`prepare_targets`.
            bi, ti (Tensor): Matched batch and target indices, (M,).
            q_mask (Tensor, optional): Slot occupancy, (B, n, 1). Defaults
                to the slots ``[bi, ti]``.

        Returns:
            dict[str, Tensor]: ``loss_joint``, ``loss_joint_vis``,
            ``loss_heatmap`` (when pose losses are enabled),
            ``loss_refined_mask``, ``loss_refined_dice`` and, with boxes,
            ``loss_bbox``, ``loss_giou``.
        """
        losses = dict()
        keypoints = joints_out['keypoints']
        gt_keypoints = targets['keypoints']
        num_slots = keypoints.shape[1]
        n_max = gt_keypoints.shape[1]
        if num_slots < n_max:
            raise ValueError(f'PAI outputs have {num_slots} slots but the '
                             f'batch has up to {n_max} instances')
        if q_mask is None:
            q_mask = self._slot_mask(bi, ti, tuple(keypoints.shape[:2]),
                                     keypoints.device)

        if self.enable_pose_losses:
            keypoints = keypoints[:, :n_max]
            gt_xy = gt_keypoints[..., :2]
            gt_vis = gt_keypoints[..., 2] > VISIBLE_THRESHOLD  # B, n, K
            if bi.numel() > 0:
                losses['loss_joint_vis'] = self.loss_joint_vis(
                    keypoints[bi, ti, :, 2], gt_vis[bi, ti].float())
            else:
                losses['loss_joint_vis'] = keypoints.sum() * 0.0
            supervised = gt_vis & (q_mask[:, :n_max, 0] > 0.5)[..., None]
            j_b, j_n, j_k = torch.nonzero(supervised, as_tuple=True)
            if j_b.numel() > 0:
                coords = gt_xy[j_b, j_n, j_k]
                losses['loss_joint'] = self.loss_joint(
                    keypoints[j_b, j_n, j_k, :2].sigmoid(), coords)
                losses['loss_heatmap'] = self.loss_heatmap(
                    joints_out['heatmaps'][j_b, j_n, j_k], coords)
            else:
                # No visible joint: zero losses that keep the graph.
                losses['loss_joint'] = keypoints[..., :2].sigmoid().mean() * 0
                losses['loss_heatmap'] = \
                    joints_out['heatmaps'].sigmoid().mean() * 0.0

        losses['loss_refined_mask'], losses['loss_refined_dice'] = \
            self._point_mask_losses(joints_out['masks'][bi, ti],
                                    targets['masks'][bi, ti],
                                    self.loss_mask, self.loss_dice)
        if BOX_KEY in joints_out and self.enable_box_losses:
            losses['loss_bbox'], losses['loss_giou'] = self._box_losses(
                joints_out[BOX_KEY][bi, ti], targets['bboxes'][bi, ti])
        return losses

    def loss_ranking(self, partition_out: Dict[str, Tensor],
                     targets: Dict[str, Tensor], bi: Tensor,
                     ti: Tensor) -> Dict[str, Tensor]:
        """Losses of the pose-driven ranking (PDR) head.

        Args:
            partition_out (dict[str, Tensor]): ``partitions`` (B, n, h, w)
                next-target logits and ``ranks`` (B, n, L) logits.
            targets (dict[str, Tensor]): Output of :meth:`prepare_targets`.
            bi, ti (Tensor): Matched batch and target indices, (M,).

        Returns:
            dict[str, Tensor]: ``loss_partition``, ``loss_partition_dice``
            and ``loss_rank``.
        """
        losses = dict()
        losses['loss_partition'], losses['loss_partition_dice'] = \
            self._point_mask_losses(partition_out['partitions'][bi, ti],
                                    targets['next_targets'][bi, ti],
                                    self.loss_partition,
                                    self.loss_partition_dice)
        rank_logits = partition_out['ranks'][bi, ti]
        gt_ranks = targets['ranks'][bi, ti]
        if gt_ranks.numel() == 0:
            losses['loss_rank'] = partition_out['ranks'].sum() * 0.0
            return losses
        num_levels = rank_logits.shape[-1]
        if int(gt_ranks.max()) >= num_levels:
            worst = int(gt_ranks.argmax())
            names = targets.get('sample_names')
            where = f'{names[int(bi[worst])]}: ' if names else ''
            raise ValueError(f'{where}rank {int(gt_ranks.max())} does not '
                             f'fit the {num_levels} rank levels of the PDR '
                             'head (model.pdr.max_rank_level)')
        losses['loss_rank'] = self.loss_rank(rank_logits, gt_ranks)
        return losses
