# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""``get_flops.py``, ``benchmark.py`` and ``analyze_logs.py``."""
import json
import os

import cv2
import pytest
from conftest import load_tool
from mmengine.config import Config


def test_get_flops_tiny(tiny_config, capsys):
    tool = load_tool('analysis_tools/get_flops.py')
    result = tool.main([tiny_config, '--shape', '64', '--num-instances', '2'])
    printed = capsys.readouterr().out
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(tiny_config).model)
    assert result['params'] == sum(p.numel() for p in model.parameters())
    # a network of ~3 M parameters on a 64x64 image: 1e7..1e10 FLOPs
    assert 1e7 < result['flops'] < 1e10
    for module in ('backbone', 'neck', 'decoder', 'pai', 'pdr'):
        assert module in result['table']
    assert 'Input shape: (1, 3, 64, 64)' in printed
    assert 'Instances through PAI/PDR: 2 (top objectness)' in printed
    # attention through F.scaled_dot_product_attention is counted
    assert result['by_operator'].get('scaled_dot_product_attention', 0) > 0
    assert 0 < result['layer_flops'] < result['flops']
    # PAI/PDR cost grows with the number of kept instances
    more = tool.get_complexity(
        Config.fromfile(tiny_config), (64, 64), num_instances=4)
    assert more['flops'] > result['flops']
    assert more['params'] == result['params']
    assert 'Paper (Swin-L) at 768x768: 470 GFLOPs, 220 M params' in printed
    assert 'Paper (Swin-L) at 512x512: 229 GFLOPs' in printed


def test_benchmark_tiny(tiny_config, capsys):
    tool = load_tool('analysis_tools/benchmark.py')
    result = tool.main([
        tiny_config, '--shape', '64', '--num-iters', '2', '--num-warmup', '1',
        '--device', 'cpu', '--batch-size', '2'
    ])
    assert result['num_images'] == 4
    assert result['fps'] > 0 and result['latency_ms'] > 0
    # two timed batches: the median is their mean
    assert result['latency_median_ms'] == pytest.approx(result['latency_ms'])
    assert result['memory_kind'] == 'cpu_peak_rss'
    assert result['peak_memory_mib'] > 10
    assert 'img/s' in capsys.readouterr().out
    with pytest.raises(ValueError):
        tool.main([tiny_config, '--shape', '64', '--num-iters', '0'])


def test_analyze_logs_trained_work_dir(trained, tmp_path):
    tool = load_tool('analysis_tools/analyze_logs.py')
    out = str(tmp_path / 'curves.png')
    plotted = tool.main([trained['work_dir'], '--out', out])
    assert 'loss' in plotted and 'mask' in plotted  # the mask loss group
    assert 'sor/mae' in plotted  # validation at the last iteration
    assert 'lr' not in plotted and 'time' not in plotted
    image = cv2.imread(out)
    assert image is not None and image.shape[0] > 100


def test_analyze_logs_merges_resumed_runs(tmp_path):
    tool = load_tool('analysis_tools/analyze_logs.py')
    runs = {
        '20240101_000000': [1, 2, 3],  # killed after iteration 3
        '20240101_010000': [3, 4],  # resumed from iteration 2's checkpoint
    }
    for stamp, steps in runs.items():
        folder = tmp_path / stamp / 'vis_data'
        os.makedirs(folder)
        with open(folder / 'scalars.json', 'w') as f:
            for step in steps:
                value = 10.0 * step + (0.5 if stamp.endswith('10000') else 0)
                f.write(json.dumps(dict(lr=0.1, loss=value, step=step)))
                f.write('\n')
            f.write(json.dumps(dict(acc=0.5, step=steps[-1])) + '\n')
    train, val = tool.load_curves(tool.find_scalar_files(str(tmp_path)))
    assert train['loss'] == {1: 10.0, 2: 20.0, 3: 30.5, 4: 40.5}
    assert val['acc'] == {3: 0.5, 4: 0.5}
    out = str(tmp_path / 'sel.png')
    assert tool.main([str(tmp_path), '--keys', 'loss', '--out', out]) == \
        ['loss']
    with pytest.raises(KeyError, match='nope'):
        tool.main([str(tmp_path), '--keys', 'nope', '--out', out])
    with pytest.raises(FileNotFoundError):
        tool.main([str(tmp_path / 'missing')])


def test_benchmark_checkpoint_goes_through_the_safe_loader(
        tiny_config, tmp_path, monkeypatch):
    """Issue 24: a checkpoint holding a blocked callable ended in torch's
    raw ``UnpicklingError`` trace; it is refused by name."""
    import os
    import subprocess
    import sys

    import torch
    from conftest import REPO

    from posesor.utils.checkpoint import UnsafeCheckpointError

    class _System:

        def __reduce__(self):
            return os.system, ('true', )

    monkeypatch.delenv('POSESOR_TRUST_CHECKPOINTS', raising=False)
    path = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={}, meta=dict(x=_System())), path)
    tool = load_tool('analysis_tools/benchmark.py')
    args = [
        tiny_config, '--checkpoint', path, '--shape', '64', '--num-iters', '1',
        '--num-warmup', '0', '--device', 'cpu'
    ]
    with pytest.raises(
            UnsafeCheckpointError,
            match='Refusing to load checkpoint.*posix.system'):
        tool.main(args)
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO, 'tools', 'analysis_tools', 'benchmark.py')
        ] + args,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: Refusing to load checkpoint')
    assert 'Traceback' not in proc.stderr
