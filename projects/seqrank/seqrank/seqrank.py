# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank: Sequential Ranking of Salient Objects (Guan & Lau, AAAI 2024).

The detector only composes, in PoseSOR's shape: Swin backbone -> neck
(FrcPN in the first release, FPN in the corrected one) ->
:class:`~.seqrank_instance_head.SeqRankInstanceHead` (learnable positional
encodings, the :class:`~.fovea_decoder.FoveaDecoder`'s instance queries,
masks, objectness and boxes; matching and their losses) ->
:class:`~.sequential_ranking_head.SequentialRankingHead` (the Sequential
Ranking Module, run once per step of the visiting sequence; its loss) ->
:class:`~.seqrank_post_processor.SeqRankPostProcessor` (the stopping rule,
ranked instances).
"""
from typing import Dict, Tuple

from mmdet.registry import MODELS
from mmdet.utils import ConfigType
from torch import Tensor, nn

from posesor.models.detectors import PoseSOR
from posesor.models.task_modules import QuerySlots

#: Earlier top-level name of the ranker -> its place in the rank head (the
#: decoder and the positional encoding moved as PoseSOR's did; the
#: inherited pre-hook renames them).
LEGACY_RANKER_PREFIX = ('ranker.', 'rank_head.ranker.')


def upgrade_ranker_keys(state_dict: Dict[str, Tensor], prefix: str,
                        *args) -> None:
    """``load_state_dict`` pre-hook: move the earlier top-level ``ranker.*``
    keys into ``rank_head.ranker.*``, in place."""
    old, new = (prefix + name for name in LEGACY_RANKER_PREFIX)
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[new + key[len(old):]] = state_dict.pop(key)


@MODELS.register_module()
class SeqRank(PoseSOR):
    """SeqRank salient object ranking detector.

    Training is :class:`~posesor.models.detectors.PoseSOR`'s composition
    (targets, instance head loss with the matching, rank head loss).

    Args:
        backbone (dict): Backbone config (``mmpretrain.SwinTransformer``
            with ``out_indices=(0, 1, 2, 3)``).
        neck (dict): ``SORFPN`` (corrected release) or ``FrcPN`` (first).
        instance_head (dict): :class:`SeqRankInstanceHead` config.
        rank_head (dict): :class:`SequentialRankingHead` config.
        post_processor (dict): :class:`SeqRankPostProcessor` config;
            ``test_cfg`` is passed to it.
        **kwargs: PoseSOR's ``feature_keys``, ``inference_dtype``,
            ``train_cfg``, ``test_cfg`` (``obj_threshold``,
            ``rank_threshold``, ...; see :class:`SeqRankPostProcessor`),
            ``data_preprocessor`` and ``init_cfg``.
    """

    def __init__(self,
                 backbone: ConfigType,
                 neck: ConfigType,
                 instance_head: ConfigType,
                 rank_head: ConfigType,
                 post_processor: ConfigType = dict(
                     type='SeqRankPostProcessor'),
                 **kwargs) -> None:
        super().__init__(backbone, neck, instance_head, rank_head,
                         post_processor, **kwargs)
        self._register_load_state_dict_pre_hook(upgrade_ranker_keys)

    @property
    def ranker(self) -> nn.Module:
        """The Sequential Ranking Module (one step: next-fixation logits)."""
        return self.rank_head.ranker

    def _decode(self, batch_inputs: Tensor) -> Tuple[Dict, Dict]:
        """The network up to the ranker (to inspect its stages).

        Returns:
            tuple[dict, dict]: The instance head's outputs (``masks``
            (B, Nq, H4, W4), ``scores`` (B, Nq, 1), ``bboxes`` (B, Nq, 4)
            logits, ...) and the ranker's inputs (``query``, ``query_pos``
            (B, Nq, C), ``feat``, ``feat_pos`` (B, HW, C)).
        """
        feats = self.extract_feat(batch_inputs)
        instance_outputs = self.instance_head.predict(feats)
        return instance_outputs, self.rank_head.ranker_inputs(
            feats, instance_outputs)

    def rank_instances(self, feats: Dict[str, Tensor],
                       instance_outputs: Dict) -> Tuple[Dict, QuerySlots]:
        """Run the visiting sequences; the post-processor's
        :meth:`~SeqRankPostProcessor.ends_sequence` ends them.

        Returns:
            tuple[dict, QuerySlots]: The rank head's outputs in their slots
            (visiting order) and the visited queries.
        """
        return self.rank_head.predict(feats, instance_outputs,
                                      self.post_processor.ends_sequence)
