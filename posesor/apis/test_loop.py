# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""A test loop that takes person keypoints from an mmpose model.

Used by ``tools/test.py`` when a ``pose_estimator`` is configured, so that
the metrics (JAE) and the ``--show-dir`` overlays see the mmpose keypoints.
"""
from typing import Dict, List, Sequence, Union

import torch
from mmdet.registry import LOOPS
from mmengine.config import ConfigDict
from mmengine.evaluator import Evaluator
from mmengine.runner import TestLoop, autocast
from mmengine.runner import loops as mmengine_loops
from torch.utils.data import DataLoader

from .pose_estimator import build_pose_refiner


@LOOPS.register_module()
class PoseRefinedTestLoop(TestLoop):
    """``TestLoop`` whose predictions get mmpose keypoints for persons.

    After ``model.test_step`` and before the evaluator and the hooks see
    the predictions, :class:`~posesor.apis.TopdownPoseRefiner` replaces the
    keypoints of predicted persons (read from each sample's ``img_path``).

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): Test dataloader (or its config).
        evaluator (Evaluator | dict | list): Test evaluator (or config).
        pose_estimator (dict): Config of the
            :class:`~posesor.apis.TopdownPoseRefiner`. Its ``device``
            defaults to the detector's device.
        fp16 (bool): Whether to test under autocast. Defaults to False.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 evaluator: Union[Evaluator, Dict, List],
                 pose_estimator: dict,
                 fp16: bool = False) -> None:
        super().__init__(runner, dataloader, evaluator, fp16=fp16)
        param = next(iter(runner.model.parameters()), None)
        device = param.device if param is not None else 'cpu'
        self.pose_refiner = build_pose_refiner(pose_estimator, device=device)
        if self.pose_refiner is None:
            raise ValueError('PoseRefinedTestLoop needs `pose_estimator`')

    @torch.no_grad()
    def run_iter(self, idx: int, data_batch: Sequence[dict]) -> None:
        """Predict one batch, refine person keypoints, then evaluate.

        Args:
            idx (int): Index of the batch.
            data_batch (Sequence[dict]): Batch from the dataloader.
        """
        self.runner.call_hook(
            'before_test_iter', batch_idx=idx, data_batch=data_batch)
        with autocast(enabled=self.fp16):
            outputs = self.runner.model.test_step(data_batch)
        update_losses = getattr(mmengine_loops, '_update_losses', None)
        if update_losses is not None:
            outputs, self.test_loss = update_losses(outputs, self.test_loss)
        self.pose_refiner.refine_data_samples(outputs)
        self.evaluator.process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(
            'after_test_iter',
            batch_idx=idx,
            data_batch=data_batch,
            outputs=outputs)


def use_pose_estimator_in_test(cfg: ConfigDict) -> ConfigDict:
    """Switch a config's test loop to :class:`PoseRefinedTestLoop`.

    Does nothing unless the config has a non-empty top-level
    ``pose_estimator`` dict.

    Args:
        cfg (Config): A full PoseSOR config (modified in place).

    Returns:
        Config: ``cfg``.
    """
    pose_cfg = cfg.get('pose_estimator', None)
    if not pose_cfg:
        return cfg
    test_cfg = dict(cfg.get('test_cfg', None) or {})
    loop_type = test_cfg.pop('type', 'TestLoop')
    if loop_type not in ('TestLoop', 'PoseRefinedTestLoop'):
        raise ValueError(
            f'test_cfg.type={loop_type!r} cannot be combined with '
            '`pose_estimator`; use TestLoop')
    test_cfg.update(type='PoseRefinedTestLoop', pose_estimator=pose_cfg)
    cfg.test_cfg = test_cfg
    return cfg
