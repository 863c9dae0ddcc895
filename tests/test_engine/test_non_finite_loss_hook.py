# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""``NonFiniteLossHook`` (issue 14, case 1): a NaN/inf loss stops training
before a checkpoint of the broken model is written."""
import math
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner

import posesor  # noqa: F401
from posesor.engine import NonFiniteLossError, NonFiniteLossHook
from posesor.utils import safe_torch_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
RUNTIME = osp.join(REPO, 'configs', '_base_', 'default_runtime.py')
MAX_ITERS = 5


def test_hook_checks_every_loss_term():
    hook = NonFiniteLossHook()
    runner = SimpleNamespace(iter=6, work_dir='/tmp/wd')
    finite = dict(
        loss=torch.tensor(3.0),
        loss_mask=torch.tensor(1.0),
        loss_rank=2.0,
        acc=torch.tensor(float('nan')))  # not a loss: not checked
    hook.after_train_iter(runner, 6, outputs=finite)
    hook.after_train_iter(runner, 6, outputs=None)
    for bad in (float('nan'), float('inf'), -float('inf')):
        outputs = dict(finite, loss_rank=torch.tensor([1.0, bad]))
        with pytest.raises(NonFiniteLossError) as e:
            hook.after_train_iter(runner, 6, outputs=outputs)
        msg = str(e.value)
        assert 'iteration 7' in msg  # 1-based, as in the log
        assert 'loss_rank not finite' in msg
        assert 'loss_mask: 1' in msg and 'loss: 3' in msg
        assert 'acc' not in msg


class _ToyModel(BaseModel):
    """One weight vector; ``loss_b`` is NaN from call ``nan_from`` on."""

    def __init__(self, nan_from: int) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(2))
        self.nan_from = nan_from
        self.calls = 0

    def forward(self, inputs, data_samples=None, mode='loss'):
        self.calls += 1
        x = torch.stack(inputs)
        scale = math.nan if self.calls >= self.nan_from else 1.0
        return dict(
            loss_a=(x * self.weight).pow(2).mean(),
            loss_b=(x * self.weight).mean() * scale)


def _train(work_dir, custom_hooks, nan_from=3):
    runner = Runner(
        model=_ToyModel(nan_from),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=[dict(inputs=torch.ones(2))] * 4,
            sampler=dict(type='InfiniteSampler', shuffle=False),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=MAX_ITERS),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
            logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=custom_hooks,
        default_scope='mmdet',
        experiment_name=osp.basename(work_dir))
    runner.train()
    return runner


def test_training_stops_before_a_nan_checkpoint(tmp_path):
    hooks = Config.fromfile(RUNTIME).custom_hooks
    assert [h['type'] for h in hooks] == ['NonFiniteLossHook']
    with pytest.raises(NonFiniteLossError) as e:
        _train(tmp_path / 'with_hook', hooks)
    msg = str(e.value)
    assert 'iteration 3' in msg and 'loss_b not finite' in msg
    assert 'loss_a: ' in msg and 'loss_b: nan' in msg
    names = {
        n
        for n in os.listdir(tmp_path / 'with_hook') if n.endswith('.pth')
    }
    assert names == {'iter_1.pth', 'iter_2.pth'}
    state = safe_torch_load(str(tmp_path / 'with_hook' /
                                'iter_2.pth'))['state_dict']
    assert torch.isfinite(state['weight']).all()
    # without the hook the run "succeeds" and saves NaN weights
    _train(tmp_path / 'without', [])
    state = safe_torch_load(
        str(tmp_path / 'without' / f'iter_{MAX_ITERS}.pth'))['state_dict']
    assert torch.isnan(state['weight']).all()
