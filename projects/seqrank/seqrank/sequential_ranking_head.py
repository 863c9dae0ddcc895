# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""SeqRank's ranking head: the Sequential Ranking Module run step by step.

Training (teacher forcing): with the queries matched to the ground truth
numbered by their target's rank (:func:`.visiting_orders`), step
``i = 0..n_max`` shows the ranker the queries of ranks <= i as visited and
asks, by a BCE on every query, for the one of rank i + 1; at the last step
(no such object) every query is a negative, which teaches the ranker to
stop. ``loss_rank`` is the sum over the steps of the mean BCE.

Inference: starting with nothing visited, each step takes the query with the
highest logit as the next object and marks it visited, until the
post-processor's stopping rule ends the sequence (objectness or ranking
probability of the chosen query below 0.001 in the releases) or every query
was taken once. A query may be taken again at a later step, as in the
reference.
"""
from typing import Callable, Dict, Tuple

import torch
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptMultiConfig
from mmengine.model import BaseModule
from torch import Tensor

from posesor.models.task_modules import QuerySlots
from .seqrank_criterion import visiting_orders

FeatDict = Dict[str, Tensor]
#: (objectness, ranking probability) of each image's chosen query, both
#: (B,) -> (B,) bool, True where the image's sequence ends before it.
StopRule = Callable[[Tensor, Tensor], Tensor]


@MODELS.register_module()
class SequentialRankingHead(BaseModule):
    """Ranking head of SeqRank.

    Outputs at inference (slot ``[b, t]`` holding the query visited at step
    t + 1 of image b): ``rank_scores`` (B, n) the ranking probability when
    the query was chosen, and the instance head's ``masks``
    (B, n, H4, W4) and ``bboxes`` (B, n, 4) logits of that query.

    Args:
        ranker (dict): :class:`~.sequential_ranker.SequentialRanker` config.
        feature_key (str): Neck level the ranker reads. Defaults to 'res5'.
        loss_rank (dict): Per-query loss of a step, built with
            ``MODELS.build`` and called with ``reduction_override='none'``
            (sigmoid BCE, reference weight 5).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 ranker: ConfigType,
                 feature_key: str = 'res5',
                 loss_rank: ConfigType = dict(
                     type='CrossEntropyLoss',
                     use_sigmoid=True,
                     loss_weight=5.0),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.ranker = MODELS.build(ranker)
        self.feature_key = feature_key
        self.loss_rank = MODELS.build(loss_rank)

    def ranker_inputs(self, feats: FeatDict,
                      instance_outputs: Dict) -> Dict[str, Tensor]:
        """The ranker's inputs besides the visiting order.

        Args:
            feats (dict[str, Tensor]): Neck maps (B, C, H, W) by level.
            instance_outputs (dict): The instance head's ``query``,
                ``query_pos`` (B, Nq, C) and ``feats_pe``.

        Returns:
            dict[str, Tensor]: ``query``, ``query_pos`` (B, Nq, C), ``feat``
            and ``feat_pos`` (B, HW, C), the flattened ``feature_key`` map
            and its positional encoding.
        """
        if self.feature_key not in feats:
            raise KeyError(f'SequentialRankingHead: feature_key '
                           f'{self.feature_key!r} is not one of the neck '
                           f'levels {sorted(feats)}')
        return dict(
            query=instance_outputs['query'],
            query_pos=instance_outputs['query_pos'],
            feat=feats[self.feature_key].flatten(2).transpose(1, 2),
            feat_pos=instance_outputs['feats_pe'][self.feature_key].flatten(
                2).transpose(1, 2))

    def loss(self, feats: FeatDict, instance_outputs: Dict,
             targets: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The teacher-forced ranking loss (see the module docstring).

        Args:
            feats (dict[str, Tensor]): The neck's maps, by level name.
            instance_outputs (dict): What the instance head's ``loss``
                returns besides its losses (the matching in ``slots``).
            targets (dict[str, Tensor]): From ``build_sor_targets``
                (``ranks``, ``valid``, ``sample_names``).

        Returns:
            dict[str, Tensor]: ``loss_rank``, a scalar.
        """
        inputs = self.ranker_inputs(feats, instance_outputs)
        matched = instance_outputs['slots']
        orders = visiting_orders(instance_outputs['scores'], targets, matched)
        loss_rank = orders.new_zeros(())
        for step in range(matched.num_slots + 1):
            visited = orders * (orders <= step).to(orders.dtype)
            answer = (orders == step + 1).to(orders.dtype)
            per_query = self.loss_rank(
                self.ranker(visited=visited, **inputs),
                answer,
                reduction_override='none')
            # the reference zeroes NaNs (from non-finite logits)
            per_query = torch.where(
                torch.isnan(per_query), torch.zeros_like(per_query), per_query)
            loss_rank = loss_rank + per_query.mean()
        return dict(loss_rank=loss_rank)

    @torch.no_grad()
    def predict(self, feats: FeatDict, instance_outputs: Dict,
                stop_rule: StopRule) -> Tuple[Dict[str, Tensor], QuerySlots]:
        """Run the visiting sequence of every image.

        Args:
            feats (dict[str, Tensor]): Neck maps by level.
            instance_outputs (dict): The instance head's outputs (``query``,
                ``query_pos``, ``feats_pe``, ``masks``, ``scores``,
                ``bboxes``).
            stop_rule (callable): See :data:`StopRule` (the
                post-processor's ``ends_sequence``).

        Returns:
            tuple[dict, QuerySlots]: The outputs in their slots (see the
            class docstring) and the visited queries (slot = step - 1;
            images in order, steps ascending).
        """
        inputs = self.ranker_inputs(feats, instance_outputs)
        scores = instance_outputs['scores']
        batch_size, num_queries, _ = scores.shape
        batch_index = torch.arange(batch_size, device=scores.device)
        obj_probs = scores[..., 0].sigmoid()
        visited = torch.zeros_like(scores)
        ended = torch.zeros(batch_size, dtype=torch.bool, device=scores.device)
        chosen_steps, prob_steps, kept_steps = [], [], []
        for step in range(num_queries):
            logits = self.ranker(visited=visited, **inputs)[..., 0]
            chosen = logits.argmax(dim=1)
            visited[batch_index, chosen, 0] = step + 1
            probs = logits[batch_index, chosen].sigmoid()
            ended = ended | stop_rule(obj_probs[batch_index, chosen], probs)
            chosen_steps.append(chosen)
            prob_steps.append(probs)
            kept_steps.append(~ended)
            if bool(ended.all()):
                break
        kept = torch.stack(kept_steps, dim=1)  # B, steps
        bi, ti = torch.nonzero(kept, as_tuple=True)
        qi = torch.stack(chosen_steps, dim=1)[bi, ti]
        slots = QuerySlots(bi, qi, ti, int(kept.sum(dim=1).max()))
        probs = torch.stack(prob_steps, dim=1).float()  # B, steps
        outputs = dict(
            rank_scores=probs[bi, ti],
            masks=instance_outputs['masks'][bi, qi],
            bboxes=instance_outputs['bboxes'][bi, qi])
        packed = {k: slots.pack(v, batch_size) for k, v in outputs.items()}
        return packed, slots
