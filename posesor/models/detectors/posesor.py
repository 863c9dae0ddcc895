# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR: salient object ranking guided by human pose (ECCV 2024).

Pipeline (as the reference implementation): Swin backbone -> :class:`SORFPN`
neck -> positional encodings -> :class:`SalientInstanceDecoder` (instance
queries, objectness and masks) -> kept queries -> Pose-Aware Interaction
(joints, heatmaps, refined masks, boxes) -> Pose-Driven Ranking (rank logits
and next-target partitions).

Which queries go on to PAI/PDR: in training the queries matched to the ground
truth (slot = ground-truth index); at inference the queries whose objectness
is >= min(top-1, ``obj_threshold``), in ascending query order. Both are
packed into (B, n_max, C) with a (B, n_max, 1) validity mask ``q_mask``.
"""
import copy
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.structures import InstanceData
from torch import Tensor

from ..task_modules.bbox_utils import cxcyhw_to_xyxy
from .sor_postprocess import (merge_duplicates, rank_scores_from_logits,
                              select_queries)

FeatDict = Dict[str, Tensor]

DEFAULT_TEST_CFG = dict(
    obj_threshold=0.1,
    maskness_threshold=0.95,
    mask_threshold=0.5,
    merge_duplicates=True,
    with_heatmaps=False,
    with_partitions=False)


@MODELS.register_module()
class PoseSOR(BaseDetector):
    """PoseSOR salient object ranking detector.

    Args:
        backbone (dict): Backbone config (e.g. ``mmpretrain.SwinTransformer``
            with ``out_indices=(0, 1, 2, 3)``).
        neck (dict): Neck config (:class:`SORFPN`).
        positional_encoding (dict): Per-map encoder config, e.g.
            ``LearnableGridPositionalEncoding`` (the released model),
            ``SineGridPositionalEncoding`` or
            ``RandomFourierPositionalEncoding``.
        decoder (dict): :class:`SalientInstanceDecoder` config.
        pai (dict): ``PoseAwareInteraction`` config.
        pdr (dict): ``PoseDrivenRanking`` config.
        criterion (dict, optional): ``PoseSORCriterion`` config; required for
            ``loss``.
        feature_keys (Sequence[str]): Names of the neck levels, finest first.
            Defaults to ('res2', 'res3', 'res4', 'res5').
        padding_query_pos (str): What fills the query positions of padded
            slots: 'zeros' (default; outputs of kept queries do not depend on
            the padding) or 'randn' (the reference draws them at random).
        train_cfg (dict, optional): Unused; kept for mmdet's interface.
        test_cfg (dict, optional): Inference options: ``obj_threshold``
            (0.1), ``maskness_threshold`` (0.95), ``mask_threshold`` (0.5),
            ``merge_duplicates`` (True), ``with_heatmaps`` and
            ``with_partitions`` (False; add per-joint heatmap probabilities
            (n, K, H, W) / next-target partition probabilities (n, H, W) to
            the predictions).
        data_preprocessor (dict, optional): ``DetDataPreprocessor`` config.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 positional_encoding: ConfigType,
                 decoder: ConfigType,
                 pai: ConfigType,
                 pdr: ConfigType,
                 criterion: OptConfigType = None,
                 feature_keys: Sequence[str] = ('res2', 'res3', 'res4',
                                                'res5'),
                 padding_query_pos: str = 'zeros',
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if padding_query_pos not in ('zeros', 'randn'):
            raise ValueError('padding_query_pos must be "zeros" or "randn", '
                             f'got {padding_query_pos!r}')
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.positional_encoding = MODELS.build(positional_encoding)
        self.decoder = MODELS.build(decoder)
        self.pai = MODELS.build(pai)
        self.pdr = MODELS.build(pdr)
        self.criterion = MODELS.build(criterion) if criterion else None
        self.feature_keys = list(feature_keys)
        self.padding_query_pos = padding_query_pos
        self.train_cfg = train_cfg
        self.test_cfg = copy.deepcopy(DEFAULT_TEST_CFG)
        unknown = set(test_cfg or {}) - set(DEFAULT_TEST_CFG)
        if unknown:
            raise KeyError(f'PoseSOR: unknown test_cfg keys {sorted(unknown)}'
                           f'; valid keys: {sorted(DEFAULT_TEST_CFG)}')
        self.test_cfg.update(test_cfg or {})

    # ------------------------------------------------------------------
    # shared pieces
    # ------------------------------------------------------------------
    def extract_feat(self, batch_inputs: Tensor) -> FeatDict:
        """Backbone + neck.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) normalised images.

        Returns:
            dict[str, Tensor]: Neck maps (B, C, H / s, W / s) keyed by
            ``feature_keys`` (strides 4, 8, 16, 32).
        """
        feats = self.neck(self.backbone(batch_inputs))
        if len(feats) != len(self.feature_keys):
            raise ValueError(f'the neck gave {len(feats)} maps but '
                             f'feature_keys has {len(self.feature_keys)}')
        return dict(zip(self.feature_keys, feats))

    def _encode_positions(self, feats: FeatDict) -> FeatDict:
        """Positional encoding (B, C, H, W) of every map."""
        return {k: self.positional_encoding(v) for k, v in feats.items()}

    def _pack_queries(self, query: Tensor, query_pos: Tensor, bi: Tensor,
                      qi: Tensor, ti: Tensor,
                      n_max: int) -> Tuple[Tensor, Tensor, Tensor]:
        """Pack the chosen queries into padded slots.

        Args:
            query (Tensor): (B, Nq, C) decoder queries.
            query_pos (Tensor): (B, Nq, C) query positions.
            bi (Tensor): (m,) batch index of each chosen query.
            qi (Tensor): (m,) its query index.
            ti (Tensor): (m,) its slot.
            n_max (int): Number of slots.

        Returns:
            tuple: ``q`` (B, n_max, C), ``qpe`` (B, n_max, C) and ``q_mask``
            (B, n_max, 1) float, 1 for filled slots.
        """
        b, _, c = query.shape
        q = query.new_zeros((b, n_max, c))
        if self.padding_query_pos == 'randn':
            qpe = torch.randn_like(q)
        else:
            qpe = query_pos.new_zeros((b, n_max, c))
        q_mask = query.new_zeros((b, n_max, 1))
        q[bi, ti] = query[bi, qi]
        qpe[bi, ti] = query_pos[bi, qi]
        q_mask[bi, ti] = 1.0
        return q, qpe, q_mask

    def _run_heads(self, feats: FeatDict, feats_pe: FeatDict, q: Tensor,
                   qpe: Tensor, q_mask: Tensor) -> Tuple[Dict, Dict]:
        """PAI then PDR on the packed queries.

        Returns:
            tuple: PAI's last output (``keypoints`` (B, n, K, 3),
            ``heatmaps`` (B, n, K, H4, W4), ``masks`` (B, n, H4, W4),
            ``bboxes`` (B, n, 4) logits) and PDR's last output
            (``partitions`` (B, n, H8, W8), ``ranks`` (B, n, L) logits).
        """
        pose, pose_pe, pai, pai_pe, joints_out, _ = self.pai(
            q=q, qpe=qpe, feats=feats, feats_pe=feats_pe, q_mask=q_mask)
        partition_out, _ = self.pdr(
            q=pai,
            qpe=pai_pe,
            pose=pose,
            pose_pe=pose_pe,
            feats=feats,
            feats_pe=feats_pe,
            q_mask=q_mask)
        return joints_out, partition_out

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Compute all PoseSOR losses on a batch.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) normalised (and possibly
                multi-scale resized) images.
            batch_data_samples (list[DetDataSample]): Samples with
                ``gt_instances``.

        Returns:
            dict[str, Tensor]: Weighted losses, keys ``loss_*``.
        """
        if self.criterion is None:
            raise RuntimeError('PoseSOR.loss needs `criterion` in the model '
                               'config')
        feats = self.extract_feat(batch_inputs)
        feats_pe = self._encode_positions(feats)
        query, query_pos, instance_out, _ = self.decoder(feats, feats_pe)

        targets = self.criterion.prepare_targets(
            batch_data_samples, tuple(batch_inputs.shape[-2:]))
        bi, qi, ti = self.criterion.match(instance_out, targets)
        losses = dict(
            self.criterion.loss_instances(instance_out, targets, bi, qi, ti))

        n_max = targets['masks'].shape[1]
        q, qpe, q_mask = self._pack_queries(query, query_pos, bi, qi, ti,
                                            n_max)
        joints_out, partition_out = self._run_heads(feats, feats_pe, q, qpe,
                                                    q_mask)
        losses.update(
            self.criterion.loss_pose(joints_out, targets, bi, ti, q_mask))
        losses.update(
            self.criterion.loss_ranking(partition_out, targets, bi, ti))
        return losses

    # ------------------------------------------------------------------
    # inference
    # ------------------------------------------------------------------
    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> Tuple[Dict]:
        """Network outputs at inference (``mode='tensor'``).

        Args:
            batch_inputs (Tensor): (B, 3, H, W) normalised images.
            batch_data_samples (list[DetDataSample], optional): Unused.

        Returns:
            tuple[dict]: ``(instance_out, joints_out, partition_out,
            selection)``: the decoder's ``masks`` (B, Nq, H4, W4) and
            ``scores`` (B, Nq, 1); PAI's and PDR's outputs (see
            :meth:`_run_heads`) for the kept queries packed in n_max slots;
            and ``selection`` with ``bi``, ``qi``, ``ti`` (m,) and ``q_mask``
            (B, n_max, 1).
        """
        feats = self.extract_feat(batch_inputs)
        feats_pe = self._encode_positions(feats)
        query, query_pos, instance_out, _ = self.decoder(feats, feats_pe)
        bi, qi, ti, n_max = select_queries(instance_out['scores'],
                                           self.test_cfg['obj_threshold'])
        q, qpe, q_mask = self._pack_queries(query, query_pos, bi, qi, ti,
                                            n_max)
        joints_out, partition_out = self._run_heads(feats, feats_pe, q, qpe,
                                                    q_mask)
        selection = dict(bi=bi, qi=qi, ti=ti, q_mask=q_mask)
        return instance_out, joints_out, partition_out, selection

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Predict ranked salient instances.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) normalised images.
            batch_data_samples (list[DetDataSample]): Samples with metainfo
                ``img_shape``, ``ori_shape`` and ``batch_input_shape``.
            rescale (bool): Give results at ``ori_shape`` (True) or at
                ``img_shape`` (False).

        Returns:
            list[DetDataSample]: Samples with ``pred_instances`` sorted by
            rank (most salient first): ``masks`` (n, H, W) bool, ``scores``
            (objectness probability), ``rank_scores``, ``ranks`` (1..n),
            ``labels`` (zeros), ``keypoints`` (n, K, 2) pixels (argmax of the
            upsampled heatmaps: the joints the reference evaluates and
            draws), ``keypoint_scores`` (n, K) visibility probability,
            ``keypoints_explicit`` (n, K, 2) pixels (the regressed joints),
            ``bboxes`` (n, 4) xyxy pixels, ``query_indices`` (n,), and on
            request ``heatmaps`` (n, K, H, W) / ``partitions`` (n, H, W).
        """
        instance_out, joints_out, partition_out, sel = self._forward(
            batch_inputs)
        results = []
        for i, sample in enumerate(batch_data_samples):
            slots = sel['ti'][sel['bi'] == i]
            queries = sel['qi'][sel['bi'] == i]
            results.append(
                self._postprocess_one(
                    instance_scores=instance_out['scores'][i, queries, 0],
                    query_indices=queries,
                    joints_out={
                        k: joints_out[k][i, slots]
                        for k in ('keypoints', 'heatmaps', 'masks', 'bboxes')
                    },
                    partition_out={
                        k: partition_out[k][i, slots]
                        for k in ('partitions', 'ranks')
                    },
                    meta=sample.metainfo,
                    rescale=rescale))
        return self.add_pred_to_datasample(batch_data_samples, results)

    @staticmethod
    def _to_output_frame(maps: Tensor, meta: dict,
                         out_size: Tuple[int, int]) -> Tensor:
        """Resize maps predicted over the padded input to the output frame.

        Without padding this is one bilinear resize (as the reference);
        with padding the maps are first upsampled to the padded input size
        and cropped to ``img_shape``.

        Args:
            maps (Tensor): (N, C, h, w) maps covering ``batch_input_shape``.
            meta (dict): Sample metainfo.
            out_size (tuple[int, int]): Output (H, W).

        Returns:
            Tensor: (N, C, H, W).
        """
        img_h, img_w = meta['img_shape'][:2]
        pad_h, pad_w = meta.get('batch_input_shape', (img_h, img_w))
        if (pad_h, pad_w) != (img_h, img_w):
            maps = F.interpolate(
                maps,
                size=(pad_h, pad_w),
                mode='bilinear',
                align_corners=False)[..., :img_h, :img_w]
        return F.interpolate(
            maps, size=out_size, mode='bilinear', align_corners=False)

    def _postprocess_one(self, instance_scores: Tensor, query_indices: Tensor,
                         joints_out: Dict[str,
                                          Tensor], partition_out: Dict[str,
                                                                       Tensor],
                         meta: dict, rescale: bool) -> InstanceData:
        """Rank, resize and de-duplicate one image's kept instances.

        Args:
            instance_scores (Tensor): (n,) objectness logits.
            query_indices (Tensor): (n,) decoder query indices.
            joints_out (dict[str, Tensor]): PAI outputs of the n instances
                (``keypoints`` (n, K, 3), ``heatmaps`` (n, K, h4, w4),
                ``masks`` (n, h4, w4), ``bboxes`` (n, 4)).
            partition_out (dict[str, Tensor]): ``partitions`` (n, h8, w8),
                ``ranks`` (n, L).
            meta (dict): Sample metainfo.
            rescale (bool): Output at ``ori_shape`` (else ``img_shape``).

        Returns:
            InstanceData: The image's ranked predictions.
        """
        cfg = self.test_cfg
        img_h, img_w = meta['img_shape'][:2]
        pad_h, pad_w = meta.get('batch_input_shape', (img_h, img_w))
        out_h, out_w = (meta['ori_shape'][:2] if rescale else (img_h, img_w))

        rank_scores = rank_scores_from_logits(partition_out['ranks'].float())
        order = torch.sort(rank_scores, descending=True, stable=True).indices
        scores = instance_scores.float().sigmoid()[order]
        mask_logits = self._to_output_frame(
            joints_out['masks'][order, None].float(), meta, (out_h, out_w))
        masks = mask_logits[:, 0].sigmoid() > cfg['mask_threshold']

        keep = torch.arange(len(order), device=order.device)
        if cfg['merge_duplicates']:
            keep, masks, scores = merge_duplicates(masks, scores,
                                                   cfg['maskness_threshold'])
        order = order[keep]
        num = len(order)

        # the network's normalised coordinates cover the padded input
        to_out = rank_scores.new_tensor(
            [pad_w * out_w / img_w, pad_h * out_h / img_h])
        kpt_logits = joints_out['keypoints'][order].float()
        keypoint_scores = kpt_logits[..., 2].sigmoid()
        keypoints_explicit = kpt_logits[..., :2].sigmoid() * to_out
        bboxes = cxcyhw_to_xyxy(
            joints_out['bboxes'][order].float().sigmoid()) * to_out.repeat(2)

        heatmap_list: List[Tensor] = []
        keypoints = keypoints_explicit.new_zeros(keypoints_explicit.shape)
        for n in range(num):
            heat = self._to_output_frame(
                joints_out['heatmaps'][order[n], None].float(), meta,
                (out_h, out_w))[0]  # K, H, W
            # first maximum in row-major order, as the reference's argmax
            # of the per-joint softmax (softmax keeps the order)
            flat_idx = heat.flatten(1).argmax(dim=1)
            keypoints[n, :, 0] = (flat_idx % out_w).float()
            keypoints[n, :, 1] = torch.div(
                flat_idx, out_w, rounding_mode='floor').float()
            if cfg['with_heatmaps']:
                heatmap_list.append(
                    heat.flatten(1).softmax(dim=1).view_as(heat))

        results = InstanceData()
        results.masks = masks
        results.scores = scores
        results.rank_scores = rank_scores[order]
        results.ranks = torch.arange(1, num + 1, device=order.device)
        results.labels = torch.zeros(
            num, dtype=torch.long, device=order.device)
        results.keypoints = keypoints
        results.keypoint_scores = keypoint_scores
        results.keypoints_explicit = keypoints_explicit
        results.bboxes = bboxes
        results.query_indices = query_indices[order]
        if cfg['with_heatmaps']:
            k = kpt_logits.shape[1]
            results.heatmaps = (
                torch.stack(heatmap_list) if num else masks.new_zeros(
                    (0, k, out_h, out_w), dtype=torch.float))
        if cfg['with_partitions']:
            parts = self._to_output_frame(
                partition_out['partitions'][order, None].float(), meta,
                (out_h, out_w))
            results.partitions = parts[:, 0].sigmoid()
        return results
