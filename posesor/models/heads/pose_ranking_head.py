# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR's pose-ranking head: PAI + PDR on the chosen queries, and their
losses.

The chosen decoder queries (matched ones in training, kept ones at
inference; see :class:`~posesor.models.task_modules.QuerySlots`) are packed
into padded slots, Pose-Aware Interaction turns them into joint and instance
tokens (predicting keypoints, heatmaps, refined masks and boxes) and
Pose-Driven Ranking predicts rank logits and next-target partitions.
"""
from typing import Dict, Optional

import torch
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from ..task_modules.box_losses import box_losses
from ..task_modules.point_sampling import point_mask_losses
from ..task_modules.query_slots import QuerySlots
from ..task_modules.sor_targets import VISIBLE_THRESHOLD
from .pose_source import (POSE_SOURCE_GT, POSE_SOURCE_PREDICTED,
                          TEST_POSE_SOURCES, TRAIN_POSE_SOURCES,
                          check_pose_source, keypoint_joint_tokens)

FeatDict = Dict[str, Tensor]
PADDING_QUERY_POS_CHOICES = ('zeros', 'randn')


def _mask_ce(weight: float) -> dict:
    return dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=weight)


def _dice(weight: float) -> dict:
    return dict(
        type='DiceLoss',
        use_sigmoid=True,
        activate=True,
        naive_dice=True,
        eps=1.0,
        loss_weight=weight)


@MODELS.register_module()
class PoseRankingHead(BaseModule):
    """Pose-ranking head of PoseSOR (PAI + PDR).

    Outputs (a dict of logits, slot ``[b, t]`` holding a chosen query):
    ``keypoints`` (B, n, K, 3) (x, y, visibility), ``heatmaps``
    (B, n, K, H4, W4), ``masks`` (B, n, H4, W4), ``bboxes`` (B, n, 4)
    (cx, cy, h, w), ``partitions`` (B, n, H8, W8) next targets and
    ``ranks`` (B, n, L).

    Losses (faithful to the reference): ``loss_joint`` (smooth-L1 between
    ``sigmoid(x, y)`` and the normalised visible joints of occupied slots),
    ``loss_joint_vis`` (visibility BCE over all joints of matched slots),
    ``loss_heatmap`` (see ``SoftmaxGaussianFocalLoss``); without any visible
    joint both are ``0 * (...)`` of the outputs so the graph is kept.
    ``loss_refined_mask`` + ``loss_refined_dice`` and ``loss_partition`` +
    ``loss_partition_dice`` on sampled points (as the instance head);
    ``loss_bbox`` (L1 on cx, cy, h, w) + ``loss_giou``; ``loss_rank``
    (cross-entropy with the rank as class). A loss set to ``None`` is off
    (e.g. the pose losses for the w/o-pose-knowledge ablation).

    Args:
        pai (dict): ``PoseAwareInteraction`` config (``num_joints`` is
            filled in from ``num_keypoints``).
        pdr (dict): ``PoseDrivenRanking`` config (likewise).
        num_keypoints (int): Joints per instance (the dataset's keypoints).
        num_points (int): Pixels sampled for the mask losses.
            Defaults to 12544.
        padding_query_pos (str): What fills the query positions of padded
            slots: 'zeros' (default; outputs of kept queries do not depend
            on the padding) or 'randn' (the reference draws them at random).
        ignore_unlabelled_poses (bool): Leave persons without keypoints
            (``pose_labelled`` False in the targets) out of the joint,
            visibility and heatmap losses, for datasets without poses.
            Defaults to False (faithful: they train as "no joint visible").
        train_pose_source (str): Where PDR's pose comes from in training:
            'predicted' (default, the reference: PAI's joint tokens) or
            'gt' (teacher forcing: tokens built from the matched
            ground-truth keypoints, see :mod:`.pose_source`).
        test_pose_source (str): The same at test: 'predicted' (default),
            'gt' (oracle; the detector matches the kept instances to the
            ground truth) or 'external' (keypoints given with the data
            samples, e.g. from mmpose; see :class:`PoseSOR`).
        loss_* (dict, optional): Loss configs built with ``MODELS.build``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 pai: ConfigType,
                 pdr: ConfigType,
                 num_keypoints: int,
                 num_points: int = 12544,
                 padding_query_pos: str = 'zeros',
                 ignore_unlabelled_poses: bool = False,
                 train_pose_source: str = POSE_SOURCE_PREDICTED,
                 test_pose_source: str = POSE_SOURCE_PREDICTED,
                 loss_joint: OptConfigType = dict(
                     type='SmoothL1Loss', beta=1.0, loss_weight=1000.0),
                 loss_joint_vis: OptConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=10.0),
                 loss_heatmap: OptConfigType = dict(
                     type='SoftmaxGaussianFocalLoss',
                     sigma=0.01,
                     loss_weight=100.0),
                 loss_refined_mask: ConfigType = _mask_ce(5.0),
                 loss_refined_dice: ConfigType = _dice(5.0),
                 loss_bbox: OptConfigType = dict(
                     type='L1Loss', loss_weight=5.0),
                 loss_giou: OptConfigType = dict(
                     type='GIoULoss', eps=1e-7, loss_weight=2.0),
                 loss_partition: ConfigType = _mask_ce(5.0),
                 loss_partition_dice: ConfigType = _dice(5.0),
                 loss_rank: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=False,
                     loss_weight=0.1),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if padding_query_pos not in PADDING_QUERY_POS_CHOICES:
            raise ValueError('padding_query_pos must be one of '
                             f'{PADDING_QUERY_POS_CHOICES}, got '
                             f'{padding_query_pos!r}')
        self.pai = MODELS.build(dict(pai, num_joints=num_keypoints))
        self.pdr = MODELS.build(dict(pdr, num_joints=num_keypoints))
        self.num_keypoints = num_keypoints
        self.num_points = num_points
        self.padding_query_pos = padding_query_pos
        self.ignore_unlabelled_poses = ignore_unlabelled_poses
        self.train_pose_source = check_pose_source(
            train_pose_source, TRAIN_POSE_SOURCES,
            'model.rank_head.train_pose_source')
        self.test_pose_source = check_pose_source(
            test_pose_source, TEST_POSE_SOURCES,
            'model.rank_head.test_pose_source')
        pose_losses = (loss_joint, loss_joint_vis, loss_heatmap)
        if any(cfg is None for cfg in pose_losses) and \
                not all(cfg is None for cfg in pose_losses):
            raise ValueError('loss_joint, loss_joint_vis and loss_heatmap '
                             'are switched off together (all None)')
        self.with_pose_losses = loss_joint is not None
        self._check_pose_pathways()
        box_cfgs = (loss_bbox, loss_giou)
        if (loss_bbox is None) != (loss_giou is None):
            raise ValueError('loss_bbox and loss_giou are switched off '
                             'together (both None)')
        self.with_box_losses = loss_bbox is not None
        for name, cfg in zip(('loss_joint', 'loss_joint_vis', 'loss_heatmap',
                              'loss_bbox', 'loss_giou'),
                             pose_losses + box_cfgs):
            setattr(self, name, None if cfg is None else MODELS.build(cfg))
        self.loss_refined_mask = MODELS.build(loss_refined_mask)
        self.loss_refined_dice = MODELS.build(loss_refined_dice)
        self.loss_partition = MODELS.build(loss_partition)
        self.loss_partition_dice = MODELS.build(loss_partition_dice)
        self.loss_rank = MODELS.build(loss_rank)

    def _check_pose_pathways(self) -> None:
        """Refuse a PAI/PDR pairing that leaves parameters without a loss
        (they stop DDP training) or PDR without its joint tokens."""
        if self.pai.head.with_pose_outputs != self.with_pose_losses:
            raise ValueError(
                'model.rank_head.pai.with_pose_outputs must be '
                f'{self.with_pose_losses} when the pose losses (loss_joint, '
                'loss_joint_vis, loss_heatmap) are '
                f'{"on" if self.with_pose_losses else "off"}: keypoint and '
                'heatmap predictors are built exactly when a loss trains '
                'them')
        if self.pdr.use_directions and not self.pai.output_joints:
            raise ValueError('model.rank_head.pdr.use_directions reads the '
                             'joint tokens: set '
                             'model.rank_head.pai.output_joints=True')

    def init_weights(self) -> None:
        """Initialise PAI and PDR (Xavier-uniform linear maps)."""
        super().init_weights()
        self.pai.init_weights()
        self.pdr.init_weights()

    def forward(self,
                feats: FeatDict,
                instance_outputs: Dict,
                slots: QuerySlots,
                keypoints: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """PAI then PDR on the chosen queries (outputs: class docstring).

        Args:
            feats (dict[str, Tensor]): Neck maps by level.
            instance_outputs (dict): The instance head's ``query``,
                ``query_pos`` (B, Nq, C) and ``feats_pe``.
            slots (QuerySlots): Chosen queries and their slots.
            keypoints (Tensor, optional): (B, m, K, 3) normalised
                ``(x, y, visible)`` of the first m <= n slots: PDR reads
                joint tokens built from them (see :mod:`.pose_source`).
                None (default) gives PDR PAI's joint tokens.
        """
        query, query_pos = instance_outputs['query'], \
            instance_outputs['query_pos']
        b = query.shape[0]
        bi, qi, ti = slots.batch_inds, slots.query_inds, slots.slot_inds
        packed = slots.pack(query[bi, qi], b)
        if self.padding_query_pos == 'randn':
            packed_pos = torch.randn_like(packed)
        else:
            packed_pos = torch.zeros_like(packed)
        packed_pos[bi, ti] = query_pos[bi, qi]
        query_mask = slots.slot_mask(b).to(query.dtype)

        pai_out = self.pai(packed, packed_pos, feats,
                           instance_outputs['feats_pe'], query_mask)
        query, joints = pai_out.pop('query'), pai_out.pop('joints')
        if keypoints is not None:
            joints = self._given_joint_tokens(keypoints, joints, query, feats,
                                              instance_outputs['feats_pe'])
        pdr_out = self.pdr(query, joints, feats, query_mask)
        return dict(**pai_out, **pdr_out)

    def _given_joint_tokens(self, keypoints: Tensor, joints: Tensor,
                            query: Tensor, feats: FeatDict,
                            feats_pe: FeatDict) -> Tensor:
        """PDR's joint tokens from (B, m, K, 3) keypoints of the first m
        slots (the other slots keep PAI's (B, n, K, C) tokens)."""
        b, n, k, _ = joints.shape
        if keypoints.shape[0] != b or keypoints.shape[2] != k or \
                keypoints.shape[1] > n:
            raise ValueError(f'keypoints {tuple(keypoints.shape)} do not fit '
                             f'{b} images x {n} slots x {k} joints')
        padded = keypoints.new_zeros((b, n, k, 3))
        padded[:, :keypoints.shape[1]] = keypoints
        key = self.pai.feat_key
        return keypoint_joint_tokens(padded, joints, query,
                                     self.pai.joint_embed, feats[key],
                                     feats_pe[key])

    def predict(self,
                feats: FeatDict,
                instance_outputs: Dict,
                slots: QuerySlots,
                keypoints: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Outputs for the kept queries; the same as :meth:`forward`."""
        return self(feats, instance_outputs, slots, keypoints)

    def loss(self, feats: FeatDict, instance_outputs: Dict,
             targets: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Run on the matched queries and compute the losses.

        Args:
            feats (dict[str, Tensor]): Neck maps by level.
            instance_outputs (dict): The instance head's training outputs,
                with the matching under ``slots``.
            targets (dict[str, Tensor]): The batch's targets.

        Returns:
            dict[str, Tensor]: The weighted losses.
        """
        slots = instance_outputs['slots']
        # teacher forcing: the slots hold the GT instances in their order
        keypoints = targets['keypoints'] \
            if self.train_pose_source == POSE_SOURCE_GT else None
        outputs = self(feats, instance_outputs, slots, keypoints)
        return self.loss_by_outputs(outputs, targets, slots)

    def loss_by_outputs(self, outputs: Dict[str, Tensor],
                        targets: Dict[str, Tensor],
                        slots: QuerySlots) -> Dict[str, Tensor]:
        """The losses of given outputs (see :meth:`loss`)."""
        losses = self.loss_pose(outputs, targets, slots)
        losses.update(self.loss_ranking(outputs, targets, slots))
        return losses

    def loss_pose(self,
                  outputs: Dict[str, Tensor],
                  targets: Dict[str, Tensor],
                  slots: QuerySlots,
                  query_mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """PAI's losses: joints, visibility, heatmaps, refined masks, boxes.

        Args:
            outputs (dict[str, Tensor]): ``keypoints``, ``heatmaps``,
                ``masks``, ``bboxes`` with slots ordered like the targets.
            targets (dict[str, Tensor]): The batch's targets.
            slots (QuerySlots): The matched queries.
            query_mask (Tensor, optional): Slot occupancy (B, n, 1).
                Defaults to the matched slots.

        Returns:
            dict[str, Tensor]: The weighted losses.
        """
        bi, ti = slots.batch_inds, slots.slot_inds
        losses = dict()
        # the refined masks exist in every variant (keypoints only with
        # the pose losses)
        num_slots = outputs['masks'].shape[1]
        gt_keypoints = targets['keypoints']
        n_max = gt_keypoints.shape[1]
        if num_slots < n_max:
            raise ValueError(f'PAI outputs have {num_slots} slots '
                             f'but the batch has up to {n_max} instances')
        if query_mask is None:
            query_mask = slots.slot_mask(outputs['masks'].shape[0])
        if self.with_pose_losses:
            keypoints = outputs['keypoints'][:, :n_max]
            gt_xy = gt_keypoints[..., :2]
            gt_vis = gt_keypoints[..., 2] > VISIBLE_THRESHOLD  # B, n, K
            occupied = query_mask[:, :n_max, 0] > 0.5  # B, n
            vis_b, vis_t = bi, ti
            if self.ignore_unlabelled_poses and 'pose_labelled' in targets:
                occupied = occupied & targets['pose_labelled']
                keep = targets['pose_labelled'][bi, ti]
                vis_b, vis_t = bi[keep], ti[keep]
            if vis_b.numel() > 0:
                losses['loss_joint_vis'] = self.loss_joint_vis(
                    keypoints[vis_b, vis_t, :, 2], gt_vis[vis_b,
                                                          vis_t].float())
            else:
                losses['loss_joint_vis'] = keypoints.sum() * 0.0
            supervised = gt_vis & occupied[..., None]
            j_b, j_n, j_k = torch.nonzero(supervised, as_tuple=True)
            if j_b.numel() > 0:
                coords = gt_xy[j_b, j_n, j_k]
                losses['loss_joint'] = self.loss_joint(
                    keypoints[j_b, j_n, j_k, :2].sigmoid(), coords)
                losses['loss_heatmap'] = self.loss_heatmap(
                    outputs['heatmaps'][j_b, j_n, j_k], coords)
            else:
                # No visible joint: zero losses that keep the graph.
                losses['loss_joint'] = keypoints[..., :2].sigmoid().mean() * 0
                losses['loss_heatmap'] = \
                    outputs['heatmaps'].sigmoid().mean() * 0.0
        losses['loss_refined_mask'], losses['loss_refined_dice'] = \
            point_mask_losses(outputs['masks'][bi, ti],
                              targets['masks'][bi, ti], self.num_points,
                              self.loss_refined_mask, self.loss_refined_dice)
        if self.with_box_losses and 'bboxes' in outputs:
            box_logits = outputs['bboxes'][bi, ti]
            losses.update(
                box_losses(box_logits, targets['bboxes'][bi, ti],
                           self.loss_bbox, self.loss_giou))
        return losses

    def loss_ranking(self, outputs: Dict[str, Tensor], targets: Dict[str,
                                                                     Tensor],
                     slots: QuerySlots) -> Dict[str, Tensor]:
        """PDR's losses: next-target partitions and ranks.

        Args:
            outputs (dict[str, Tensor]): ``partitions`` (B, n, h, w) and
                ``ranks`` (B, n, L) logits.
            targets (dict[str, Tensor]): The batch's targets.
            slots (QuerySlots): The matched queries.

        Returns:
            dict[str, Tensor]: ``loss_partition``, ``loss_partition_dice``
            and ``loss_rank``.
        """
        bi, ti = slots.batch_inds, slots.slot_inds
        losses = dict()
        losses['loss_partition'], losses['loss_partition_dice'] = \
            point_mask_losses(outputs['partitions'][bi, ti],
                              targets['next_targets'][bi, ti],
                              self.num_points, self.loss_partition,
                              self.loss_partition_dice)
        rank_logits = outputs['ranks'][bi, ti]
        gt_ranks = targets['ranks'][bi, ti]
        if gt_ranks.numel() == 0:
            losses['loss_rank'] = outputs['ranks'].sum() * 0.0
            return losses
        num_levels = rank_logits.shape[-1]
        if int(gt_ranks.max()) >= num_levels:
            worst = int(gt_ranks.argmax())
            names = targets.get('sample_names')
            where = f'{names[int(bi[worst])]}: ' if names else ''
            raise ValueError(f'{where}rank {int(gt_ranks.max())} does not '
                             f'fit the {num_levels} rank levels of the PDR '
                             'head (model.rank_head.pdr.max_rank_level)')
        losses['loss_rank'] = self.loss_rank(rank_logits, gt_ranks)
        return losses
