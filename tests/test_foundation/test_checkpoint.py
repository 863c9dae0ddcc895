# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""mmengine checkpoints load under torch >= 2.6 with weights_only=True."""
import collections
import os

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint, save_checkpoint
from torch import nn

import posesor  # noqa: F401
from posesor.utils import UnsafeCheckpointError


class _Payload:
    """A class that no allow-list knows."""


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        pred = self.linear(inputs).squeeze(1)  # (B, )
        if mode == 'loss':
            return dict(loss=((pred - labels)**2).mean())
        return pred


class _ToyDataset(torch.utils.data.Dataset):
    metainfo = dict()

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        x = torch.tensor([float(idx), 1.0])
        return dict(inputs=x, labels=x.sum())


def test_save_and_load_checkpoint_with_mmengine_meta(tmp_path):
    model = nn.Linear(2, 2)
    buffer = HistoryBuffer()
    buffer.update(0.5)
    buffer.update(np.float64(0.25))
    meta = dict(
        message_hub=dict(log_scalars=dict(loss=buffer)),
        arr=np.arange(3, dtype=np.int64),
        scalar=np.float32(1.5),
        counter=collections.Counter([3, 3, 5]))
    path = str(tmp_path / 'ckpt.pth')
    save_checkpoint(dict(state_dict=model.state_dict(), meta=meta), path)

    other = nn.Linear(2, 2)
    ckpt = load_checkpoint(other, path)
    assert torch.equal(other.weight, model.weight)
    loaded = ckpt['meta']['message_hub']['log_scalars']['loss']
    assert isinstance(loaded, HistoryBuffer)
    assert loaded.mean() == pytest.approx(0.375)
    np.testing.assert_array_equal(ckpt['meta']['arr'], np.arange(3))
    assert ckpt['meta']['counter'] == collections.Counter({3: 2, 5: 1})


def _runner(work_dir, max_iters, resume=False):
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        param_scheduler=dict(
            type='MultiStepLR', milestones=[2], by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2,
                            by_epoch=False)),
        resume=resume,
        randomness=dict(seed=0),
        default_scope='mmdet')


def test_runner_resumes_from_its_checkpoint(tmp_path):
    _runner(tmp_path, max_iters=2).train()
    assert os.path.isfile(tmp_path / 'iter_2.pth')
    runner = _runner(tmp_path, max_iters=4, resume=True)
    runner.train()
    assert runner.iter == 4
    assert os.path.isfile(tmp_path / 'iter_4.pth')
    # The resumed message hub carries the history of the first run.
    hub = torch.load(tmp_path / 'iter_4.pth')['message_hub']
    assert len(hub['log_scalars']['train/loss'].data[0]) == 4


def test_checkpoint_with_unknown_class_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv('POSESOR_TRUST_CHECKPOINTS', raising=False)
    path = str(tmp_path / 'evil.pth')
    torch.save(
        dict(
            state_dict=nn.Linear(2, 2).state_dict(),
            meta=dict(payload=_Payload())), path)
    with pytest.raises(UnsafeCheckpointError) as info:
        load_checkpoint(nn.Linear(2, 2), path)
    message = str(info.value)
    assert '_Payload' in message
    assert 'POSESOR_TRUST_CHECKPOINTS=1' in message
    assert 'add_safe_globals' in message

    monkeypatch.setenv('POSESOR_TRUST_CHECKPOINTS', '1')
    ckpt = load_checkpoint(nn.Linear(2, 2), path)
    assert isinstance(ckpt['meta']['payload'], _Payload)
