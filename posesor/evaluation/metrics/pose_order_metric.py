# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseOrderMetric: pose-order accuracy beside SORMetric."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric

from posesor.datasets.sor_parsing import decode_segmentation, load_sor_gt
from ..pose_order import (MATCH_IOU, pose_order_accuracy, pose_order_hits,
                          pose_order_pairs)


@METRICS.register_module()
class PoseOrderMetric(BaseMetric):
    """Pose-order accuracy (see :mod:`posesor.evaluation.pose_order`).

    Reported keys (with the ``pose_order/`` prefix): ``accuracy`` (the
    fraction of (person, pointed-at object) pairs whose object is ranked
    directly after its person), ``chance`` (the accuracy of a uniformly
    random order of the GT masks) and ``num_pairs``.

    Args:
        ann_file (str): SOR annotation JSON whose person annotations carry
            ``points_at`` (the synthetic data's).
        rank_key (str): Annotation key of the rank.
        iou_thr (float): Predictions match GT instances above this IoU.
        collect_device (str): ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): Metric name prefix; default
            ``'pose_order'``.
    """
    default_prefix: Optional[str] = 'pose_order'

    def __init__(self,
                 ann_file: str,
                 rank_key: str = 'category_id',
                 iou_thr: float = MATCH_IOU,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ann_file = ann_file
        self.iou_thr = iou_thr
        self.gt = load_sor_gt(ann_file, rank_key=rank_key)

    def gt_masks(self, img_id: Any) -> np.ndarray:
        """(m, H, W) bool GT masks of one image, most salient first."""
        if img_id not in self.gt:
            raise KeyError(f'PoseOrderMetric: image id {img_id!r} is not in '
                           f'the annotation file {self.ann_file!r}')
        group = self.gt[img_id]
        height = int(group['image']['height'])
        width = int(group['image']['width'])
        anns = group['annotations']
        masks = np.zeros((len(anns), height, width), dtype=bool)
        for k, ann in enumerate(anns):
            masks[k] = decode_segmentation(ann['segmentation'], height,
                                           width) > 0
        return masks

    def score_image(self, img_id: Any, pred_masks: np.ndarray) -> dict:
        """Per-image result: ``hits`` ((pairs,) bool) and ``num_gt``."""
        gt_masks = self.gt_masks(img_id)
        anns = self.gt[img_id]['annotations']
        pairs = pose_order_pairs(anns)
        hits = pose_order_hits(pred_masks, gt_masks, pairs, self.iou_thr)
        return dict(hits=hits, num_gt=len(anns))

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Score the predicted order of each image.

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Data samples with ``img_id`` and
                ``pred_instances.masks`` ((n, H, W), predicted order).
        """
        for sample in data_samples:
            if hasattr(sample, 'to_dict'):
                sample = sample.to_dict()
            img_id = sample.get('img_id')
            pred = sample.get('pred_instances')
            if pred is None or pred.get('masks') is None:
                raise KeyError(f'PoseOrderMetric: data sample of image id '
                               f'{img_id!r} has no pred_instances.masks')
            masks = pred['masks']
            if hasattr(masks, 'to_ndarray'):  # mmdet BitmapMasks
                masks = masks.to_ndarray()
            if hasattr(masks, 'detach'):
                masks = masks.detach().cpu().numpy()
            self.results.append(
                self.score_image(img_id,
                                 np.asarray(masks) > 0))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Pool the pairs of all images."""
        return pose_order_accuracy([r['hits'] for r in results],
                                   [r['num_gt'] for r in results])
