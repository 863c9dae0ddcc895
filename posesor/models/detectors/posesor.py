# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR: salient object ranking guided by human pose (ECCV 2024).

The detector only composes, as mmdet's MaskFormer: backbone -> neck ->
salient-instance head (queries, objectness, masks; matching and its losses)
-> pose-ranking head (PAI + PDR on the matched or kept queries; pose and
ranking losses) -> post-processor (query selection, ranked instances).
"""
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS
from mmdet.structures import OptSampleList, SampleList
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from torch import Tensor

from posesor.utils.ckpt_convert import upgrade_legacy_state_dict
from posesor.utils.misc import autocast_context
from ..heads.pose_source import POSE_SOURCE_GT, POSE_SOURCE_PREDICTED
from ..task_modules.pose_keypoints import gt_pose_instances, slot_keypoints
from ..task_modules.query_slots import QuerySlots
from ..task_modules.sor_targets import build_sor_targets

FeatDict = Dict[str, Tensor]


@MODELS.register_module()
class PoseSOR(BaseDetector):
    """PoseSOR salient object ranking detector.

    Args:
        backbone (dict): Backbone config (e.g. ``mmpretrain.SwinTransformer``
            with ``out_indices=(0, 1, 2, 3)``).
        neck (dict): Neck config (:class:`SORFPN`).
        instance_head (dict): :class:`SalientInstanceHead` config.
        rank_head (dict): :class:`PoseRankingHead` config.
        post_processor (dict): :class:`SORPostProcessor` config; ``test_cfg``
            is passed to it.
        feature_keys (Sequence[str]): Names of the neck levels, finest first.
            Defaults to ('res2', 'res3', 'res4', 'res5').
        inference_dtype (str, optional): Run the network (not the
            post-processing) under ``torch.autocast`` with this dtype at
            inference: 'bfloat16' or 'float16'. Defaults to None (float32).
        train_cfg (dict, optional): Unused; kept for mmdet's interface.
        test_cfg (dict, optional): Inference options, see
            :class:`SORPostProcessor`.
        data_preprocessor (dict, optional): ``DetDataPreprocessor`` config.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 instance_head: ConfigType,
                 rank_head: ConfigType,
                 post_processor: ConfigType = dict(type='SORPostProcessor'),
                 feature_keys: Sequence[str] = ('res2', 'res3', 'res4',
                                                'res5'),
                 inference_dtype: Optional[str] = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.neck = MODELS.build(neck)
        self.instance_head = MODELS.build(instance_head)
        self.rank_head = MODELS.build(rank_head)
        self.post_processor = MODELS.build(
            dict(post_processor, test_cfg=test_cfg))
        self.feature_keys = list(feature_keys)
        self.inference_dtype = inference_dtype
        autocast_context(inference_dtype)  # fails early on a bad name
        self.train_cfg = train_cfg
        # one dict: updating model.test_cfg updates the post-processor
        self.test_cfg = self.post_processor.test_cfg
        # checkpoints with this project's earlier module names still load
        self._register_load_state_dict_pre_hook(upgrade_legacy_state_dict)

    def extract_feat(self, batch_inputs: Tensor) -> FeatDict:
        """Backbone + neck: (B, 3, H, W) images -> neck maps
        (B, C, H / s, W / s) keyed by ``feature_keys`` (s = 4, 8, 16, 32)."""
        feats = self.neck(self.backbone(batch_inputs))
        if len(feats) != len(self.feature_keys):
            raise ValueError(f'the neck gave {len(feats)} maps but '
                             f'feature_keys has {len(self.feature_keys)}')
        return dict(zip(self.feature_keys, feats))

    def loss(self, batch_inputs: Tensor,
             batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """Weighted ``loss_*`` of both heads on (B, 3, H, W) normalised
        (possibly multi-scale resized) images and their ``gt_instances``."""
        feats = self.extract_feat(batch_inputs)
        targets = build_sor_targets(batch_data_samples,
                                    tuple(batch_inputs.shape[-2:]))
        losses, instance_outputs = self.instance_head.loss(feats, targets)
        losses.update(self.rank_head.loss(feats, instance_outputs, targets))
        return losses

    def _encode(self, batch_inputs: Tensor) -> Tuple[FeatDict, Dict]:
        """Neck maps and the instance head's outputs (all queries)."""
        feats = self.extract_feat(batch_inputs)
        return feats, self.instance_head.predict(feats)

    def _forward(self,
                 batch_inputs: Tensor,
                 batch_data_samples: OptSampleList = None) -> Tuple[Dict]:
        """Network outputs at inference (``mode='tensor'``).

        Returns:
            tuple[dict, dict, QuerySlots]: The instance head's outputs
            (``masks`` (B, Nq, H4, W4), ``scores`` (B, Nq, 1), ...), the
            rank head's outputs for the kept queries in their slots, and the
            kept queries.
        """
        with autocast_context(self.inference_dtype, batch_inputs.device):
            feats, instance_outputs = self._encode(batch_inputs)
            rank_outputs, slots = self.rank_instances(feats, instance_outputs)
        return instance_outputs, rank_outputs, slots

    def rank_instances(self, feats: FeatDict,
                       instance_outputs: Dict) -> Tuple[Dict, QuerySlots]:
        """Choose the queries to rank and run the rank head on them.

        PoseSOR keeps the queries the post-processor selects by objectness
        (:meth:`SORPostProcessor.select_queries`), then ranks them at once.

        Args:
            feats (dict[str, Tensor]): Neck maps by level.
            instance_outputs (dict): The instance head's outputs.

        Returns:
            tuple[dict, QuerySlots]: The rank head's outputs for the chosen
            queries in their slots, and the chosen queries.
        """
        slots = self.post_processor.select_queries(instance_outputs['scores'])
        return self.rank_head.predict(feats, instance_outputs, slots), slots

    @staticmethod
    def _source_poses(source: str, batch_data_samples: SampleList,
                      results: List) -> List:
        """Pose instances (or None) of each image from a test pose source.

        Args:
            source (str): 'gt' or 'external'.
            batch_data_samples (list[DetDataSample]): The batch.
            results (list[InstanceData]): First-pass predictions at
                ``ori_shape``.

        Returns:
            list[InstanceData | None]: See
            :mod:`posesor.models.task_modules.pose_keypoints`.
        """
        if source == POSE_SOURCE_GT:
            return [
                gt_pose_instances(sample, pred)
                for sample, pred in zip(batch_data_samples, results)
            ]
        return [s.get('pose_instances', None) for s in batch_data_samples]

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Predict ranked salient instances.

        With ``rank_head.test_pose_source`` other than 'predicted', the
        ranking is computed twice (backbone, neck and instance head once; the
        rank head twice): a first pass with PAI's poses gives the kept
        instances, whose keypoints are then taken from the source (see
        :mod:`posesor.models.heads.pose_source`) and ranked again:

        - 'gt': every kept instance matched to a ground-truth instance
          (Hungarian on mask IoU > 0.5 at ``ori_shape``, as the metrics
          match) gets that instance's keypoints; needs ``gt_instances``
          (``masks``, ``keypoints``, ``keypoints_visible``) at
          ``ori_shape``, as the test pipelines load them.
        - 'external': a sample's ``pose_instances`` (``query_indices``
          (m,), ``keypoints`` (m, K, 2) pixels at ``ori_shape`` and
          ``keypoints_visible`` (m, K)) give the keypoints of those queries
          (see :func:`posesor.apis.rank_with_pose_estimator`); a sample
          without them is ranked from PAI's poses.

        Args:
            batch_inputs (Tensor): (B, 3, H, W) normalised images.
            batch_data_samples (list[DetDataSample]): Samples with metainfo
                ``img_shape``, ``ori_shape`` and ``batch_input_shape``.
            rescale (bool): Give results at ``ori_shape`` (True) or at
                ``img_shape`` (False).

        Returns:
            list[DetDataSample]: Samples with ``pred_instances`` sorted by
            rank (most salient first; see :meth:`SORPostProcessor.predict`
            for the fields) and the metainfo ``pose_source``: where the
            poses that ranked the image came from ('predicted', 'gt' or
            'external').
        """
        # rank heads without pose sources (e.g. SeqRank's) rank as they are
        source = getattr(self.rank_head, 'test_pose_source',
                         POSE_SOURCE_PREDICTED)
        with autocast_context(self.inference_dtype, batch_inputs.device):
            feats, instance_outputs = self._encode(batch_inputs)
            rank_outputs, slots = self.rank_instances(feats, instance_outputs)
        scores = instance_outputs['scores']
        results: List = self.post_processor.predict(scores, rank_outputs,
                                                    slots, batch_data_samples,
                                                    rescale)
        used = [POSE_SOURCE_PREDICTED] * len(batch_data_samples)
        if source != POSE_SOURCE_PREDICTED:
            if source == POSE_SOURCE_GT and not rescale:
                # the ground truth is matched at ori_shape
                matched = self.post_processor.predict(scores, rank_outputs,
                                                      slots,
                                                      batch_data_samples, True)
            else:
                matched = results
            poses = self._source_poses(source, batch_data_samples, matched)
            used = [used[0] if p is None else source for p in poses]
            if any(p is not None for p in poses):
                keypoints = slot_keypoints(poses, slots, batch_data_samples,
                                           self.rank_head.num_keypoints)
                with autocast_context(self.inference_dtype,
                                      batch_inputs.device):
                    rank_outputs = self.rank_head.predict(
                        feats, instance_outputs, slots, keypoints)
                results = self.post_processor.predict(scores, rank_outputs,
                                                      slots,
                                                      batch_data_samples,
                                                      rescale)
        for sample, name in zip(batch_data_samples, used):
            sample.set_metainfo(dict(pose_source=name))
        return self.add_pred_to_datasample(batch_data_samples, results)
