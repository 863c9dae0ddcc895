# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The distributed/slurm launch scripts.

The command lines are checked with stubs for ``python`` and ``srun`` that
record their arguments and environment; ``dist_train.sh`` and
``dist_test.sh`` also run for real with 2 CPU processes (gloo).
"""
import os
import os.path as osp
import pickle
import socket
import stat
import subprocess
import sys

import numpy as np
from conftest import REPO, TRAIN_ITERS, run_tool

STUB = """#!/usr/bin/env bash
{{ printf '%s\\n' "$@"; echo "PYTHONPATH=$PYTHONPATH"; }} > {log}
"""


def _stub(path, log):
    path.write_text(STUB.format(log=log))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _run(script, args, env):
    full_env = dict(os.environ, **env)
    proc = subprocess.run(
        ['bash', osp.join(REPO, 'tools', script)] + args,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def test_dist_train_and_test_multi_node(tmp_path):
    log = tmp_path / 'args.txt'
    python = _stub(tmp_path / 'python', log)
    env = dict(
        PYTHON=python,
        NNODES='2',
        NODE_RANK='1',
        MASTER_ADDR='10.1.2.3',
        PORT='29999')
    _run('dist_train.sh', ['cfg.py', '4', '--amp', '--resume'], env)
    args = log.read_text().splitlines()
    assert args[:7] == [
        '-m', 'torch.distributed.run', '--nnodes=2', '--node_rank=1',
        '--master_addr=10.1.2.3', '--master_port=29999', '--nproc_per_node=4'
    ]
    assert osp.samefile(args[7], osp.join(REPO, 'tools', 'train.py'))
    assert args[8:13] == [
        'cfg.py', '--launcher', 'pytorch', '--amp', '--resume'
    ]
    assert args[13].startswith('PYTHONPATH=')
    assert osp.samefile(args[13].split('=')[1].split(':')[0], REPO)

    _run('dist_test.sh', ['cfg.py', 'model.pth', '2', '--out', 'r.pkl'],
         dict(PYTHON=python))
    args = log.read_text().splitlines()
    assert args[2:7] == [
        '--nnodes=1', '--node_rank=0', '--master_addr=127.0.0.1',
        '--master_port=29500', '--nproc_per_node=2'
    ]
    assert osp.basename(args[7]) == 'test.py'
    assert args[8:14] == [
        'cfg.py', 'model.pth', '--launcher', 'pytorch', '--out', 'r.pkl'
    ]


def test_slurm_scripts(tmp_path):
    log = tmp_path / 'args.txt'
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    _stub(bin_dir / 'srun', log)
    env = dict(
        PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
        GPUS='16',
        GPUS_PER_NODE='8',
        SRUN_ARGS='--quotatype=auto --time=1:00:00',
        PYTHON='python3')
    _run('slurm_train.sh', ['part', 'job', 'cfg.py', 'wd', '--amp'], env)
    args = log.read_text().splitlines()
    assert args[:11] == [
        '-p', 'part', '--job-name=job', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
        '--quotatype=auto', '--time=1:00:00', 'python3'
    ]
    assert args[11:13] == ['-u', osp.join(REPO, 'tools', 'train.py')] or \
        osp.basename(args[12]) == 'train.py'
    assert args[13:17] == [
        'cfg.py', '--work-dir=wd', '--launcher=slurm', '--amp'
    ]

    _run('slurm_test.sh', ['part', 'job', 'cfg.py', 'model.pth'], env)
    args = log.read_text().splitlines()
    assert osp.basename(args[12]) == 'test.py'
    assert args[13:16] == ['cfg.py', 'model.pth', '--launcher=slurm']


def test_scripts_print_usage_without_arguments():
    for script in ('dist_train.sh', 'dist_test.sh', 'slurm_train.sh',
                   'slurm_test.sh'):
        proc = subprocess.run(['bash', osp.join(REPO, 'tools', script)],
                              capture_output=True,
                              text=True)
        assert proc.returncode == 2
        assert 'usage:' in proc.stderr


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def test_dist_train_and_test_on_cpu(trained, tmp_path):
    """2 real processes train; a 2-process test equals the 1-process one."""
    env = dict(
        PYTHON=sys.executable,
        PORT=_free_port(),
        OMP_NUM_THREADS='1',
        CUDA_VISIBLE_DEVICES='')
    work_dir = str(tmp_path / 'dist_train')
    proc = _run('dist_train.sh',
                [trained['config'], '2', '--work-dir', work_dir], env)
    log = proc.stdout + proc.stderr
    assert 'Distributed launcher: pytorch' in log or 'world_size' in log
    assert osp.isfile(osp.join(work_dir, f'iter_{TRAIN_ITERS}.pth'))

    one, two = str(tmp_path / 'one.pkl'), str(tmp_path / 'two.pkl')
    run_tool('test.py', [
        trained['config'], trained['checkpoint'], '--work-dir',
        str(tmp_path / 'test_1'), '--out', one
    ])
    _run('dist_test.sh', [
        trained['config'], trained['checkpoint'], '2', '--work-dir',
        str(tmp_path / 'test_2'), '--out', two
    ], dict(env, PORT=_free_port()))
    with open(one, 'rb') as f:
        single = pickle.load(f)
    with open(two, 'rb') as f:
        double = pickle.load(f)
    assert len(single) == len(double) == 4
    for a, b in zip(single, double):
        assert a['img_path'] == b['img_path']
        pa, pb = a['pred_instances'], b['pred_instances']
        np.testing.assert_array_equal(pa['ranks'], pb['ranks'])
        np.testing.assert_allclose(
            pa['rank_scores'].numpy(), pb['rank_scores'].numpy(), atol=1e-6)
        assert [m['counts'] for m in pa['masks']] == \
            [m['counts'] for m in pb['masks']]
