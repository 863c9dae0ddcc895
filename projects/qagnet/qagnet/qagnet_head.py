# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""QAGNet's head: mmdet's Mask2Former head with the nested query graph."""
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, SampleList
from mmdet.utils import ConfigType
from mmengine.structures import InstanceData
from torch import Tensor, nn


@MODELS.register_module()
class QAGNetHead(Mask2FormerHead):
    """Mask2Former's head (unchanged) whose decoder queries are ranked by
    :class:`TriTieredQueryGraph`.

    The queries after every decoder layer (before the decoder's final norm,
    as the reference reads them) are captured by forward hooks on mmdet's
    decoder layers, so mmdet's forward runs as it is. Training adds to
    Mask2Former's losses the rank loss of the final saliency scores
    (``loss_rank``) and of each graph layer's side scores
    (``loss_side_rank``), over the queries matched to the ranked objects by
    the last decoder layer's Hungarian assignment, as the reference does.
    The ground truth is the salient objects (``gt_instances.ranks`` >= 1,
    1 = most salient), all of one class.

    At inference :meth:`predict` appends each query's saliency score to its
    class logits as a last column, for :class:`QAGNetFusionHead`.

    Args:
        graph (dict): Config of the query graph
            (:class:`TriTieredQueryGraph`); ``embed_dims`` and
            ``num_scales`` are filled in from the head.
        loss_rank (dict): Rank loss of the final scores.
        loss_side_rank (dict): Rank loss of each graph layer's scores.
        **kwargs: :class:`~mmdet.models.dense_heads.Mask2FormerHead`'s
            arguments.
    """

    def __init__(self,
                 graph: ConfigType = dict(type='TriTieredQueryGraph'),
                 loss_rank: ConfigType = dict(
                     type='PairwiseRankLoss', loss_weight=5.0),
                 loss_side_rank: ConfigType = dict(
                     type='PairwiseRankLoss', loss_weight=3.0),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.graph = MODELS.build(
            graph,
            default_args=dict(
                embed_dims=self.decoder_embed_dims,
                num_scales=self.num_transformer_feat_level))
        self.loss_rank = MODELS.build(loss_rank)
        self.loss_side_rank = MODELS.build(loss_side_rank)
        self._queries: List[Tensor] = []
        self._sampling_results: list = []
        for layer in self.transformer_decoder.layers:
            layer.register_forward_hook(self._keep_query)

    def _keep_query(self, module: nn.Module, inputs: tuple,
                    output: Tensor) -> None:
        """Forward hook of the decoder layers: keep their (B, Q, C)
        output."""
        self._queries.append(output)

    def init_weights(self) -> None:
        """Mask2Former's initialisation, then the graph's."""
        super().init_weights()
        self.graph.init_weights()

    def forward(
        self, x: List[Tensor], batch_data_samples: SampleList
    ) -> Tuple[List[Tensor], List[Tensor], Tensor, List[Tensor]]:
        """Mask2Former's forward and the queries' saliency scores.

        Args:
            x (list[Tensor]): Multi-scale backbone features.
            batch_data_samples (list[DetDataSample]): The batch's samples.

        Returns:
            tuple: ``cls_pred_list`` and ``mask_pred_list`` (per decoder
            stage, as Mask2Former), ``rank_scores`` (B, Q) and
            ``side_rank_scores`` (per graph layer, (B, Q)).
        """
        self._queries = []
        try:
            cls_preds, mask_preds = super().forward(x, batch_data_samples)
            queries = self._queries
        finally:
            self._queries = []
        rank_scores, side_scores = self.graph(queries)
        return cls_preds, mask_preds, rank_scores, side_scores

    @staticmethod
    def ranked_gt(sample: DetDataSample) -> InstanceData:
        """The salient (ranked) ground-truth objects of a sample, labelled 0
        (QAGNet has one class); unranked ones (rank 0) are background.

        Raises:
            KeyError: If the sample's ``gt_instances`` have no ``ranks``.
            ValueError: On a negative rank.
        """
        gt = sample.gt_instances
        img_id = sample.metainfo.get('img_id')
        if 'ranks' not in gt:
            raise KeyError(f'QAGNetHead: gt_instances of image id {img_id!r} '
                           'have no `ranks` (load them with '
                           'LoadSORAnnotations)')
        ranks = gt.ranks.long()  # a tensor on the batch device
        if len(ranks) and int(ranks.min()) < 0:
            raise ValueError(f'QAGNetHead: negative rank in image id '
                             f'{img_id!r}: {ranks.tolist()}')
        ranked = gt[ranks > 0] if bool((ranks == 0).any()) else gt.clone()
        ranked.ranks = ranks[ranks > 0]
        ranked.labels = torch.zeros_like(ranked.ranks)
        return ranked

    def _get_targets_single(self, *args, **kwargs) -> tuple:
        """Mask2Former's targets of one image; the sampling result (the
        Hungarian assignment) is kept for the rank losses."""
        targets = super()._get_targets_single(*args, **kwargs)
        self._sampling_results.append(targets[6])
        return targets

    def loss(self, x: Tuple[Tensor],
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Mask2Former's losses plus the final and side rank losses.

        Args:
            x (tuple[Tensor]): Multi-scale backbone features.
            batch_data_samples (list[DetDataSample]): Samples with
                ``gt_instances`` (``masks``, ``ranks``).

        Returns:
            dict[str, Tensor]: Mask2Former's losses (``loss_cls``,
            ``loss_mask``, ``loss_dice``, ``d{i}.*``), ``loss_rank`` and
            ``s{k}.loss_rank`` per graph layer.
        """
        batch_img_metas = [s.metainfo for s in batch_data_samples]
        ranked = [self.ranked_gt(s) for s in batch_data_samples]
        cls_preds, mask_preds, rank_scores, side_scores = self(
            x, batch_data_samples)
        gts = self.preprocess_gt(ranked, [None] * len(ranked))
        self._sampling_results = []
        try:
            losses = self.loss_by_feat(cls_preds, mask_preds, gts,
                                       batch_img_metas)
            # mmdet assigns stage by stage, image by image: the last
            # decoder stage's assignments come last
            num_assigned = len(self._sampling_results)
            if num_assigned != len(cls_preds) * len(ranked):
                raise RuntimeError(
                    f'QAGNetHead: {num_assigned} assignments for '
                    f'{len(cls_preds)} decoder stages x {len(ranked)} images;'
                    ' mmdet\'s Mask2FormerHead.loss_by_feat no longer assigns '
                    'once per stage and image')
            final = self._sampling_results[-len(ranked):]
        finally:
            self._sampling_results = []
        query_inds = [r.pos_inds for r in final]
        # the reference's saliency levels grow with saliency
        saliency = [
            -gt.ranks[r.pos_assigned_gt_inds].float()
            for gt, r in zip(ranked, final)
        ]

        def matched(scores: Tensor) -> List[Tensor]:
            return [scores[i, inds] for i, inds in enumerate(query_inds)]

        losses['loss_rank'] = self.loss_rank(matched(rank_scores), saliency)
        for k, side in enumerate(side_scores):
            losses[f's{k}.loss_rank'] = self.loss_side_rank(
                matched(side), saliency)
        return losses

    def predict(self, x: Tuple[Tensor],
                batch_data_samples: SampleList) -> Tuple[Tensor, Tensor]:
        """The last stage's class logits with the saliency scores appended,
        and its mask logits at the padded input size.

        Args:
            x (tuple[Tensor]): Multi-scale backbone features.
            batch_data_samples (list[DetDataSample]): The batch's samples.

        Returns:
            tuple[Tensor]: (B, Q, K + 2) class logits (no-object at K) and
            saliency scores (last), and (B, Q, H, W) mask logits.
        """
        cls_preds, mask_preds, rank_scores, _ = self(x, batch_data_samples)
        size = batch_data_samples[0].metainfo['batch_input_shape']
        masks = F.interpolate(
            mask_preds[-1], size=size, mode='bilinear', align_corners=False)
        return torch.cat([cls_preds[-1], rank_scores[..., None]], -1), masks
