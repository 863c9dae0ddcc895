# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Loading of SOR annotations (masks, boxes, ranks, keypoints)."""
from typing import Optional

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks

from ..sor_parsing import (NUM_KEYPOINTS, SORAnnotationError,
                           decode_segmentation)


@TRANSFORMS.register_module()
class LoadSORAnnotations(BaseTransform):
    """Load the instances of a :class:`~posesor.datasets.SORDataset` item.

    Required keys: ``instances`` (sorted by rank), ``height``, ``width``;
    ``img_id``, ``img_path`` and ``ori_shape`` are used for checks and
    messages when present. An item without ``instances`` (an image given
    to mmdet's ``inference_detector`` or ``DetInferencer``, which has no
    annotation) passes through unchanged.

    Added keys (``n`` instances, kept in rank order):

    - ``gt_bboxes`` (HorizontalBoxes): (n, 4) float32 xyxy pixels.
    - ``gt_bboxes_labels`` (np.ndarray): (n,) int64 zeros.
    - ``gt_ignore_flags`` (np.ndarray): (n,) bool, all False.
    - ``gt_masks`` (BitmapMasks): (n, height, width) binary masks decoded
      from polygons or RLE at the annotated image size.
    - ``gt_ranks`` (np.ndarray): (n,) int64, 1 = most salient.
    - ``gt_class_ids`` (np.ndarray): (n,) int64 COCO class (1 = person).
    - ``gt_keypoints`` (np.ndarray): (n, 17, 2) float32 pixels.
    - ``gt_keypoints_visible`` (np.ndarray): (n, 17) float32, 1 where the
      COCO visibility flag is > 0 (labelled, visible or occluded), as the
      reference's ``v > 0.5`` joint label.

    Args:
        with_mask (bool): Decode masks. Defaults to True.
        polygon_backend (str): ``'cv2'`` (default, faithful: the
            reference fills all polygons of an annotation at once with
            ``cv2.fillPoly``, even-odd, on rounded vertices; the same default
            as ``SORMetric``) or ``'pycocotools'`` (the COCO rasteriser; masks
            differ by boundary pixels). RLE input is unaffected. See
            :func:`posesor.datasets.sor_parsing.decode_segmentation`.
    """

    def __init__(self,
                 with_mask: bool = True,
                 polygon_backend: str = 'cv2') -> None:
        if polygon_backend not in ('pycocotools', 'cv2'):
            raise ValueError(
                f'polygon_backend must be "pycocotools" or "cv2", got '
                f'{polygon_backend!r}')
        self.with_mask = with_mask
        self.polygon_backend = polygon_backend

    def transform(self, results: dict) -> Optional[dict]:
        """Decode the annotations of one image.

        Args:
            results (dict): Result dict from the dataset and the previous
                transforms.

        Returns:
            dict: ``results`` with the ``gt_*`` keys added.
        """
        if 'instances' not in results:
            return results  # inference input: nothing to load
        instances = results['instances']
        height, width = results['height'], results['width']
        ori_shape = results.get('ori_shape')
        if ori_shape is not None and tuple(ori_shape[:2]) != (height, width):
            raise SORAnnotationError(
                f'image {results.get("img_path")!r} (image id '
                f'{results.get("img_id")!r}) has size {tuple(ori_shape[:2])}'
                f' but its annotation says {(height, width)}')
        n = len(instances)
        bboxes = np.zeros((n, 4), dtype=np.float32)
        ranks = np.zeros((n, ), dtype=np.int64)
        class_ids = np.zeros((n, ), dtype=np.int64)
        keypoints = np.zeros((n, NUM_KEYPOINTS, 2), dtype=np.float32)
        visible = np.zeros((n, NUM_KEYPOINTS), dtype=np.float32)
        masks = []
        for i, inst in enumerate(instances):
            bboxes[i] = inst['bbox']
            ranks[i] = inst['rank']
            class_ids[i] = inst.get('class_id', 0)
            kpts = np.asarray(
                inst['keypoints'], dtype=np.float32).reshape(NUM_KEYPOINTS, 3)
            keypoints[i] = kpts[:, :2]
            visible[i] = (kpts[:, 2] > 0).astype(np.float32)
            if self.with_mask:
                masks.append(
                    decode_segmentation(inst['mask'], height, width,
                                        self.polygon_backend))
        results['gt_bboxes'] = HorizontalBoxes(bboxes, dtype=torch.float32)
        results['gt_bboxes_labels'] = np.zeros((n, ), dtype=np.int64)
        results['gt_ignore_flags'] = np.zeros((n, ), dtype=bool)
        results['gt_ranks'] = ranks
        results['gt_class_ids'] = class_ids
        results['gt_keypoints'] = keypoints
        results['gt_keypoints_visible'] = visible
        if self.with_mask:
            mask_arr = np.stack(masks) if masks else np.zeros(
                (0, height, width), dtype=np.uint8)
            results['gt_masks'] = BitmapMasks(mask_arr, height, width)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(with_mask={self.with_mask}, '
                f'polygon_backend={self.polygon_backend!r})')
