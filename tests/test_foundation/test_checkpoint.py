# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""mmengine checkpoints load under torch >= 2.6 with weights_only=True;
hostile, broken and mismatched checkpoints are refused by name; saving is
atomic."""
import collections
import errno
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint, save_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local
from torch import nn

import posesor  # noqa: F401
from posesor.utils import (CheckpointReadError, UnsafeCheckpointError,
                           safe_checkpoint_loading, safe_torch_load)
from posesor.utils.checkpoint import (AtomicLocalBackend,
                                      PartialCheckpointError, check_state_dict)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


class _Payload:
    """A class that no allow-list knows."""


class _ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.bn = nn.BatchNorm1d(2)  # buffers, as in real models

    def forward(self, inputs, labels=None, mode='tensor'):
        pred = self.linear(self.bn(inputs)).squeeze(1)  # (B, )
        if mode == 'loss':
            return dict(loss=((pred - labels)**2).mean())
        if mode == 'predict':
            return [dict(pred=p, label=t) for p, t in zip(pred, labels)]
        return pred


class _ToyDataset(torch.utils.data.Dataset):
    metainfo = dict()

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        x = torch.tensor([float(idx), 1.0])
        return dict(inputs=x, labels=x.sum())


class _ToyMetric(BaseMetric):
    """Float, numpy and integer results, as SORMetric returns."""

    def process(self, data_batch, data_samples):
        self.results += [
            float(s['pred'] - s['label'])**2 for s in data_samples
        ]

    def compute_metrics(self, results):
        return dict(
            mse=np.float64(np.mean(results)),
            count=len(results),
            nan=np.int64(0))


def test_import_registers_only():
    """``import posesor`` leaves mmengine's loader alone and loads neither
    mmpose nor the synthetic-scene renderer (until asked for)."""
    code = ('import sys, posesor\n'
            'from mmengine.runner.checkpoint import CheckpointLoader, '
            'load_from_local\n'
            'assert CheckpointLoader._schemes[""] is load_from_local\n'
            'print(sorted(m for m in ("mmpose", "mmpose.apis", '
            '"posesor.datasets.synthetic") if m in sys.modules))\n'
            'from posesor.datasets import generate_synthetic_sor\n'
            'assert "posesor.datasets.synthetic" in sys.modules\n')
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=REPO),
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == '[]'


def test_scoped_loader_is_restored(tmp_path):
    with safe_checkpoint_loading():
        assert CheckpointLoader._schemes[''] is not load_from_local
    assert CheckpointLoader._schemes[''] is load_from_local
    with pytest.raises(RuntimeError):
        with safe_checkpoint_loading():
            raise RuntimeError('boom')
    assert CheckpointLoader._schemes[''] is load_from_local


def _values_mmengine_writes():
    """Every kind of value mmengine's runner and hooks put in checkpoints."""
    empty = HistoryBuffer()  # pickles an empty array: bytes() / b''
    full = HistoryBuffer()
    for v in (0.5, np.float64(0.25), 3):
        full.update(v)
    numbers = {}
    for name, dtype in sorted(np.sctypeDict.items(), key=str):
        dtype = np.dtype(dtype)
        if dtype.kind in 'biufc':
            numbers[f'{name}_scalar'] = dtype.type(1)
            numbers[f'{name}_array'] = np.arange(3).astype(dtype)
            numbers[f'{name}_empty'] = np.zeros(0, dtype)
    return dict(
        empty_buffer=empty,
        full_buffer=full,
        numbers=numbers,
        counter=collections.Counter([3, 3, 5]),
        text=b'raw bytes')


def test_every_value_mmengine_writes_loads(tmp_path):
    model = nn.Linear(2, 2)
    meta = _values_mmengine_writes()
    path = str(tmp_path / 'ckpt.pth')
    save_checkpoint(dict(state_dict=model.state_dict(), meta=meta), path)
    other = nn.Linear(2, 2)
    # mmengine's own loader (torch's allow-list), and the scoped one
    ckpt = load_checkpoint(other, path)
    with safe_checkpoint_loading():
        scoped = load_checkpoint(nn.Linear(2, 2), path)
    for loaded in (ckpt, scoped):
        assert torch.equal(other.weight, model.weight)
        got = loaded['meta']
        assert len(got['empty_buffer'].data[0]) == 0
        assert got['full_buffer'].mean() == pytest.approx(3.75 / 3)
        for key, value in meta['numbers'].items():
            assert got['numbers'][key].dtype == value.dtype, key
            assert isinstance(got['numbers'][key], type(value)) or \
                np.ndim(value) == 0, key
            np.testing.assert_array_equal(got['numbers'][key], value)
        assert got['counter'] == collections.Counter({3: 2, 5: 1})
        assert got['text'] == b'raw bytes'


def _runner(work_dir, max_iters, resume=False):
    return Runner(
        model=_ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=2),
        val_dataloader=dict(
            dataset=_ToyDataset(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=4),
        val_evaluator=[_ToyMetric()],
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=0.01)),
        param_scheduler=dict(
            type='MultiStepLR', milestones=[2], by_epoch=False),
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=2),
        default_hooks=dict(
            checkpoint=dict(
                type='CheckpointHook',
                interval=2,
                by_epoch=False,
                backend_args=dict(backend='local_atomic'))),
        custom_hooks=[dict(type='EMAHook')],
        resume=resume,
        randomness=dict(seed=0),
        default_scope='mmdet')


def test_runner_checkpoint_with_ema_and_validation(tmp_path):
    """Everything a runner with EMA and validation saves loads back."""
    _runner(tmp_path, max_iters=4).train()
    # torch's own weights-only load with the allow-list of ``posesor``;
    # iter_4 is saved after the validation at iteration 2, so its message
    # hub holds validation results (numpy and int)
    ckpt = torch.load(tmp_path / 'iter_4.pth', weights_only=True)
    assert 'ema_state_dict' in ckpt
    assert {'val/mse', 'val/count',
            'val/nan'} <= set(ckpt['message_hub']['log_scalars'])
    assert (tmp_path / 'last_checkpoint').read_text().endswith('iter_4.pth')
    runner = _runner(tmp_path, max_iters=6, resume=True)
    with safe_checkpoint_loading():
        runner.train()
    assert runner.iter == 6
    hub = torch.load(tmp_path / 'iter_6.pth')['message_hub']
    assert len(hub['log_scalars']['train/loss'].data[0]) == 6
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.tmp')]


def _pickle_file(path, obj):
    torch.save(obj, path)
    return str(path)


class _System:
    """Pickles as a call of ``os.system`` (blocked by torch)."""

    def __reduce__(self):
        return os.system, ('true', )


class _BigBytes:
    """Pickles as ``bytes(10 ** 12)`` (a terabyte)."""

    def __reduce__(self):
        return bytes, (10**12, )


class _Getattr:
    """Pickles as ``getattr(Counter, 'fromkeys')``."""

    def __reduce__(self):
        return getattr, (collections.Counter, 'fromkeys')


@pytest.mark.parametrize('payload, named, can_allow',
                         [(_Payload(), '_Payload', True),
                          (_System(), 'posix.system', False),
                          (_BigBytes(), 'bytes', False),
                          (_Getattr(), 'getattr', False)])
def test_unsafe_objects_are_refused_by_name(tmp_path, monkeypatch, payload,
                                            named, can_allow):
    monkeypatch.delenv('POSESOR_TRUST_CHECKPOINTS', raising=False)
    path = _pickle_file(tmp_path / 'evil.pth',
                        dict(state_dict={}, meta=dict(payload=payload)))
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_torch_load(path)
    message = str(info.value)
    assert named in message and 'unsupported object' not in message
    assert path in message
    assert 'POSESOR_TRUST_CHECKPOINTS=1' in message
    assert ('add_safe_globals' in message) == can_allow
    with safe_checkpoint_loading(), pytest.raises(UnsafeCheckpointError):
        load_checkpoint(nn.Linear(2, 2), path)


def test_trusted_checkpoint_loads_with_env(tmp_path, monkeypatch):
    path = _pickle_file(tmp_path / 'evil.pth',
                        dict(state_dict={}, meta=dict(payload=_Payload())))
    monkeypatch.setenv('POSESOR_TRUST_CHECKPOINTS', '1')
    ckpt = safe_torch_load(path)
    assert isinstance(ckpt['meta']['payload'], _Payload)


def _broken_files(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save(dict(state_dict=nn.Linear(2, 2).state_dict()), good)
    data = good.read_bytes()
    files = {
        'empty': b'',
        'text': b'this is a README, not weights\n',
        'truncated': data[:len(data) // 2],
        'pickle_garbage': b'\x80\x02garbage',
    }
    paths = {}
    for name, content in files.items():
        path = tmp_path / f'{name}.pth'
        path.write_bytes(content)
        paths[name] = str(path)
    return paths


def test_broken_files_say_cannot_read(tmp_path):
    for name, path in _broken_files(tmp_path).items():
        with pytest.raises(CheckpointReadError) as info:
            safe_torch_load(path)
        assert str(info.value).startswith(f'Cannot read checkpoint {path}: ')
        with safe_checkpoint_loading(), pytest.raises(
                CheckpointReadError, match='Cannot read checkpoint'):
            load_checkpoint(nn.Linear(2, 2), path)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        safe_torch_load(str(tmp_path / 'missing.pth'))


def test_check_state_dict_lists_problems(caplog):
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    state = {f'module.{k}': v for k, v in model.state_dict().items()}
    assert check_state_dict(model, state) == []  # DDP prefix is fine
    state = dict(model.state_dict())
    del state['1.bias']
    state['0.weight'] = torch.zeros(4, 2)
    state['extra.weight'] = torch.zeros(1)
    with pytest.raises(PartialCheckpointError) as info:
        check_state_dict(model, state, source='x.pth')
    message = str(info.value)
    assert 'x.pth' in message and '--allow-partial' in message
    assert '1 missing: 1.bias' in message
    assert '1 unexpected: extra.weight' in message
    assert '0.weight (4, 2) vs model (3, 2)' in message
    problems = check_state_dict(model, state, 'x.pth', allow_partial=True)
    assert len(problems) == 3


def test_atomic_save_survives_a_full_disk(tmp_path, monkeypatch):
    backend = AtomicLocalBackend()
    target = tmp_path / 'iter_1.pth'
    backend.put(b'complete checkpoint', target)
    real_fdopen = os.fdopen

    class _FullDisk:

        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[:5])
            raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(os, 'fdopen',
                        lambda fd, mode: _FullDisk(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match='No space'):
        backend.put(b'a longer checkpoint that does not fit', target)
    assert target.read_bytes() == b'complete checkpoint'
    assert os.listdir(tmp_path) == ['iter_1.pth']  # no temporary left


def test_checkpoint_hook_save_is_atomic(tmp_path, monkeypatch):
    """A save that fails leaves the previous checkpoint as the last one."""
    calls = []
    real_put = AtomicLocalBackend.put

    def put(self, obj, filepath):
        calls.append(str(filepath))
        if str(filepath).endswith('iter_4.pth'):
            raise OSError(errno.ENOSPC, 'No space left on device')
        real_put(self, obj, filepath)

    monkeypatch.setattr(AtomicLocalBackend, 'put', put)
    with pytest.raises(OSError, match='No space'):
        _runner(tmp_path, max_iters=4).train()
    assert calls and calls[-1].endswith('iter_4.pth')
    assert not (tmp_path / 'iter_4.pth').exists()
    last = (tmp_path / 'last_checkpoint').read_text()
    assert last.endswith('iter_2.pth')
    assert torch.load(last, weights_only=True)['meta']['iter'] == 2


def test_pickle_error_type_is_kept():
    assert issubclass(UnsafeCheckpointError, pickle.UnpicklingError)
    assert issubclass(CheckpointReadError, OSError)


def test_scoped_loader_names_itself_in_mmengines_log():
    """mmengine logs "Loads checkpoint by <loader name[10:]> backend"; the
    scoped loader reads as "safe_local", not a truncated name."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from posesor.utils import safe_checkpoint_loading
    with safe_checkpoint_loading():
        loader = CheckpointLoader._get_checkpoint_loader('work_dirs/x.pth')
        assert loader.__name__[10:] == 'safe_local'
    loader = CheckpointLoader._get_checkpoint_loader('work_dirs/x.pth')
    assert loader.__name__[10:] == 'local'  # mmengine's own, restored


@pytest.mark.parametrize('umask', [0o022, 0o077, 0o002])
def test_atomic_save_keeps_the_umask_permissions(tmp_path, umask):
    """Issue 24: the atomic save wrote ``-rw-------`` whatever the umask;
    it now gives what ``torch.save`` (``open()``) gives."""
    import stat
    previous = os.umask(umask)
    try:
        AtomicLocalBackend().put(b'checkpoint', tmp_path / 'atomic.pth')
        torch.save({}, tmp_path / 'plain.pth')
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(os.stat(tmp_path / 'atomic.pth').st_mode)
    assert mode == 0o666 & ~umask
    assert mode == stat.S_IMODE(os.stat(tmp_path / 'plain.pth').st_mode)
