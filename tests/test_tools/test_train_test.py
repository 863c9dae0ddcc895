# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""``tools/train.py`` and ``tools/test.py`` end to end on the tiny config."""
import glob
import json
import os.path as osp
import pickle
import textwrap

import cv2
import numpy as np
import pytest
import torch
from conftest import TRAIN_ITERS, run_tool, write_test_config
from mmengine.runner import CheckpointLoader

import posesor  # noqa: F401  (safe checkpoint loading)

KILL_HOOK = textwrap.dedent('''
    import os
    import signal

    from mmdet.registry import HOOKS
    from mmengine.hooks import Hook


    @HOOKS.register_module()
    class KillAtIterHook(Hook):
        """SIGKILLs the process after iteration ``$KILL_AT_ITER``."""
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            kill_at = int(os.environ.get('KILL_AT_ITER', 0))
            if runner.iter + 1 == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
''')


def _scalars(work_dir):
    records = []
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            records.append([json.loads(line) for line in f if line.strip()])
    return records


def test_train_writes_checkpoint_and_logs(trained):
    ckpt = CheckpointLoader.load_checkpoint(
        trained['checkpoint'], map_location='cpu')
    assert ckpt['meta']['iter'] == TRAIN_ITERS
    assert 'optimizer' in ckpt and 'param_schedulers' in ckpt
    (records, ) = _scalars(trained['work_dir'])
    train = [r for r in records if 'lr' in r]
    assert [r['step'] for r in train] == list(range(1, TRAIN_ITERS + 1))
    assert all(np.isfinite(r['loss']) and r['loss'] > 0 for r in train)


def test_test_metrics_dump_and_show_dir(trained, synthetic_dataset, tmp_path):
    out = str(tmp_path / 'results.pkl')
    show_dir = str(tmp_path / 'overlays')
    work_dir = str(tmp_path / 'test_work_dir')
    run_tool('test.py', [
        trained['config'], trained['checkpoint'], '--work-dir', work_dir,
        '--out', out, '--show-dir', show_dir
    ])
    # metrics file written by the runner
    (metrics_file, ) = glob.glob(osp.join(work_dir, '*', '*.json'))
    with open(metrics_file) as f:
        metrics = json.load(f)
    for key in ('sor/sa_sor', 'sor/sor', 'sor/mae'):
        assert key in metrics, metrics
    assert 0.0 <= metrics['sor/mae'] <= 1.0

    with open(out, 'rb') as f:
        results = pickle.load(f)
    test_images = sorted(
        glob.glob(osp.join(synthetic_dataset, 'images', 'test', '*.jpg')))
    assert len(results) == len(test_images)
    for res in results:
        pred = res['pred_instances']
        ranks = np.asarray(pred['ranks'])
        assert len(ranks) >= 1
        assert (ranks == np.arange(1, len(ranks) + 1)).all()
        assert len(pred['masks']) == len(ranks)
        assert pred['keypoints'].shape[1:] == (17, 2)

    overlays = sorted(glob.glob(osp.join(show_dir, '*')))
    assert [osp.basename(p) for p in overlays] == \
        [osp.basename(p) for p in test_images]
    for overlay, image in zip(overlays, test_images):
        drawn, src = cv2.imread(overlay), cv2.imread(image)
        height, width = src.shape[:2]
        # the hook draws ground truth | prediction side by side
        assert drawn.shape == (height, 2 * width, 3)
        pred = drawn[:, width:].astype(int)
        # at least one instance is predicted, so something is drawn
        assert np.abs(pred - src.astype(int)).max() > 30


def test_resume_after_kill(synthetic_dataset, tmp_path):
    (tmp_path / 'kill_hook.py').write_text(KILL_HOOK)
    config = write_test_config(
        str(tmp_path / 'resume.py'), synthetic_dataset,
        textwrap.dedent(f'''
            train_cfg = dict(max_iters={2 * TRAIN_ITERS})
            custom_imports = dict(imports=['posesor', 'kill_hook'])
            custom_hooks = [dict(type='KillAtIterHook')]
            val_cfg = None
            val_dataloader = None
            val_evaluator = None
        '''))
    work_dir = str(tmp_path / 'work_dir')
    env = dict(PYTHONPATH=str(tmp_path))
    try:
        run_tool(
            'train.py', [config, '--work-dir', work_dir],
            extra_env=dict(env, KILL_AT_ITER=str(TRAIN_ITERS + 1)))
    except AssertionError as err:
        assert 'failed (-9)' in str(err)
    else:
        raise AssertionError('the run was not killed')
    assert osp.isfile(osp.join(work_dir, f'iter_{TRAIN_ITERS}.pth'))
    assert not osp.exists(osp.join(work_dir, f'iter_{2 * TRAIN_ITERS}.pth'))

    proc = run_tool(
        'train.py', [config, '--work-dir', work_dir, '--resume'],
        extra_env=env)
    assert f'resumed epoch: 0, iter: {TRAIN_ITERS}' in proc.stdout + \
        proc.stderr
    ckpt = CheckpointLoader.load_checkpoint(
        osp.join(work_dir, f'iter_{2 * TRAIN_ITERS}.pth'), map_location='cpu')
    assert ckpt['meta']['iter'] == 2 * TRAIN_ITERS
    # the optimizer state continued (an Adam-type step counter counts all
    # iterations, not only those after the resume)
    steps = {
        float(s['step'])
        for s in ckpt['optimizer']['state'].values() if 'step' in s
    }
    assert steps == {float(2 * TRAIN_ITERS)}
    killed, resumed = _scalars(work_dir)
    assert [r['step'] for r in killed if 'lr' in r][:TRAIN_ITERS] == \
        list(range(1, TRAIN_ITERS + 1))
    assert [r['step'] for r in resumed if 'lr' in r] == \
        list(range(TRAIN_ITERS + 1, 2 * TRAIN_ITERS + 1))


def test_amp_falls_back_to_fp32_without_gpu(tiny_config, monkeypatch):
    from conftest import load_tool
    train = load_tool('train.py')
    cfg = train.build_train_config(train.parse_args([tiny_config, '--amp']))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert train.fall_back_to_fp32_without_gpu(
        cfg.copy()).optim_wrapper.type == 'AmpOptimWrapper'
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = train.fall_back_to_fp32_without_gpu(cfg)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper


def test_train_and_test_options(tiny_config, tmp_path):
    from conftest import load_tool
    train = load_tool('train.py')
    test = load_tool('test.py')

    cfg = train.build_train_config(train.parse_args([tiny_config, '--amp']))
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.work_dir == osp.join('./work_dirs', 'tiny_test')
    assert cfg.resume is False
    cfg = train.build_train_config(train.parse_args([tiny_config, '--resume']))
    assert cfg.resume is True and cfg.load_from is None
    cfg = train.build_train_config(
        train.parse_args([
            tiny_config, '--resume', 'x.pth', '--work-dir', 'wd',
            '--cfg-options', 'train_cfg.max_iters=7'
        ]))
    assert (cfg.resume, cfg.load_from, cfg.work_dir) == (True, 'x.pth', 'wd')
    assert cfg.train_cfg.max_iters == 7
    cfg = train.build_train_config(
        train.parse_args([tiny_config, '--auto-scale-lr']))
    assert cfg.auto_scale_lr.enable is True

    cfg = test.build_test_config(
        test.parse_args([tiny_config, 'c.pth', '--show-dir', 'vis']))
    assert cfg.load_from == 'c.pth'
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.default_hooks.visualization.test_out_dir == 'vis'
    assert cfg.test_cfg.get('type', 'TestLoop') == 'TestLoop'
    cfg = test.build_test_config(
        test.parse_args([
            tiny_config, 'c.pth', '--pose-config', 'p.py', '--pose-checkpoint',
            'p.pth'
        ]))
    assert cfg.test_cfg.type == 'PoseRefinedTestLoop'
    assert cfg.test_cfg.pose_estimator == dict(
        config='p.py', checkpoint='p.pth')
    with pytest.raises(ValueError, match='.pkl'):
        test.build_test_config(
            test.parse_args([tiny_config, 'c.pth', '--out', 'r.json']))


INTERRUPT_HOOK = textwrap.dedent('''
    import os
    import signal

    from mmdet.registry import HOOKS
    from mmengine.hooks import Hook


    @HOOKS.register_module()
    class CtrlCHook(Hook):
        """Sends SIGINT to the process after the first test image."""

        def after_test_iter(self, runner, batch_idx, data_batch=None,
                            outputs=None):
            os.kill(os.getpid(), signal.SIGINT)
''')


def _run_failing(script, args, env=None):
    """Run a tool that must fail; return (returncode, stdout, stderr)."""
    import os
    import subprocess
    import sys

    from conftest import REPO
    full_env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', script)] + args,
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def test_validation_is_logged_against_the_iteration(trained):
    (records, ) = _scalars(trained['work_dir'])
    val = [r for r in records if 'sor/sa_sor' in r]
    # the tiny test config validates once, at the last iteration
    assert [r['step'] for r in val] == [TRAIN_ITERS]
    # integer metrics are numbers, not null
    assert isinstance(val[0]['sor/num_images'], int)
    assert val[0]['sor/num_images'] == 4


def test_test_metrics_json_has_numbers(trained, tmp_path):
    from conftest import load_tool
    work_dir = str(tmp_path / 'work_dir')
    load_tool('test.py').main(
        [trained['config'], trained['checkpoint'], '--work-dir', work_dir])
    (metrics_file, ) = glob.glob(osp.join(work_dir, '*', '*.json'))
    with open(metrics_file) as f:
        metrics = json.load(f)
    counts = {k: v for k, v in metrics.items() if k.endswith('_count')}
    assert counts and all(isinstance(v, int) for v in counts.values())
    assert metrics['sor/num_images'] == 4


def test_test_refuses_weights_of_another_model(trained, tmp_path):
    from conftest import load_tool

    from posesor.utils.checkpoint import PartialCheckpointError
    ckpt = torch.load(trained['checkpoint'])
    state = ckpt['state_dict']
    # another width: one tensor of the decoder gets another shape
    name = next(k for k, v in state.items()
                if k.startswith('instance_head.decoder.') and v.ndim >= 2)
    state[name] = torch.zeros(state[name].shape[0] + 1, *state[name].shape[1:])
    dropped = sorted(k for k in state if k.startswith('rank_head.pdr.'))[0]
    del state[dropped]
    state['unrelated.weight'] = torch.zeros(1)
    bad = str(tmp_path / 'other_model.pth')
    torch.save(ckpt, bad)
    test = load_tool('test.py')
    args = [trained['config'], bad, '--work-dir', str(tmp_path / 'wd')]
    with pytest.raises(PartialCheckpointError) as info:
        test.main(args)
    message = str(info.value)
    assert bad in message and '--allow-partial' in message
    assert dropped in message and 'unrelated.weight' in message
    assert f'{name} (' in message and 'of another shape' in message
    metrics = test.main(args + ['--allow-partial'])
    assert 'sor/sa_sor' in metrics


def test_test_cli_errors_are_one_line(trained, tmp_path):
    truncated = tmp_path / 'truncated.pth'
    data = open(trained['checkpoint'], 'rb').read()
    truncated.write_bytes(data[:len(data) // 3])
    code, _, err = _run_failing('test.py', [
        trained['config'],
        str(truncated), '--work-dir',
        str(tmp_path / 'wd')
    ])
    assert f'error: Cannot read checkpoint {truncated}: ' in err
    assert 'Traceback' not in err

    bad_config = tmp_path / 'broken_config.py'
    bad_config.write_text('model = dict(type=\n')
    code, _, err = _run_failing('test.py', [str(bad_config), 'x.pth'])
    assert f'error: Config file "{bad_config}" has a syntax error' in err
    assert 'Traceback' not in err

    code, _, err = _run_failing('test.py', [
        trained['config'], trained['checkpoint'], '--cfg-options',
        'train_cfg.max_iters'
    ])
    assert code == 2
    assert "'train_cfg.max_iters' is not KEY=VALUE" in err


def test_ctrl_c_during_test(trained, synthetic_dataset, tmp_path):
    (tmp_path / 'ctrl_c_hook.py').write_text(INTERRUPT_HOOK)
    config = write_test_config(
        str(tmp_path / 'interrupt.py'), synthetic_dataset,
        textwrap.dedent('''
            custom_imports = dict(imports=['posesor', 'ctrl_c_hook'])
            custom_hooks = [dict(type='CtrlCHook')]
        '''))
    code, _, err = _run_failing(
        'test.py',
        [config, trained['checkpoint'], '--work-dir',
         str(tmp_path / 'wd')],
        env=dict(PYTHONPATH=f'{tmp_path}:{osp.dirname(config)}:' +
                 osp.dirname(osp.dirname(osp.dirname(__file__)))))
    assert code == 130
    assert err.strip().splitlines()[-1] == 'interrupted after 1 of 4 images'
    assert 'Traceback' not in err


def test_resume_without_checkpoint_warns(tiny_config, tmp_path, monkeypatch):
    import logging

    from conftest import load_tool
    train = load_tool('train.py')
    logged = []
    monkeypatch.setattr(train, 'print_log',
                        lambda msg, logger, level: logged.append((level, msg)))
    work_dir = str(tmp_path / 'empty_work_dir')
    cfg = train.build_train_config(
        train.parse_args([tiny_config, '--work-dir', work_dir, '--resume']))
    train.check_resume(cfg)
    ((level, message), ) = logged
    assert level == logging.WARNING
    assert 'nothing to resume' in message and work_dir in message
    # an explicit checkpoint, or no --resume: nothing to say
    logged.clear()
    for extra in (['--resume', 'x.pth'], []):
        train.check_resume(
            train.build_train_config(
                train.parse_args([tiny_config, '--work-dir', work_dir] +
                                 extra)))
    assert logged == []

    import os
    os.makedirs(work_dir)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'iter_9.pth'))
    with pytest.raises(FileNotFoundError, match='iter_9.pth'):
        train.check_resume(cfg)


def test_cfg_options_and_data_root(tiny_config, tmp_path):
    from conftest import load_tool

    from posesor.utils.config import ConfigError
    train = load_tool('train.py')
    test = load_tool('test.py')
    # the base config's top-level ``max_iters`` only fed other keys (the
    # test config has set train_cfg.max_iters itself; the schedule's end
    # still holds the variable's value)
    with pytest.raises(ConfigError, match='changes nothing.*param_sched'):
        train.build_train_config(
            train.parse_args([tiny_config, '--cfg-options', 'max_iters=2']))
    with pytest.raises(ConfigError, match='--data-root'):
        test.build_test_config(
            test.parse_args(
                [tiny_config, 'c.pth', '--cfg-options', 'data_root=/x/']))
    for tool, extra in ((train, []), (test, ['c.pth'])):
        args = tool.parse_args([tiny_config] + extra +
                               ['--data-root', '/data/other/'])
        build = getattr(tool, 'build_train_config', None) or \
            tool.build_test_config
        cfg = build(args)
        for split in ('train', 'val', 'test'):
            assert cfg[f'{split}_dataloader'].dataset.data_root == \
                '/data/other/'
        assert cfg.test_evaluator.ann_file == \
            '/data/other/synthetic_test.json'
        assert cfg.val_evaluator.ann_file == cfg.test_evaluator.ann_file
    with pytest.raises(SystemExit):
        test.parse_args([tiny_config, 'c.pth', '--wait-time', '-1'])


def test_checkpoints_are_saved_atomically(trained):
    import os
    cfg = __import__('mmengine').Config.fromfile(trained['config'])
    assert cfg.default_hooks.checkpoint.backend_args == dict(
        backend='local_atomic')
    names = os.listdir(trained['work_dir'])
    assert not [n for n in names if n.endswith('.tmp')]
    with open(osp.join(trained['work_dir'], 'last_checkpoint')) as f:
        assert f.read() == trained['checkpoint']


def test_every_config_logs_validation_against_iterations():
    import os

    from conftest import REPO
    from mmengine import Config
    folder = osp.join(REPO, 'configs')
    for name in sorted(os.listdir(folder)):
        if not name.endswith('.py'):
            continue
        cfg = Config.fromfile(osp.join(folder, name))
        logger = cfg.default_hooks.logger
        assert logger.type == 'SORLoggerHook', name
        assert logger.log_metric_by_epoch is False, name
        assert cfg.log_processor.by_epoch is False, name


def test_show_dir_and_dump_names_stay_unique(trained, synthetic_dataset,
                                             tmp_path):
    """Issue 24: test images ``a/000001.jpg`` and ``b/000001.jpg`` give two
    overlays (relative paths kept) and two ``image_name`` in the dump."""
    import shutil
    root = tmp_path / 'collide'
    shutil.copytree(synthetic_dataset, root)
    with open(root / 'synthetic_test.json') as f:
        data = json.load(f)
    images_dir = root / 'images' / 'test'
    for k, img in enumerate(data['images']):
        folder = 'ab'[k % 2]
        new = f'{folder}/{k // 2 + 1:06d}.jpg'
        (images_dir / folder).mkdir(exist_ok=True)
        shutil.move(str(images_dir / img['file_name']), str(images_dir / new))
        img['file_name'] = new
    with open(root / 'synthetic_test.json', 'w') as f:
        json.dump(data, f)
    names = sorted(img['file_name'] for img in data['images'])
    assert len({osp.basename(n) for n in names}) < len(names)  # collisions
    show_dir = str(tmp_path / 'overlays')
    run_tool('test.py', [
        trained['config'], trained['checkpoint'], '--work-dir',
        str(tmp_path / 'wd'), '--data-root',
        str(root), '--show-dir', show_dir, '--cfg-options',
        f'test_evaluator.outfile_prefix={tmp_path / "dump"}'
    ])
    overlays = sorted(
        osp.relpath(p, show_dir)
        for p in glob.glob(osp.join(show_dir, '**', '*.jpg'), recursive=True))
    assert overlays == names
    with open(tmp_path / 'dump.sor_results.json') as f:
        results = json.load(f)['results']
    assert sorted(r['image_name'] for r in results) == \
        sorted(osp.splitext(n)[0] for n in names)
