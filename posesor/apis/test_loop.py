# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""A test loop that takes person keypoints from an mmpose model.

Used by ``tools/test.py`` when a ``pose_estimator`` is configured, so that
the metrics (JAE) and the ``--show-dir`` overlays see the mmpose keypoints.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmdet.registry import LOOPS
from mmengine.config import ConfigDict
from mmengine.evaluator import Evaluator
from mmengine.runner import TestLoop, autocast
from mmengine.runner import loops as mmengine_loops
from torch.utils.data import DataLoader

from ..models.heads.pose_source import (POSE_SOURCE_EXTERNAL,
                                        TEST_POSE_SOURCES, check_pose_source)
from ..utils.config import ConfigError
from .pose_estimator import build_pose_refiner, rank_with_pose_estimator


@LOOPS.register_module()
class PoseRefinedTestLoop(TestLoop):
    """``TestLoop`` whose predictions get mmpose keypoints for persons.

    After ``model.test_step`` and before the evaluator and the hooks see
    the predictions, :class:`~posesor.apis.TopdownPoseRefiner` replaces the
    keypoints of predicted persons (read from each sample's ``img_path``);
    with ``model.rank_head.test_pose_source='external'`` the batch is then
    ranked again from those keypoints (see
    :func:`~posesor.apis.rank_with_pose_estimator`).

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
            # with test_pose_source='external' the mmpose poses also rank
            outputs = rank_with_pose_estimator(self.runner.model, data_batch,
                                               self.pose_refiner)
        update_losses = getattr(mmengine_loops, '_update_losses', None)
        if update_losses is not None:
            outputs, self.test_loss = update_losses(outputs, self.test_loss)
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


def set_test_pose_source(
        cfg: ConfigDict,
        pose_source: Optional[str],
        has_pose_estimator: Optional[bool] = None) -> ConfigDict:
    """Choose where PDR's poses come from at test (``pose_source``).

    Sets ``model.rank_head.test_pose_source`` (see
    :mod:`posesor.models.heads.pose_source`): 'predicted' (PAI's poses),
    'gt' (the matched ground-truth keypoints, an oracle; the test data must
    carry annotations) or 'external' (the mmpose poses of the config's
    ``pose_estimator``, which must then be set).

    Args:
        cfg (Config): A full PoseSOR config (modified in place).
        pose_source (str, optional): None keeps the config's choice.
        has_pose_estimator (bool, optional): Whether a pose estimator is
            given; defaults to whether the config has ``pose_estimator``.

    Returns:
        Config: ``cfg``.

    Raises:
        ValueError: If the source is unknown.
        ConfigError: If 'external' has no ``pose_estimator``.
    """
    if pose_source is not None:
        check_pose_source(pose_source, TEST_POSE_SOURCES, 'pose_source')
        cfg.model.rank_head.test_pose_source = pose_source
    chosen = cfg.model.get('rank_head', {}).get('test_pose_source', None)
    if has_pose_estimator is None:
        has_pose_estimator = bool(cfg.get('pose_estimator', None))
    if chosen == POSE_SOURCE_EXTERNAL and not has_pose_estimator:
        raise ConfigError('pose source "external" ranks from an mmpose '
                          'model: give --pose-config (or a pose_estimator '
                          'in the config)')
    return cfg
