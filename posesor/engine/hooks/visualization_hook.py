# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Test-time overlays whose file names stay unique (``--show-dir``)."""
import os.path as osp
from typing import Dict, Optional, Sequence

import mmcv
from mmdet.engine.hooks import DetVisualizationHook
from mmdet.registry import HOOKS
from mmdet.structures import DetDataSample
from mmengine.fileio import get
from mmengine.logging import print_log
from mmengine.runner import Runner
from mmengine.utils import mkdir_or_exist

# decode as the configs' loader reads the stored pixels (no EXIF rotation)
STORED_PIXELS = 'color_ignore_orientation'


def overlay_name(img_path: str, img_root: str) -> str:
    """Path of an image's overlay inside the output folder: the image's
    path relative to the dataset's image folder (so ``a/000001.jpg`` and
    ``b/000001.jpg`` stay apart), else its base name.

    Args:
        img_path (str): The image file.
        img_root (str): The dataset's image folder (``data_prefix['img']``);
            '' when unknown.

    Returns:
        str: A relative path (``/`` separated).
    """
    if img_root:
        rel = osp.relpath(img_path, img_root)
        if not rel.startswith('..'):
            return rel.replace(osp.sep, '/')
    return osp.basename(img_path)


@HOOKS.register_module()
class SORVisualizationHook(DetVisualizationHook):
    """mmdet's ``DetVisualizationHook`` whose test overlays keep each
    image's path relative to the test dataset's image folder, so images of
    the same name in different folders no longer overwrite each other; a
    name that still repeats (the same file listed twice) gets the image
    index appended, with one warning counting them. The image is read in
    the orientation of the prediction (``ori_shape``).

    Args:
        **kwargs: ``DetVisualizationHook`` arguments.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._img_root = ''
        self._out_dir: Optional[str] = None
        self._used: Dict[str, int] = {}
        self._num_renamed = 0

    def before_test_epoch(self, runner: Runner) -> None:
        """Find the image folder and the output folder."""
        dataset = getattr(runner.test_dataloader, 'dataset', None)
        prefix = getattr(dataset, 'data_prefix', None) or {}
        self._img_root = prefix.get('img', '') or ''
        self._used, self._num_renamed = {}, 0
        if self.draw and self.test_out_dir is not None:
            # as mmdet: a relative folder goes under WORK_DIR/TIMESTAMP
            self._out_dir = osp.join(runner.work_dir, runner.timestamp,
                                     self.test_out_dir)
            mkdir_or_exist(self._out_dir)

    def after_test_iter(self, runner: Runner, batch_idx: int, data_batch: dict,
                        outputs: Sequence[DetDataSample]) -> None:
        """Draw (and save) the overlay of every image of the batch.

        Args:
            runner (Runner): The test runner.
            batch_idx (int): Index of the batch.
            data_batch (dict): The batch.
            outputs (Sequence[DetDataSample]): Predictions of the batch.
        """
        if not self.draw:
            return
        for data_sample in outputs:
            self._test_index += 1
            img_path = data_sample.img_path
            img_bytes = get(img_path, backend_args=self.backend_args)
            img = mmcv.imfrombytes(
                img_bytes, flag=STORED_PIXELS, channel_order='rgb')
            ori_shape = data_sample.metainfo.get('ori_shape')
            if ori_shape is not None and img.shape[:2] != tuple(ori_shape[:2]):
                # the loader read it EXIF-oriented (LoadImageAsAnnotated)
                img = mmcv.imfrombytes(img_bytes, channel_order='rgb')
            out_file = None
            if self._out_dir is not None:
                out_file = osp.join(self._out_dir, self._unique(img_path))
            self._visualizer.add_datasample(
                osp.basename(img_path) if self.show else 'test_img',
                img,
                data_sample=data_sample,
                show=self.show,
                wait_time=self.wait_time,
                pred_score_thr=self.score_thr,
                out_file=out_file,
                step=self._test_index)

    def after_test_epoch(self, runner: Runner, metrics=None) -> None:
        """Count the overlays renamed because their name repeated."""
        if self._num_renamed:
            print_log(
                f'{self._num_renamed} overlay(s) in {self._out_dir} got the '
                f'image index appended: their image path repeats in the '
                f'test set',
                logger='current',
                level=30)

    def _unique(self, img_path: str) -> str:
        name = overlay_name(img_path, self._img_root)
        seen = self._used.get(name, 0)
        self._used[name] = seen + 1
        if seen == 0:
            return name
        self._num_renamed += 1
        stem, ext = osp.splitext(name)
        return f'{stem}_{self._test_index}{ext}'
