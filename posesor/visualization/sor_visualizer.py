# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Visualizer for salient object ranking results."""
from typing import Optional

import mmcv
import numpy as np
import torch
from mmdet.registry import VISUALIZERS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks, PolygonMasks
from mmdet.visualization import DetLocalVisualizer
from mmengine.dist import master_only
from mmengine.structures import InstanceData

from .draw import draw_sor_overlay


def _to_numpy(value) -> Optional[np.ndarray]:
    if value is None:
        return None
    if isinstance(value, (BitmapMasks, PolygonMasks)):
        return value.to_ndarray()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if hasattr(value, 'tensor'):  # mmdet boxes
        return value.tensor.detach().cpu().numpy()
    return np.asarray(value)


@VISUALIZERS.register_module()
class SORLocalVisualizer(DetLocalVisualizer):
    """Draws rank-coloured masks, rank badges, COCO-17 skeletons and a
    legend of the rank colours (see :func:`draw_sor_overlay`).

    Works as mmdet's ``DetVisualizationHook`` visualizer: ground truth
    (``gt_instances`` with ``masks``, ``ranks``, ``keypoints``,
    ``keypoints_visible``) and predictions (``pred_instances`` with
    ``masks``, ``ranks``, ``keypoints``, ``keypoint_scores``) are drawn side
    by side. Instances without ``ranks`` are taken as given most salient
    first. Predictions are not filtered by ``pred_score_thr`` unless
    ``score_thr`` is set: PoseSOR's predictions are already the selected
    salient instances.

    Args:
        name (str): Instance name.
        alpha (float): Mask opacity. Defaults to 0.55.
        keypoint_thr (float): Joints with a visibility flag or score above
            it are drawn. Defaults to 0.5.
        score_thr (float, optional): If set, drop predictions whose
            ``scores`` are below it. Defaults to None.
        draw_bbox (bool): Also outline boxes. Defaults to False.
        draw_skeleton (bool): Draw skeletons. Defaults to True.
        draw_legend (bool): Draw the legend of the rank colours. Defaults
            to True.
        draw_partitions (bool): Tint the next-target partition maps of
            predictions that carry ``partitions`` (``test_cfg``'s
            ``with_partitions``). Defaults to False.
        **kwargs: ``DetLocalVisualizer`` arguments (``vis_backends``,
            ``save_dir`` ...).
    """

    def __init__(self,
                 name: str = 'visualizer',
                 alpha: float = 0.55,
                 keypoint_thr: float = 0.5,
                 score_thr: Optional[float] = None,
                 draw_bbox: bool = False,
                 draw_skeleton: bool = True,
                 draw_legend: bool = True,
                 draw_partitions: bool = False,
                 **kwargs) -> None:
        super().__init__(name=name, alpha=alpha, **kwargs)
        self.keypoint_thr = keypoint_thr
        self.score_thr = score_thr
        self.draw_bbox = draw_bbox
        self.draw_skeleton = draw_skeleton
        self.draw_legend = draw_legend
        self.draw_partitions = draw_partitions

    def draw_sor_instances(self, image: np.ndarray,
                           instances: InstanceData) -> np.ndarray:
        """Draw SOR instances on an image.

        Args:
            image (np.ndarray): (H, W, 3) uint8 RGB image.
            instances (InstanceData): Instances with ``masks`` and
                optionally ``ranks``, ``keypoints``, ``keypoints_visible``
                or ``keypoint_scores``, ``bboxes``, ``partitions``.

        Returns:
            np.ndarray: (H, W, 3) uint8 drawn image.
        """
        if 'masks' not in instances or len(instances) == 0:
            return image.copy()
        masks = _to_numpy(instances.masks)
        ranks = _to_numpy(instances.get('ranks'))
        vis = instances.get('keypoints_visible')
        if vis is None:
            vis = instances.get('keypoint_scores')
        bboxes = _to_numpy(instances.get('bboxes')) if self.draw_bbox \
            else None
        partitions = _to_numpy(instances.get('partitions')) \
            if self.draw_partitions else None
        return draw_sor_overlay(
            image,
            masks,
            ranks=ranks,
            keypoints=_to_numpy(instances.get('keypoints')),
            keypoints_visible=_to_numpy(vis),
            bboxes=bboxes,
            partitions=partitions,
            alpha=self.alpha,
            keypoint_thr=self.keypoint_thr,
            draw_skeleton=self.draw_skeleton,
            draw_legend_box=self.draw_legend)

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[DetDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3,
                       step: int = 0) -> None:
        """Draw ground truth and/or predictions and store or show them.

        Args:
            name (str): Image identifier.
            image (np.ndarray): (H, W, 3) RGB image.
            data_sample (DetDataSample, optional): Sample with
                ``gt_instances`` and/or ``pred_instances``.
            draw_gt (bool): Draw ground truth. Defaults to True.
            draw_pred (bool): Draw predictions. Defaults to True.
            show (bool): Show in a window. Defaults to False.
            wait_time (float): Window wait time in seconds.
            out_file (str, optional): Write the drawing (RGB -> BGR file)
                here instead of the vis backends.
            pred_score_thr (float): Unused (see ``score_thr``); kept for
                the hook's signature.
            step (int): Global step for the backends.
        """
        image = np.asarray(image).clip(0, 255).astype(np.uint8)
        gt_img = pred_img = None
        if data_sample is not None:
            data_sample = data_sample.cpu()
        if draw_gt and data_sample is not None \
                and 'gt_instances' in data_sample:
            gt_img = self.draw_sor_instances(image, data_sample.gt_instances)
        if draw_pred and data_sample is not None \
                and 'pred_instances' in data_sample:
            preds = data_sample.pred_instances
            if self.score_thr is not None and 'scores' in preds:
                preds = preds[preds.scores >= self.score_thr]
            pred_img = self.draw_sor_instances(image, preds)
        if gt_img is not None and pred_img is not None:
            drawn = np.concatenate((gt_img, pred_img), axis=1)
        elif gt_img is not None:
            drawn = gt_img
        elif pred_img is not None:
            drawn = pred_img
        else:
            drawn = image
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)
