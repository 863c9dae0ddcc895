# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank: Sequential Ranking of Salient Objects (Guan & Lau, AAAI 2024).

Pipeline (as the authors' implementation): Swin backbone -> neck (FrcPN in
the first release, FPN in the corrected one) -> learnable positional
encodings -> :class:`FoveaDecoder` (instance queries: masks, objectness,
boxes) -> :class:`SequentialRanker`, run once per step of the visiting
sequence.

Training (teacher forcing): with the queries matched to the ground truth
numbered by their target's rank, step ``i = 0..n_max`` shows the ranker the
queries of ranks <= i as visited and asks, by a BCE on every query, for the
one of rank i + 1; at the last step (no such object) every query is a
negative, which teaches the ranker to stop.

Inference: starting with nothing visited, each step takes the query with the
highest logit as the next object and marks it visited, until its objectness
or its logit probability falls below ``obj_threshold`` / ``rank_threshold``
(0.001 in the releases, to rank as many objects as possible) or every query
was taken once. A query may be taken again at a later step, as in the
reference.
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

from posesor.models.post_processors.sor_post_processor import to_output_frame
from posesor.models.task_modules import cxcyhw_to_xyxy

FeatDict = Dict[str, Tensor]

DEFAULT_TEST_CFG = dict(
    obj_threshold=0.001, rank_threshold=0.001, mask_threshold=0.5)


@MODELS.register_module()
class SeqRank(BaseDetector):
    """SeqRank salient object ranking detector.

    Args:
        backbone (dict): Backbone config (``mmpretrain.SwinTransformer``
            with ``out_indices=(0, 1, 2, 3)``).
        neck (dict): ``SORFPN`` (corrected release) or ``FrcPN`` (first).
        positional_encoding (dict): Per-map encoder config
            (``LearnableGridPositionalEncoding`` in the releases).
        decoder (dict): :class:`FoveaDecoder` config.
        ranker (dict): :class:`SequentialRanker` config.
        criterion (dict, optional): :class:`SeqRankCriterion` config;
            required for ``loss``.
        feature_keys (Sequence[str]): Names of the neck levels, finest
            first. Defaults to ('res2', 'res3', 'res4', 'res5').
        rank_key (str): Level the ranker reads. Defaults to 'res5'.
        train_cfg (dict, optional): Unused; kept for mmdet's interface.
        test_cfg (dict, optional): ``obj_threshold`` (0.001),
            ``rank_threshold`` (0.001), ``mask_threshold`` (0.5).
        data_preprocessor (dict, optional): ``DetDataPreprocessor`` config.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 positional_encoding: ConfigType,
                 decoder: ConfigType,
                 ranker: ConfigType,
                 criterion: OptConfigType = None,
                 feature_keys: Sequence[str] = ('res2', 'res3', 'res4',
                                                'res5'),
                 rank_key: str = 'res5',
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.positional_encoding = MODELS.build(positional_encoding)
        self.decoder = MODELS.build(decoder)
        self.ranker = MODELS.build(ranker)
        self.criterion = MODELS.build(criterion) if criterion else None
        self.feature_keys = list(feature_keys)
        if rank_key not in self.feature_keys:
            raise ValueError(f'SeqRank: rank_key {rank_key!r} is not one of '
                             f'feature_keys {self.feature_keys}')
        self.rank_key = rank_key
        self.train_cfg = train_cfg
        unknown = set(test_cfg or {}) - set(DEFAULT_TEST_CFG)
        if unknown:
            raise KeyError(f'SeqRank: unknown test_cfg keys {sorted(unknown)}'
                           f'; valid keys: {sorted(DEFAULT_TEST_CFG)}')
        self.test_cfg = {**copy.deepcopy(DEFAULT_TEST_CFG), **(test_cfg or {})}

    def extract_feat(self, batch_inputs: Tensor) -> FeatDict:
        """Backbone + neck: maps (B, C, H / s, W / s) keyed by
        ``feature_keys`` (strides 4, 8, 16, 32)."""
        feats = self.neck(self.backbone(batch_inputs))
        if len(feats) != len(self.feature_keys):
            raise ValueError(f'the neck gave {len(feats)} maps but '
                             f'feature_keys has {len(self.feature_keys)}')
        return dict(zip(self.feature_keys, feats))

    def _decode(self, batch_inputs: Tensor) -> Tuple[Dict, Dict]:
        """Features, instance queries and the ranker's inputs.

        Returns:
            tuple: ``instance_out`` (the decoder's last ``masks``
            (B, Nq, H4, W4), ``scores`` (B, Nq, 1), ``bboxes`` (B, Nq, 4)
            logits), and ``ranker_inputs``: ``query``, ``query_pos``
            (B, Nq, C), ``feat``, ``feat_pos`` (B, HW, C).
        """
        feats = self.extract_feat(batch_inputs)
        feats_pe = {k: self.positional_encoding(v) for k, v in feats.items()}
        query, query_pos, instance_out, _ = self.decoder(feats, feats_pe)
        ranker_inputs = dict(
            query=query,
            query_pos=query_pos,
            feat=feats[self.rank_key].flatten(2).transpose(1, 2),
            feat_pos=feats_pe[self.rank_key].flatten(2).transpose(1, 2))
        return instance_out, ranker_inputs

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Instance losses and the sequential ranking loss.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) normalised images.
            batch_data_samples (list[DetDataSample]): Samples with
                ``gt_instances`` sorted most salient first.

        Returns:
            dict[str, Tensor]: ``loss_mask``, ``loss_dice``, ``loss_bbox``,
            ``loss_giou``, ``loss_obj`` and ``loss_rank``.
        """
        if self.criterion is None:
            raise RuntimeError('SeqRank.loss needs `criterion` in the model '
                               'config')
        instance_out, ranker_inputs = self._decode(batch_inputs)
        targets = self.criterion.prepare_targets(batch_data_samples,
                                                 batch_inputs.device)
        bi, qi, ti = self.criterion.match(instance_out, targets)
        losses = self.criterion.loss_instances(instance_out, targets, bi, qi,
                                               ti)

        scores = instance_out['scores']
        visit_order = torch.zeros_like(scores)
        visit_order[bi, qi, 0] = (ti + 1).to(scores.dtype)
        n_max = max(len(t['masks']) for t in targets)
        loss_rank = scores.new_zeros(())
        for step in range(n_max + 1):
            visited = visit_order * (visit_order <= step).to(scores.dtype)
            answer = (visit_order == step + 1).to(scores.dtype)
            logits = self.ranker(visited=visited, **ranker_inputs)
            bce = F.binary_cross_entropy_with_logits(
                logits, answer, reduction='none')
            # the reference zeroes NaNs (from non-finite logits)
            bce = torch.where(torch.isnan(bce), torch.zeros_like(bce), bce)
            loss_rank = loss_rank + bce.mean()
        losses['loss_rank'] = loss_rank * self.criterion.rank_weight
        return losses

    @torch.no_grad()
    def rank_sequentially(self, instance_out: Dict[str, Tensor],
                          ranker_inputs: Dict[str, Tensor]) -> List[Dict]:
        """Run the visiting sequence of every image.

        Returns:
            list[dict]: Per image ``queries`` (n,) in visiting order and
            ``rank_probs`` (n,), the ranker's probability at each step.
        """
        cfg = self.test_cfg
        scores = instance_out['scores']
        batch_size, num_queries, _ = scores.shape
        visited = torch.zeros_like(scores)
        batch_index = torch.arange(batch_size, device=scores.device)
        obj_probs = scores[..., 0].sigmoid()
        sequences = [
            dict(queries=[], rank_probs=[]) for _ in range(batch_size)
        ]
        ended = [False] * batch_size
        for step in range(num_queries):
            logits = self.ranker(visited=visited, **ranker_inputs)[..., 0]
            chosen = logits.argmax(dim=1)
            visited[batch_index, chosen, 0] = step + 1
            probs = logits[batch_index, chosen].sigmoid()
            objectness = obj_probs[batch_index, chosen]
            for b in range(batch_size):
                if (objectness[b] < cfg['obj_threshold']
                        or probs[b] < cfg['rank_threshold']):
                    ended[b] = True
                if not ended[b]:
                    sequences[b]['queries'].append(int(chosen[b]))
                    sequences[b]['rank_probs'].append(probs[b])
            if all(ended):
                break
        device = scores.device
        return [
            dict(
                queries=torch.tensor(
                    s['queries'], dtype=torch.long, device=device),
                rank_probs=torch.stack(s['rank_probs']).float()
                if s['rank_probs'] else scores.new_zeros((0, )))
            for s in sequences
        ]

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> Tuple:
        """Network outputs (``mode='tensor'``): the decoder's outputs and
        the visiting sequences (see :meth:`rank_sequentially`)."""
        instance_out, ranker_inputs = self._decode(batch_inputs)
        return instance_out, self.rank_sequentially(instance_out,
                                                    ranker_inputs)

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Predict ranked salient instances.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) normalised images.
            batch_data_samples (list[DetDataSample]): Samples with metainfo
                ``img_shape``, ``ori_shape``, ``batch_input_shape``.
            rescale (bool): Results at ``ori_shape`` (True) or
                ``img_shape``.

        Returns:
            list[DetDataSample]: ``pred_instances`` in visiting order (most
            salient first): ``masks`` (n, H, W) bool, ``scores``
            (objectness probability), ``rank_scores`` (the ranker's
            probability when the instance was chosen), ``ranks`` (1..n),
            ``labels`` (zeros), ``bboxes`` (n, 4) xyxy pixels,
            ``query_indices`` (n,).
        """
        instance_out, sequences = self._forward(batch_inputs)
        results = []
        for b, (sample, seq) in enumerate(zip(batch_data_samples, sequences)):
            meta = sample.metainfo
            img_h, img_w = meta['img_shape'][:2]
            pad_h, pad_w = meta.get('batch_input_shape', (img_h, img_w))
            out_h, out_w = (
                meta['ori_shape'][:2] if rescale else (img_h, img_w))
            queries = seq['queries']
            num = len(queries)
            mask_logits = to_output_frame(
                instance_out['masks'][b, queries, None].float(), meta,
                (out_h, out_w))
            # the boxes are normalised by the padded input
            scale = mask_logits.new_tensor([
                pad_w * out_w / img_w, pad_h * out_h / img_h,
                pad_w * out_w / img_w, pad_h * out_h / img_h
            ])
            result = InstanceData()
            result.masks = (
                mask_logits[:, 0].sigmoid() > self.test_cfg['mask_threshold'])
            result.scores = instance_out['scores'][b, queries,
                                                   0].float().sigmoid()
            result.rank_scores = seq['rank_probs']
            result.ranks = torch.arange(1, num + 1, device=queries.device)
            result.labels = torch.zeros(
                num, dtype=torch.long, device=queries.device)
            result.bboxes = cxcyhw_to_xyxy(
                instance_out['bboxes'][b, queries].float().sigmoid()) * scale
            result.query_indices = queries
            results.append(result)
        return self.add_pred_to_datasample(batch_data_samples, results)
