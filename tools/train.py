# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Train a PoseSOR model with an mmengine ``Runner`` (mmdet conventions).

Examples::

    python tools/train.py configs/posesor_swinl_assr.py
    python tools/train.py CONFIG --work-dir work_dirs/run1 --amp
    python tools/train.py CONFIG --resume              # last checkpoint
    python tools/train.py CONFIG --resume work_dirs/run1/iter_5000.pth
    python tools/train.py CONFIG --cfg-options train_cfg.max_iters=2
    python tools/train.py CONFIG --data-root data/other_assr/
    python tools/train.py CONFIG --check-data          # validate data first

``--cfg-options`` refuses top-level variables of the config file (such as
``max_iters`` or ``data_root``): their values were copied into other keys
when the file was parsed, so overriding them would change nothing.
``--data-root`` sets every dataloader's ``data_root`` and the evaluators'
``ann_file`` consistently. ``--check-data`` decodes and validates every
image and annotation of the training and validation datasets first (as
``tools/misc/check_sor_dataset.py``) and stops before training when an
image cannot be used.
"""
import argparse
import logging
import os
import os.path as osp
import sys
from typing import List, Optional

import torch
from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from mmengine.runner.checkpoint import find_latest_checkpoint

# Make ``import posesor`` work when the script runs from a source checkout
# without ``pip install -e .``.
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import posesor  # noqa: E402,F401  (registers modules; safe checkpoints)
from posesor.datasets import check as data_check  # noqa: E402
from posesor.utils import checkpoint as ckpt_utils  # noqa: E402
from posesor.utils import config as config_utils  # noqa: E402
from posesor.utils.setup_env import setup_cpu_distributed  # noqa: E402

#: Errors reported as one line (no traceback) when run as a script.
USER_ERRORS = (config_utils.ConfigError, FileNotFoundError,
               ckpt_utils.CheckpointReadError,
               ckpt_utils.UnsafeCheckpointError, data_check.DatasetCheckError)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``tools/train.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(description='Train a PoseSOR model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the actual batch size '
        '(needs `auto_scale_lr` in the config)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a path, resume '
        'from the latest checkpoint in the work dir')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=config_utils.CfgOptionsAction,
        help='override settings of the config, as key=value pairs '
        '(e.g. train_cfg.max_iters=2 '
        'train_dataloader.batch_size=1)')
    parser.add_argument(
        '--data-root',
        help='dataset root for every dataloader and evaluator (sets each '
        'data_root and the evaluators\' ann_file)')
    parser.add_argument(
        '--check-data',
        action='store_true',
        help='decode and validate every image and annotation of the train '
        'and val datasets before training (stops if an image is unusable)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torchrun / torch.distributed.launch pass --local-rank (or
    # --local_rank) to the script.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_train_config(args: argparse.Namespace) -> Config:
    """Load the config and apply the command-line options.

    Args:
        args (argparse.Namespace): Output of :func:`parse_args`.

    Returns:
        Config: The config the runner is built from.
    """
    cfg = config_utils.load_config(args.config)
    cfg.launcher = args.launcher
    config_utils.check_cfg_options(
        cfg, args.cfg_options, hints=dict(data_root='use --data-root'))
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root is not None:
        config_utils.set_data_root(cfg, args.data_root)

    # Work dir priority: command line > config > ./work_dirs/<config name>.
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print_log(
                'AMP training is already enabled in the config.',
                logger='current',
                level=logging.WARNING)
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper '
                f'`optim_wrapper.type` is OptimWrapper, got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if ('auto_scale_lr' in cfg and 'enable' in cfg.auto_scale_lr
                and 'base_batch_size' in cfg.auto_scale_lr):
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('config key `auto_scale_lr` (with `enable` '
                               'and `base_batch_size`) is missing in '
                               f'{args.config}; cannot use --auto-scale-lr')

    # --resume: 'auto' finds the last checkpoint of the work dir, a path
    # resumes from that checkpoint.
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def check_resume(cfg: Config) -> None:
    """Say so when ``--resume`` finds nothing to resume.

    With ``resume=True`` and no ``load_from``, mmengine resumes from the
    checkpoint named by ``WORK_DIR/last_checkpoint`` and otherwise trains
    from scratch with an INFO line; that deserves a WARNING.

    Args:
        cfg (Config): The training config.

    Raises:
        FileNotFoundError: If ``last_checkpoint`` names a missing file.
    """
    if not cfg.get('resume') or cfg.get('load_from'):
        return
    latest = find_latest_checkpoint(cfg.work_dir)
    if latest is None:
        print_log(
            f'--resume: nothing to resume in {cfg.work_dir} (no '
            'last_checkpoint file); training starts from scratch.',
            logger='current',
            level=logging.WARNING)
    elif not osp.isfile(latest):
        raise FileNotFoundError(
            f'--resume: {osp.join(cfg.work_dir, "last_checkpoint")} names '
            f'{latest}, which does not exist; pass --resume PATH')


def fall_back_to_fp32_without_gpu(cfg: Config) -> Config:
    """Train in full precision when AMP is asked for but there is no GPU.

    mmengine's ``AmpOptimWrapper`` refuses to build without a GPU; this
    lets the Swin-L configs (AMP, as the reference) start on a CPU machine.

    Args:
        cfg (Config): The training config, changed in place.

    Returns:
        Config: ``cfg``.
    """
    if (cfg.optim_wrapper.get('type') == 'AmpOptimWrapper'
            and not torch.cuda.is_available()):
        print_log(
            'No GPU: training with OptimWrapper in full precision instead '
            'of the config\'s AmpOptimWrapper.',
            logger='current',
            level=logging.WARNING)
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)
    return cfg


def main(argv: Optional[List[str]] = None) -> Runner:
    """Entry point of ``tools/train.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        Runner: The runner after training (handy for tests).
    """
    args = parse_args(argv)
    # Reduce the number of repeated compilations (torch.compile users).
    setup_cache_size_limit_of_dynamo()
    cfg = fall_back_to_fp32_without_gpu(build_train_config(args))
    check_resume(cfg)
    if args.check_data:
        data_check.check_config(cfg, ('train', 'val'), raise_on_problems=True)
    setup_cpu_distributed(cfg)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    with ckpt_utils.safe_checkpoint_loading():
        runner.train()
    return runner


if __name__ == '__main__':
    try:
        main()
    except USER_ERRORS as err:
        sys.exit(f'error: {err}')
