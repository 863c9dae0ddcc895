# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The embedded default (tools/demo.py) and the pose ablation script run."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from posesor.datasets.synthetic import annotation_digest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(ROOT, 'tools', 'demo.py')
ABLATION = osp.join(ROOT, 'tools', 'analysis_tools', 'pose_ablation.py')
# A tiny dataset and a tiny batch.
DATA = ['--num-train', '4', '--num-test', '3', '--image-size', '96']
FAST = ['train_dataloader.batch_size=2']


def _run(cmd):
    out = subprocess.run([sys.executable, *cmd],
                         capture_output=True,
                         text=True,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def _load_ablation():
    sys.path.insert(0, osp.dirname(ABLATION))
    try:
        import pose_ablation
    finally:
        sys.path.pop(0)
    return pose_ablation


def test_demo_trains_evaluates_and_draws(tmp_path):
    work_dir = str(tmp_path / 'demo')
    data_root = str(tmp_path / 'data')
    stdout = _run([
        DEMO, '--work-dir', work_dir, '--data-root', data_root, *DATA,
        '--max-iters', '3', '--cfg-options', *FAST
    ])
    with open(osp.join(work_dir, 'demo_summary.json')) as f:
        summary = json.load(f)
    # the default is the 'pose_order' rule, generated with these options
    assert summary['rule'] == 'pose_order'
    with open(osp.join(data_root, 'synthetic_test.json')) as f:
        info = json.load(f)['info']
    assert (info['rule'], info['size'], info['seed']) == ('pose_order', 96, 0)
    digest = annotation_digest([
        osp.join(data_root, f'synthetic_{s}.json') for s in ('train', 'test')
    ])
    assert summary['annotation_hash'] == digest
    assert f'[demo] annotation hash: {digest}' in stdout
    model = summary['model']
    assert {
        'sa_sor', 'sor', 'mae', 'pose_order_accuracy', 'pose_order_chance'
    } <= set(model)
    assert 0.0 <= model['mae'] <= 1.0
    assert (f'pose-order accuracy: {model["pose_order_accuracy"]:.3f} '
            f'(chance {model["pose_order_chance"]:.3f})') in stdout
    assert summary['max_iters'] == 3
    # baselines are scored on the same test split
    rows = summary['rows']
    assert rows['baseline: gt_random']['mae'] == 0.0
    assert rows['baseline: empty']['sa_sor_count'] == 3
    assert rows['baseline: pose_oracle']['pose_order_accuracy'] == 1.0
    assert osp.isfile(osp.join(work_dir, 'iter_3.pth'))
    assert osp.getsize(osp.join(work_dir, 'loss_curve.png')) > 0
    overlays = stdout.split('[demo] overlays:')[1].split()[0]
    assert len(os.listdir(overlays)) == 3
    assert '| PoseSOR (tiny, this run) |' in stdout
    assert '| baseline: pose_oracle |' in stdout
    # Scoring the checkpoint without training reuses the same data and
    # reproduces the run's own test.
    checkpoint = osp.join(work_dir, 'iter_3.pth')
    stdout = _run([
        DEMO, '--work-dir', work_dir + '2', '--data-root', data_root, *DATA,
        '--checkpoint', checkpoint, '--no-overlays', '--no-baselines',
        '--no-plot'
    ])
    assert 'reusing the synthetic dataset' in stdout
    assert '[demo] training' not in stdout
    with open(osp.join(work_dir + '2', 'demo_summary.json')) as f:
        rescored = json.load(f)
    assert rescored['checkpoint'] == checkpoint
    assert rescored['train_minutes'] == 0.0
    assert rescored['model'] == model


@pytest.mark.parametrize('max_iters', [2])
def test_pose_ablation_runs_both_variants(tmp_path, max_iters):
    out_dir = str(tmp_path / 'ablation')
    stdout = _run([
        ABLATION, '--seeds', '0', '--max-iters',
        str(max_iters), '--jobs', '1', '--data-root',
        str(tmp_path / 'data'), '--num-train', '4', '--num-test', '2',
        '--out-dir', out_dir, '--curve-interval', '1', '--diagnose',
        '--cfg-options', *FAST
    ])
    with open(osp.join(out_dir, 'ablation.json')) as f:
        result = json.load(f)
    assert result['rule'] == 'pose_order' and result['num_test'] == 2
    budget = result['budgets'][str(max_iters)]
    assert set(budget['runs']) == {'with_pose/seed0', 'without_pose/seed0'}
    for variant in ('with_pose', 'without_pose'):
        mean, std = budget['mean_std'][variant]['pose_order_accuracy']
        assert std == 0.0  # one seed
        assert mean == budget['runs'][f'{variant}/seed0'][
            'pose_order_accuracy']
    assert '| with_pose |' in stdout and '| without_pose |' in stdout
    # The two variants really differ: the w/o-pose model has no pose losses.
    logs = {
        v:
        open(osp.join(out_dir, f'iters{max_iters}', v, 'seed0',
                      'run.log')).read()
        for v in ('with_pose', 'without_pose')
    }
    # (the training log lines read "loss_joint: 0.1234"; the config dump
    # in the same log names the switched-off loss as "loss_joint=None")
    assert 'loss_joint: ' in logs['with_pose']
    assert 'loss_joint: ' not in logs['without_pose']
    # Learning curves: the kept checkpoint of iteration 1 is scored in the
    # run's curve folder; the last point is the run's own test.
    curves = budget['curves']
    for variant in ('with_pose', 'without_pose'):
        run_dir = osp.join(out_dir, f'iters{max_iters}', variant, 'seed0')
        assert osp.isfile(osp.join(run_dir, 'iter_1.pth'))
        with open(osp.join(run_dir, 'curve', 'iter_1',
                           'demo_summary.json')) as f:
            point = json.load(f)
        assert point['checkpoint'] == osp.join(run_dir, 'iter_1.pth')
        assert list(curves[variant]) == ['1', str(max_iters)]
        assert curves[variant]['1']['sa_sor'][0] == point['model']['sa_sor']
        assert curves[variant][str(max_iters)]['sa_sor'][0] == budget['runs'][
            f'{variant}/seed0']['sa_sor']
    assert osp.getsize(osp.join(out_dir,
                                f'learning_curves_{max_iters}.png')) > 0
    assert '| with_pose | 1 |' in stdout
    # --diagnose scores each final checkpoint once and keeps the result
    for variant in ('with_pose', 'without_pose'):
        run_dir = osp.join(out_dir, f'iters{max_iters}', variant, 'seed0')
        with open(osp.join(run_dir, 'diagnosis', 'diagnosis.json')) as f:
            cached = json.load(f)
        assert cached['checkpoint'] == osp.join(run_dir,
                                                f'iter_{max_iters}.pth')
        mean, _ = budget['diagnosis'][variant]['people_first']
        assert mean == cached['stats']['people_first']
        assert 0.0 <= mean <= 1.0


def test_curve_iterations_and_missing_checkpoint(tmp_path):
    ablation = _load_ablation()
    assert ablation.curve_iterations(2000, 500) == [500, 1000, 1500, 2000]
    assert ablation.curve_iterations(1000, 300) == [300, 600, 900, 1000]
    args = ablation.parse_args([
        '--out-dir',
        str(tmp_path), '--max-iters', '1000', '2000', '--curve-interval', '500'
    ])
    assert not ablation._has_curve(args, 1000)
    assert ablation._has_curve(args, 2000)
    with pytest.raises(FileNotFoundError, match='iter_500.pth.*--curve'):
        ablation.score_checkpoint('with_pose', 0, 1000, 500, args, 1)


def test_people_ranked_first():
    ablation = _load_ablation()
    person = np.array([True, False, True, False])
    # GT order person, object, person, object: interleaved
    assert not ablation.people_ranked_first(np.array([0, 1, 2, 3]), person)
    assert ablation.people_ranked_first(np.array([1, 2, 0, 3]), person)
    # unmatched instances (-1) do not count
    assert ablation.people_ranked_first(np.array([0, -1, 2, 3]), person)
    assert ablation.people_ranked_first(np.array([0, 1, -1, -1]), person)
    assert ablation.people_ranked_first(np.array([-1, 1, -1, 3]),
                                        person) is None
    assert ablation.people_ranked_first(np.array([0, -1, 1, -1]),
                                        person) is None


def test_paired_statistics_hand_computed():
    ablation = _load_ablation()
    seeds = [0, 1, 2]
    with_pose = [0.6, 0.7, 0.8]
    without = [0.5, 0.5, 0.7]  # differences 0.1, 0.2, 0.1
    runs = {}
    for s in seeds:
        runs['with_pose', s] = dict(sa_sor=with_pose[s])
        runs['without_pose', s] = dict(sa_sor=without[s])
    keys = (('sa_sor', 'SA-SOR', 3), )
    table = ablation.aggregate(runs, ['with_pose', 'without_pose'], seeds,
                               keys)
    assert table['with_pose']['sa_sor'] == pytest.approx((0.7, 0.1))
    test = ablation.paired_tests(runs, ['with_pose', 'without_pose'], seeds,
                                 keys)['without_pose']['sa_sor']
    # mean difference 0.4 / 3, sample std sqrt(1/3) / 10
    diff, diff_std = 0.4 / 3, (1 / 3)**0.5 / 10
    assert test['diff'] == pytest.approx(diff)
    assert test['diff_std'] == pytest.approx(diff_std)
    assert test['t'] == pytest.approx(4.0)
    # Student's t with 2 degrees of freedom: p = 1 - t / sqrt(t^2 + 2)
    assert test['p'] == pytest.approx(1 - 4 / 18**0.5)
    # the larger seed std is 0.115: 0.133 < 3 x 0.115 does not separate
    assert not test['separated']
