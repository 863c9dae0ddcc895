# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The distributed/slurm launch scripts build the right command lines.

Real multi-process runs need GPUs (mmengine's ``pytorch`` launcher calls
``torch.cuda.set_device``), so ``python`` and ``srun`` are replaced by stubs
that record their arguments and environment.
"""
import os
import os.path as osp
import stat
import subprocess

from conftest import REPO

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
        timeout=60)
    assert proc.returncode == 0, proc.stderr
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
