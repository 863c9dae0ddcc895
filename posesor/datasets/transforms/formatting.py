# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Packing SOR results into ``DetDataSample``s."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform, to_tensor
from mmdet.registry import TRANSFORMS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import BaseBoxes
from mmengine.structures import InstanceData

from ..sor_parsing import NUM_KEYPOINTS

DEFAULT_META_KEYS = ('img_id', 'img_path', 'img_name', 'ori_shape',
                     'img_shape', 'scale_factor', 'flip', 'flip_direction')


@TRANSFORMS.register_module()
class PackSORInputs(BaseTransform):
    """Pack an image and its SOR annotations.

    Returns ``dict(inputs=<(3, H, W) uint8 tensor>,
    data_samples=<DetDataSample>)``. The image channel order is the one
    loaded (BGR with mmcv's ``LoadImageFromFile``; the data preprocessor
    converts it). ``data_samples.gt_instances`` (n instances, in rank
    order, when ``LoadSORAnnotations`` ran) carries:

    - ``bboxes``: (n, 4) float32 tensor, xyxy pixels of the current image.
    - ``labels``: (n,) int64 zeros (class-agnostic).
    - ``masks``: ``BitmapMasks`` (n, H, W).
    - ``ranks``: (n,) int64, 1 = most salient.
    - ``class_ids``: (n,) int64 COCO class (1 = person).
    - ``keypoints``: (n, 17, 2) float32 pixels of the current image.
    - ``keypoints_visible``: (n, 17) float32 (1 = labelled joint).
    - ``keypoints_labelled``: (n, ) bool, False for a person without
      keypoints (when the loader gives it).

    Args:
        meta_keys (Sequence[str]): Keys copied into the sample's metainfo
            when present.
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        """Pack one result dict.

        Args:
            results (dict): Result dict from the pipeline.

        Returns:
            dict: ``inputs`` and ``data_samples``.
        """
        packed = dict()
        if 'img' in results:
            img = results['img']
            if img.ndim < 3:
                img = np.expand_dims(img, -1)
            if not img.flags.c_contiguous:
                img = to_tensor(np.ascontiguousarray(img.transpose(2, 0, 1)))
            else:
                img = to_tensor(img).permute(2, 0, 1).contiguous()
            packed['inputs'] = img

        sample = DetDataSample()
        if 'gt_ranks' in results:
            gt = InstanceData()
            bboxes = results['gt_bboxes']
            if isinstance(bboxes, BaseBoxes):
                bboxes = bboxes.tensor
            gt.bboxes = torch.as_tensor(
                bboxes, dtype=torch.float32).reshape(-1, 4)
            gt.labels = torch.as_tensor(
                results['gt_bboxes_labels'], dtype=torch.int64)
            if 'gt_masks' in results:
                gt.masks = results['gt_masks']
            gt.ranks = torch.as_tensor(results['gt_ranks'], dtype=torch.int64)
            gt.class_ids = torch.as_tensor(
                results['gt_class_ids'], dtype=torch.int64)
            gt.keypoints = torch.as_tensor(
                np.asarray(results['gt_keypoints'],
                           dtype=np.float32)).reshape(-1, NUM_KEYPOINTS, 2)
            gt.keypoints_visible = torch.as_tensor(
                np.asarray(results['gt_keypoints_visible'],
                           dtype=np.float32)).reshape(-1, NUM_KEYPOINTS)
            if 'gt_keypoints_labelled' in results:
                gt.keypoints_labelled = torch.as_tensor(
                    np.asarray(results['gt_keypoints_labelled'], dtype=bool))
            sample.gt_instances = gt
        sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        packed['data_samples'] = sample
        return packed

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
