# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The embedded default (tools/demo.py) and the pose ablation script run."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'tools', 'demo.py')
ABLATION = osp.join(ROOT, 'tools', 'analysis_tools', 'pose_ablation.py')
# Keep the test split's few images and a tiny batch.
FAST = ['train_dataloader.batch_size=2']


def _run(cmd):
    out = subprocess.run([sys.executable, *cmd],
                         capture_output=True,
                         text=True,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def test_demo_trains_evaluates_and_draws(synthetic_dataset, tmp_path):
    work_dir = str(tmp_path / 'demo')
    stdout = _run([
        DEMO, '--work-dir', work_dir, '--data-root', synthetic_dataset,
        '--max-iters', '3', '--cfg-options', *FAST
    ])
    with open(osp.join(work_dir, 'demo_summary.json')) as f:
        summary = json.load(f)
    model = summary['model']
    assert set(model) == {'sa_sor', 'sor', 'mae'}
    assert 0.0 <= model['mae'] <= 1.0
    assert summary['max_iters'] == 3
    # baselines are scored on the same test split
    rows = summary['rows']
    assert rows['baseline: gt_random']['mae'] == 0.0
    assert rows['baseline: empty']['sa_sor_count'] == 4
    assert osp.isfile(osp.join(work_dir, 'iter_3.pth'))
    assert osp.getsize(osp.join(work_dir, 'loss_curve.png')) > 0
    overlays = stdout.split('[demo] overlays:')[1].split()[0]
    assert len(os.listdir(overlays)) == 4
    assert '| PoseSOR (tiny, this run) |' in stdout


@pytest.mark.parametrize('max_iters', [2])
def test_pose_ablation_runs_both_variants(synthetic_dataset, tmp_path,
                                          max_iters):
    out_dir = str(tmp_path / 'ablation')
    stdout = _run([
        ABLATION, '--seeds', '0', '--max-iters',
        str(max_iters), '--jobs', '1', '--data-root', synthetic_dataset,
        '--out-dir', out_dir, '--cfg-options', *FAST
    ])
    with open(osp.join(out_dir, 'ablation.json')) as f:
        result = json.load(f)
    assert set(result['runs']) == {'with pose/seed0', 'without pose/seed0'}
    for variant in ('with pose', 'without pose'):
        mean, std = result['mean_std'][variant]['sa_sor']
        assert std == 0.0  # one seed
        assert mean == result['runs'][f'{variant}/seed0']['sa_sor']
    assert '| with pose |' in stdout and '| without pose |' in stdout
    # The two variants really differ: the w/o-pose model has no pose losses.
    logs = {
        v: open(osp.join(out_dir, v.replace(' ', '_'), 'seed0',
                         'run.log')).read()
        for v in ('with pose', 'without pose')
    }
    assert 'loss_joint' in logs['with pose']
    assert 'loss_joint' not in logs['without pose']
