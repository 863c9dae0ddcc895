# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Helpers of the projects' tests: train a project's tiny config for a few
iterations on the session's synthetic dataset and test it, in process."""
import os.path as osp
import sys
from typing import Dict

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# `projects` is not installed with the package (mmdet's convention): the
# projects' configs import it from the repository root, as tools/*.py do.
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def _load_script(rel_path: str):
    """Import a script of the repository (e.g. a project's converter tool)
    as a module, to call its ``main``.

    Args:
        rel_path (str): Path relative to the repository root.

    Returns:
        module: The loaded script module.
    """
    import importlib.util
    name = osp.splitext(rel_path)[0].replace('/', '_')
    spec = importlib.util.spec_from_file_location(name,
                                                  osp.join(REPO, rel_path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny_config(rel_path: str,
                data_root: str,
                work_dir: str,
                iters: int = 2) -> Config:
    """A project's tiny config bound to ``data_root``, ``iters`` iterations,
    batch 2, no checkpoints, no validation."""
    cfg = Config.fromfile(osp.join(REPO, rel_path))
    data_root = data_root.rstrip('/') + '/'
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.basename(work_dir)
    cfg.train_dataloader.batch_size = 2
    cfg.train_dataloader.dataset.data_root = data_root
    for name in ('val_dataloader', 'test_dataloader'):
        cfg[name].dataset.data_root = data_root
    for name in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg[name]
        for evaluator in (evaluators
                          if isinstance(evaluators, list) else [evaluators]):
            evaluator.ann_file = data_root + 'synthetic_test.json'
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=-1, by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.randomness = dict(seed=0)
    return cfg


def _train_and_test(rel_path: str,
                    data_root: str,
                    work_dir: str,
                    iters: int = 2) -> Dict:
    """Train ``iters`` iterations and test; returns the losses logged at
    each iteration and the test metrics."""
    cfg = tiny_config(rel_path, data_root, work_dir, iters)
    # one thread: the tiny models gain nothing from more, and a shared
    # machine's cores are better used by parallel test processes
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runner = Runner.from_cfg(cfg)
        runner.train()
        losses = list(runner.message_hub.get_scalar('train/loss').data[0])
        metrics = runner.test()
    finally:
        torch.set_num_threads(threads)
    return dict(losses=losses, metrics=metrics, runner=runner)


@pytest.fixture
def train_and_test():
    """``train_and_test(config, data_root, work_dir, iters=2)`` -> dict of
    ``losses``, ``metrics`` and the ``runner``."""
    return _train_and_test


@pytest.fixture
def load_script():
    """``load_script(rel_path)`` -> a repository script imported as a
    module (see :func:`_load_script`)."""
    return _load_script
