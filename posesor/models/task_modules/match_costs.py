# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Match costs used by PoseSOR's Hungarian matching."""
from typing import Optional, Union

from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmdet.registry import TASK_UTILS
from mmengine.structures import InstanceData
from torch import Tensor


@TASK_UTILS.register_module()
class ObjectnessCost(BaseMatchCost):
    """Negative objectness probability as a matching cost.

    PoseSOR has a single "salient instance" class scored by one objectness
    logit per query, so the classification cost of a query does not depend
    on the ground truth it is paired with: ``cost[q, t] = -sigmoid(s_q)``.

    Args:
        weight (float): Cost weight. Defaults to 1.
    """

    def __init__(self, weight: Union[float, int] = 1.) -> None:
        super().__init__(weight=weight)

    def __call__(self,
                 pred_instances: InstanceData,
                 gt_instances: InstanceData,
                 img_meta: Optional[dict] = None,
                 **kwargs) -> Tensor:
        """Compute the cost matrix.

        Args:
            pred_instances (:obj:`InstanceData`): ``scores`` holds the
                objectness logits, shape (num_queries, 1) or (num_queries,).
            gt_instances (:obj:`InstanceData`): Ground truth; only its
                length is used.
            img_meta (dict, optional): Unused.

        Returns:
            Tensor: Cost matrix of shape (num_queries, num_gts).
        """
        scores = pred_instances.scores.reshape(-1).float()
        cost = -scores.sigmoid()[:, None].expand(-1, len(gt_instances))
        return cost * self.weight
