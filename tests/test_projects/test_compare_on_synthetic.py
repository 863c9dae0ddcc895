# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""projects/compare_on_synthetic.py: finished runs are reused, and the table
is the mean +- std over seeds of what the runs' summaries hold."""
import json
import os
import os.path as osp

import pytest

from projects import compare_on_synthetic as compare


def _summary(work_dir, label, seed, max_iters, **metrics):
    run = compare.run_dir(
        compare.parse_args(['--work-dir', work_dir]), label, seed)
    os.makedirs(run, exist_ok=True)
    with open(osp.join(run, 'demo_summary.json'), 'w') as f:
        json.dump(dict(max_iters=max_iters, model=metrics), f)


def test_table_from_finished_runs(tmp_path, monkeypatch):
    work_dir = str(tmp_path)
    labels = ['PoseSOR', 'SeqRank']
    for label, base in zip(labels, (0.5, 0.3)):
        for seed in (0, 1):
            _summary(
                work_dir,
                label,
                seed,
                1000,
                sa_sor=base + 0.1 * seed,
                sor=0.8,
                mae=0.03,
                pose_order_accuracy=0.1 * (seed + 1))
    monkeypatch.setattr(
        compare, 'time_models', lambda args, models:
        {m: dict(params=2e6, seconds=0.05)
         for m in models})
    monkeypatch.setattr(compare, 'train', lambda *a: pytest.fail('trained'))
    table = compare.main([
        '--work-dir', work_dir, '--seeds', '0', '1', '--models', *labels,
        '--max-iters', '1000'
    ])
    lines = table.splitlines()
    assert lines[0] == ('| model | SA-SOR | SOR | MAE | pose-order acc. | '
                        'parameters | CPU s / image |')
    assert lines[2] == ('| PoseSOR | 0.550 +- 0.071 | 0.800 +- 0.000 | '
                        '0.0300 +- 0.0000 | 0.150 +- 0.071 | 2.00 M | '
                        '0.050 |')
    assert lines[3].startswith('| SeqRank | 0.350 +- 0.071 |')
    # a run of another budget is not reused
    assert not compare.finished(
        compare.parse_args(['--work-dir', work_dir, '--max-iters', '2000']),
        'PoseSOR', 0)
