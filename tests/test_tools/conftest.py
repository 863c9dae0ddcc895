# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Fixtures of the tool tests: a tiny config bound to the synthetic data,
a checkpoint trained for two iterations by ``tools/train.py``, and a tiny
random-weight mmpose model."""
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_CONFIG = osp.join(REPO, 'configs', 'posesor_tiny_synthetic.py')
TRAIN_ITERS = 2

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))


def run_tool(script: str,
             args: List[str],
             timeout: int = 300,
             extra_env: Dict[str, str] = None) -> subprocess.CompletedProcess:
    """Run ``tools/<script>`` with this Python; fail with its output.

    Args:
        script (str): Path relative to ``tools/``.
        args (list[str]): Command-line arguments.
        timeout (int): Seconds.
        extra_env (dict, optional): Extra environment variables.

    Returns:
        subprocess.CompletedProcess: The finished process (rc 0).
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.setdefault('OMP_NUM_THREADS', '1')
    env.update(extra_env or {})
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', script)] + args,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'tools/{script} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}')
    return proc


def load_tool(script: str):
    """Import ``tools/<script>`` as a module (to call its ``main``).

    Args:
        script (str): Path relative to ``tools/``.

    Returns:
        module: The loaded script module.
    """
    import importlib.util
    name = 'tool_' + script.replace('/', '_').replace('.py', '')
    spec = importlib.util.spec_from_file_location(
        name, osp.join(REPO, 'tools', script))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_test_config(path: str, data_root: str, extra: str = '') -> str:
    """Write a config that binds the tiny config to a data root.

    Args:
        path (str): Config file to write.
        data_root (str): Synthetic dataset root.
        extra (str): Python appended to the config.

    Returns:
        str: ``path``.
    """
    root = data_root.rstrip('/') + '/'
    text = f"""_base_ = [{TINY_CONFIG!r}]
_root = {root!r}
train_dataloader = dict(batch_size=2, dataset=dict(data_root=_root))
val_dataloader = dict(dataset=dict(data_root=_root))
test_dataloader = dict(dataset=dict(data_root=_root))
val_evaluator = dict(ann_file=_root + 'synthetic_test.json')
test_evaluator = dict(ann_file=_root + 'synthetic_test.json')
train_cfg = dict(max_iters={TRAIN_ITERS}, val_interval=100000)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval={TRAIN_ITERS}, max_keep_ckpts=5))
randomness = dict(seed=0)
""" + extra
    with open(path, 'w') as f:
        f.write(text)
    return path


@pytest.fixture(scope='session')
def tiny_config(synthetic_dataset, tmp_path_factory) -> str:
    """The tiny PoseSOR config on the synthetic dataset (2 iterations)."""
    if not osp.isfile(TINY_CONFIG):
        pytest.skip(f'{TINY_CONFIG} is missing')
    folder = tmp_path_factory.mktemp('tool_configs')
    return write_test_config(str(folder / 'tiny_test.py'), synthetic_dataset)


@pytest.fixture(scope='session')
def trained(tiny_config, tmp_path_factory) -> Dict[str, str]:
    """Train the tiny config for two iterations with ``tools/train.py``.

    Returns:
        dict: ``work_dir``, ``checkpoint`` (``iter_2.pth``), ``config``,
        ``stdout`` of the run.
    """
    work_dir = str(tmp_path_factory.mktemp('train_work_dir'))
    proc = run_tool('train.py', [tiny_config, '--work-dir', work_dir])
    return dict(
        work_dir=work_dir,
        checkpoint=osp.join(work_dir, f'iter_{TRAIN_ITERS}.pth'),
        config=tiny_config,
        stdout=proc.stdout + proc.stderr)


@pytest.fixture(scope='session')
def tiny_pose_model(tmp_path_factory):
    """(config, checkpoint) of a random-weight tiny mmpose model."""
    pytest.importorskip('mmpose')
    from tiny_pose import save_tiny_pose_model
    folder = tmp_path_factory.mktemp('tiny_pose')
    return save_tiny_pose_model(str(folder))
