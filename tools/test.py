# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Test (evaluate) a PoseSOR checkpoint with an mmengine ``Runner``.

Examples::

    python tools/test.py CONFIG CHECKPOINT
    python tools/test.py CONFIG CHECKPOINT --out results.pkl
    python tools/test.py CONFIG CHECKPOINT --show-dir vis
    python tools/test.py CONFIG CHECKPOINT \\
        --pose-config rtmpose.py --pose-checkpoint rtmpose.pth

``--show-dir`` turns on the visualization hook, which writes one overlay per
test image (masks coloured by rank, rank numbers, skeletons). As in mmdet, a
relative ``--show-dir`` is created under ``WORK_DIR/TIMESTAMP/``; an absolute
one is used as given.

``--pose-config``/``--pose-checkpoint`` (or a ``pose_estimator`` dict in the
config, see :class:`posesor.apis.TopdownPoseRefiner`) replace the keypoints
of predicted persons with those of an mmpose top-down model before the
metrics see them, so pose metrics (JAE) are computed with those keypoints.
``--pose-source`` chooses the poses PDR ranks from: ``predicted`` (PAI's,
the model's default), ``gt`` (the matched ground-truth keypoints: an oracle)
or ``external`` (the mmpose keypoints, ranked again from them; needs
``--pose-config``). The dump (``--out``) records it per image as the metainfo
``pose_source``.

``--data-root DIR`` points every dataloader and the evaluator at another
dataset root (its ``ann_file`` follows the test dataloader's). Weights that
do not fit the model (another architecture or config) are an error listing
them; ``--allow-partial`` runs anyway with a warning. Ctrl-C stops with one
line, ``interrupted after N of M images``.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List, Optional

from mmdet.engine.hooks.utils import trigger_visualization_hook
from mmdet.evaluation import DumpDetResults
from mmdet.utils import setup_cache_size_limit_of_dynamo
from mmengine.config import Config, ConfigDict
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import posesor  # noqa: E402,F401  (registers modules; safe checkpoints)
from posesor.apis import set_test_pose_source  # noqa: E402
from posesor.apis import use_pose_estimator_in_test  # noqa: E402
from posesor.models.heads.pose_source import TEST_POSE_SOURCES  # noqa: E402
from posesor.utils import checkpoint as ckpt_utils  # noqa: E402
from posesor.utils import config as config_utils  # noqa: E402
from posesor.utils.setup_env import setup_cpu_distributed  # noqa: E402

#: Errors reported as one line (no traceback) when run as a script.
USER_ERRORS = (config_utils.ConfigError, FileNotFoundError,
               ckpt_utils.CheckpointReadError,
               ckpt_utils.UnsafeCheckpointError,
               ckpt_utils.PartialCheckpointError)


class TestInterrupted(Exception):
    """Ctrl-C during testing, with how far the test got."""


class _ImageCounter(Hook):
    """Counts the test images processed so far (for an interruption)."""

    priority = 'HIGHEST'  # count before any other hook can stop the run

    def __init__(self) -> None:
        self.done = 0

    def after_test_iter(self,
                        runner,
                        batch_idx,
                        data_batch=None,
                        outputs=None) -> None:
        self.done += len(outputs) if outputs is not None else 1


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``tools/test.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.
            Defaults to ``sys.argv[1:]``.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Test (and evaluate) a PoseSOR model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out',
        type=str,
        help='dump the predictions to a pickle file (.pkl); masks are '
        'RLE-encoded')
    parser.add_argument(
        '--show', action='store_true', help='show the overlays in a window')
    parser.add_argument(
        '--show-dir', help='directory where rank-coloured overlays are saved')
    parser.add_argument(
        '--wait-time',
        type=config_utils.non_negative_float,
        default=2,
        help='the interval of show (s)')
    parser.add_argument(
        '--data-root',
        help='dataset root for the test dataloader and its evaluator '
        '(sets every data_root and the evaluator\'s ann_file)')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='run even if the checkpoint\'s weights do not cover or fit '
        'the model (default: an error listing them)')
    parser.add_argument(
        '--pose-config',
        help='mmpose top-down config; keypoints of predicted persons come '
        'from this model')
    parser.add_argument(
        '--pose-checkpoint', help='checkpoint of --pose-config (local path)')
    parser.add_argument(
        '--pose-source',
        choices=TEST_POSE_SOURCES,
        help='poses PDR ranks from: PAI\'s (predicted), the matched ground '
        'truth (gt, an oracle) or the --pose-config model (external); '
        'default: the config\'s model.rank_head.test_pose_source')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=config_utils.CfgOptionsAction,
        help='override settings of the config, as key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.pose_checkpoint and not args.pose_config:
        parser.error('--pose-checkpoint needs --pose-config')
    if args.pose_source == 'external' and not args.pose_config:
        parser.error('--pose-source external needs --pose-config')
    return args


def build_test_config(args: argparse.Namespace) -> Config:
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

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint

    if args.show or args.show_dir:
        trigger_visualization_hook(cfg, args)

    if args.pose_config:
        cfg.pose_estimator = ConfigDict(cfg.get('pose_estimator', None) or {})
        cfg.pose_estimator.config = args.pose_config
        cfg.pose_estimator.checkpoint = args.pose_checkpoint
    use_pose_estimator_in_test(cfg)
    set_test_pose_source(cfg, args.pose_source)

    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        raise ValueError(
            f'--out must be a .pkl or .pickle file, got {args.out}')
    return cfg


def main(argv: Optional[List[str]] = None) -> dict:
    """Entry point of ``tools/test.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        dict: The metrics returned by ``runner.test()``.
    """
    args = parse_args(argv)
    setup_cache_size_limit_of_dynamo()
    cfg = build_test_config(args)
    setup_cpu_distributed(cfg)
    if 'runner_type' not in cfg:
        runner = Runner.from_cfg(cfg)
    else:
        runner = RUNNERS.build(cfg)
    if args.out is not None:
        # Dump the predictions (masks as RLE) beside the metrics.
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    runner.register_hook(
        ckpt_utils.CheckWeightsHook(args.checkpoint, args.allow_partial))
    counter = _ImageCounter()
    runner.register_hook(counter)
    try:
        with ckpt_utils.safe_checkpoint_loading():
            return runner.test()
    except KeyboardInterrupt:
        total = len(runner.test_dataloader.dataset)
        raise TestInterrupted(f'interrupted after {counter.done} of {total} '
                              'images') from None


if __name__ == '__main__':
    try:
        main()
    except TestInterrupted as err:
        print(err, file=sys.stderr)
        sys.exit(130)  # the shell's code for Ctrl-C
    except KeyboardInterrupt:  # before the test loop started
        print('interrupted before testing started', file=sys.stderr)
        sys.exit(130)
    except USER_ERRORS as err:
        sys.exit(f'error: {err}')
