# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""tools/analysis_tools/gpu_acceptance.py on a machine without a GPU: it
refuses to run, and its table writer and prediction comparison work."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO, load_tool

tool = load_tool('analysis_tools/gpu_acceptance.py')


def test_refuses_to_run_without_cuda(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(
            tool.GPUUnavailableError,
            match=r'torch.cuda.is_available\(\) is False'):
        tool.main(['--work-dir', str(tmp_path)])
    # nothing was started: no data generated, no run directory
    assert os.listdir(tmp_path) == []


def test_script_exits_with_one_line_on_cpu(tmp_path):
    proc = subprocess.run([
        sys.executable,
        os.path.join(REPO, 'tools', 'analysis_tools', 'gpu_acceptance.py'),
        '--work-dir',
        str(tmp_path)
    ],
                          env=dict(os.environ, CUDA_VISIBLE_DEVICES=''),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: gpu_acceptance.py measures GPU')
    assert 'Traceback' not in proc.stderr


def test_warmup_must_leave_timed_iterations():
    with pytest.raises(SystemExit):
        tool.parse_args(['--train-iters', '10', '--warmup-iters', '10'])


def _args(**kwargs):
    return tool.parse_args(
        [f'--{k.replace("_", "-")}={v}' for k, v in kwargs.items()])


def test_table_from_measurements():
    args = _args(train_iters=50, batch_size=16, infer_iters=50)
    train = dict(
        s_per_iter=1.2344, peak_gib=41.04, loss_finite=True, last_loss=12.5)
    inference = {
        'float32': dict(latency_median_ms=91.5, peak_memory_mib=3072.0),
        'float16': dict(latency_median_ms=45.75, peak_memory_mib=2048.0)
    }
    ddp = dict(num_images=100, num_equal=100, mismatches=[])
    rows = tool.acceptance_rows(train, inference, ddp, 8, args)
    table = tool.format_table(rows, '8 x NVIDIA H100')
    assert table.splitlines() == [
        'GPU acceptance run on 8 x NVIDIA H100',
        '',
        '| check | setting | measured | target | verdict |',
        '|---|---|---|---|---|',
        '| AMP training, Swin-L ASSR 512 | 16 img/GPU, sizes 480/512/544, '
        '50 iters, AmpOptimWrapper dynamic | 1.234 s/iter, peak 41.0 GiB, '
        'last loss 12.500 | every loss finite | pass |',
        '| inference float32 | 768x768, batch 1, 50 runs | 91.5 ms median, '
        'peak 3.00 GiB | paper: 61 ms (RTX 4090) | 1.50 x paper |',
        '| inference float16 | 768x768, batch 1, 50 runs | 45.8 ms median, '
        'peak 2.00 GiB | paper: 61 ms (RTX 4090) | 0.75 x paper |',
        '| DDP equals 1 GPU | test split, 8 GPUs vs 1 | 100/100 images equal '
        '| all images equal | pass |',
    ]
    # a non-finite loss, a mismatch and a single GPU show in the verdicts
    train['loss_finite'] = False
    rows = tool.acceptance_rows(
        train, {}, dict(num_images=2, num_equal=1, mismatches=['b.jpg']), 2,
        args)
    assert rows[0]['verdict'] == 'FAIL'
    assert rows[1]['verdict'] == 'FAIL: b.jpg'
    rows = tool.acceptance_rows(train, {}, None, 1, args)
    assert rows[1]['measured'] == 'not run (needs 2+ GPUs)'
    with pytest.raises(KeyError, match='verdict'):
        tool.format_table([dict(check='x')], 'cpu')


def _prediction(path, ranks, scores, counts):
    return dict(
        img_path=path,
        pred_instances=dict(
            ranks=np.asarray(ranks),
            rank_scores=torch.tensor(scores),
            masks=[dict(size=[4, 4], counts=c) for c in counts]))


def test_compare_predictions_image_by_image():
    single = [
        _prediction('a.jpg', [1, 2], [0.9, 0.5], [b'1', b'2']),
        _prediction('b.jpg', [1], [0.7], [b'3'])
    ]
    same = [
        _prediction('a.jpg', [1, 2], [0.9 + 5e-5, 0.5], [b'1', b'2']),
        _prediction('b.jpg', [1], [0.7], [b'3'])
    ]
    assert tool.compare_predictions(single, same) == dict(
        num_images=2, num_equal=2, mismatches=[])
    for changed in (
            _prediction('b.jpg', [1], [0.7 + 1e-3], [b'3']),  # score
            _prediction('b.jpg', [2], [0.7], [b'3']),  # rank
            _prediction('b.jpg', [1], [0.7], [b'4']),  # mask
            _prediction('c.jpg', [1], [0.7], [b'3'])):  # another image
        result = tool.compare_predictions(single, [same[0], changed])
        assert (result['num_equal'], result['mismatches']) == (1, ['b.jpg'])
    result = tool.compare_predictions(single, same[:1])
    assert result['mismatches'] == ['2 vs 1 images']


def test_training_config_is_the_512_amp_recipe(tmp_path, monkeypatch):
    """Check 1 trains what ``tools/train.py CONFIG_512 --amp`` trains, on
    the synthetic stand-in data when no data root is given."""
    root = str(tmp_path / 'synthetic_512') + '/'
    monkeypatch.setattr(tool, '_synthetic_data', lambda work_dir: root)
    args = _args(work_dir=tmp_path, train_iters=50, batch_size=16)
    cfg = tool.training_config(args)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    # the Swin-L configs already train with AMP: mmengine's default scale
    import inspect

    from mmengine.optim import AmpOptimWrapper
    default = inspect.signature(AmpOptimWrapper).parameters['loss_scale']
    assert cfg.optim_wrapper.get('loss_scale', default.default) == 'dynamic'
    assert cfg.train_dataloader.batch_size == 16
    sizes = cfg.model.data_preprocessor.batch_augments[0].sizes
    assert [tuple(s) for s in sizes] == [(480, 480), (512, 512), (544, 544)]
    assert cfg.train_cfg.max_iters == 50
    assert cfg.default_hooks.checkpoint.interval == 50
    assert cfg.model.backbone.init_cfg is None
    assert cfg.val_cfg is None
    dataset = cfg.train_dataloader.dataset
    assert (dataset.data_root, dataset.ann_file) == (root,
                                                     'synthetic_train.json')
    assert cfg.test_evaluator.ann_file == root + 'synthetic_test.json'
    # a real dataset keeps the config's annotation files
    args = _args(
        work_dir=tmp_path, data_root='data/assr/', pretrained='swin.pth')
    cfg = tool.training_config(args)
    assert cfg.train_dataloader.dataset.ann_file == 'assr_train.json'
    assert cfg.model.backbone.init_cfg.checkpoint == 'swin.pth'
