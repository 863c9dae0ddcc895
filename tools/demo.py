# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The embedded default: train and evaluate a tiny PoseSOR on the CPU.

``make demo`` runs this script. With no dataset and no GPU it

1. generates the synthetic pose-driven SOR dataset with the config's rule
   (``synthetic_rule``; by default ``'pose_order'``: pose alone decides the
   order of look-alike objects) or reuses it, and prints a short hash of
   its annotation files (identical for a data seed on every machine),
2. trains ``configs/posesor_tiny_synthetic_pose_order.py`` on the CPU,
3. evaluates SA-SOR, SOR, MAE and the pose-order accuracy (with its
   chance level) on the synthetic test split and scores baselines without
   a model beside them (:mod:`posesor.evaluation.baselines`),
4. writes rank-coloured overlays of the test images and a loss-curve PNG,
5. prints a summary with the paths.

``--checkpoint`` skips training and scores a checkpoint of the config (steps
1, 3-5); ``--keep-checkpoints N`` keeps one every N iterations (the points of
a learning curve, see ``tools/analysis_tools/pose_ablation.py``). The data
depend on ``--data-seed`` only, the training on ``--seed``.
Example::

    python tools/demo.py --work-dir work_dirs/demo --seed 0
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
import posesor  # noqa: E402,F401
from posesor.datasets.synthetic import GENERATOR_VERSION  # noqa: E402
from posesor.datasets.synthetic import annotation_digest  # noqa: E402
from posesor.datasets.synthetic import generate_synthetic_sor  # noqa: E402
from posesor.evaluation.baselines import score_baselines  # noqa: E402

SPLIT_FILES = ('synthetic_train.json', 'synthetic_test.json')
#: Written into the work dir: the run's metrics (read by pose_ablation.py).
SUMMARY_FILE = 'demo_summary.json'
#: SORMetric's default metrics.
REPORTED_SOR = ('sa_sor', 'sor', 'mae')
REPORTED = (('sa_sor', 'SA-SOR', '{:.3f}'), ('sor', 'SOR', '{:.3f}'),
            ('mae', 'MAE', '{:.4f}'), ('pose_order_accuracy',
                                       'pose-order acc.', '{:.3f}'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--config',
        default=osp.join(ROOT, 'configs',
                         'posesor_tiny_synthetic_pose_order.py'))
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument(
        '--data-root',
        default=None,
        help='synthetic dataset root (default: the config\'s)')
    parser.add_argument('--num-train', type=int, default=500)
    parser.add_argument('--num-test', type=int, default=100)
    parser.add_argument('--image-size', type=int, default=192)
    parser.add_argument(
        '--data-seed', type=int, default=0, help='seed of the dataset')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the training')
    parser.add_argument(
        '--jae',
        action='store_true',
        help='also score the joint error (JAE) of the predicted poses')
    parser.add_argument(
        '--max-iters',
        type=int,
        default=None,
        help='training iterations (default: the config\'s)')
    parser.add_argument(
        '--keep-checkpoints',
        type=int,
        default=None,
        metavar='N',
        help='keep a checkpoint every N iterations (default: the last only)')
    parser.add_argument(
        '--checkpoint',
        default=None,
        help='do not train: score this checkpoint of the config')
    parser.add_argument(
        '--no-overlays',
        action='store_true',
        help='do not draw the test images (ground truth | prediction)')
    parser.add_argument(
        '--no-baselines',
        action='store_true',
        help='do not score the trivial baselines')
    parser.add_argument(
        '--no-plot', action='store_true', help='do not plot the loss curve')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='extra key=value overrides, as in tools/train.py')
    args = parser.parse_args(argv)
    if args.keep_checkpoints is not None and args.keep_checkpoints < 1:
        parser.error('--keep-checkpoints must be >= 1, got '
                     f'{args.keep_checkpoints}')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        parser.error(f'--checkpoint {args.checkpoint}: no such file')
    return args


def _dataset_matches(args: argparse.Namespace, rule: str) -> bool:
    """Whether the split files on disk were made with these options and
    this version of the generator."""
    counts = (args.num_train, args.num_test)
    for split_file, count in zip(SPLIT_FILES, counts):
        path = osp.join(args.data_root, split_file)
        if not osp.isfile(path):
            return False
        with open(path) as f:
            data = json.load(f)
        info = data.get('info', {})
        made = (info.get('generator_version'), info.get('rule'),
                info.get('seed'), info.get('size'),
                len(data.get('images', [])))
        if made != (GENERATOR_VERSION, rule, args.data_seed, args.image_size,
                    count):
            return False
    return True


def ensure_dataset(args: argparse.Namespace, rule: str) -> str:
    """Generate the synthetic dataset unless the one on disk was made with
    the same rule, seed, size and counts; return its annotation hash."""
    if _dataset_matches(args, rule):
        print(f'[demo] reusing the synthetic dataset in {args.data_root}')
    else:
        print(f'[demo] generating the synthetic dataset (rule {rule!r}, '
              f'seed {args.data_seed}) in {args.data_root} '
              f'({args.num_train} train / {args.num_test} test images)')
        generate_synthetic_sor(
            args.data_root,
            args.num_train,
            args.num_test,
            args.image_size,
            args.data_seed,
            rule=rule)
    digest = annotation_digest(
        [osp.join(args.data_root, f) for f in SPLIT_FILES])
    print(f'[demo] annotation hash: {digest} ({" + ".join(SPLIT_FILES)})')
    return digest


def _evaluators(cfg: Config) -> list:
    """The test evaluator config(s) as a list."""
    evaluator = cfg.test_evaluator
    return list(evaluator) if isinstance(evaluator,
                                         (list, tuple)) else [evaluator]


def build_config(args: argparse.Namespace) -> Config:
    """The tiny config pointed at the demo's data, work dir and seed."""
    from mmengine.config import DictAction
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=args.seed, deterministic=False)
    if args.data_root is None:
        args.data_root = cfg.train_dataloader.dataset.data_root
    data_root = args.data_root.rstrip('/') + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    test_ann = osp.join(data_root, SPLIT_FILES[1])
    for evaluator in _evaluators(cfg):
        evaluator.ann_file = test_ann
        if args.jae and evaluator.type == 'SORMetric':
            evaluator.metric = [*evaluator.get('metric', REPORTED_SOR), 'jae']
    if args.max_iters is not None:
        # Keep the learning-rate steps at the same fraction of the schedule.
        scale = args.max_iters / cfg.train_cfg.max_iters
        cfg.train_cfg.max_iters = args.max_iters
        for scheduler in cfg.param_scheduler:
            scheduler.end = args.max_iters
            if 'milestones' in scheduler:
                scheduler.milestones = [
                    round(m * scale) for m in scheduler.milestones
                ]
    # Evaluate once, after training (runner.test below): no validation loop.
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.interval = cfg.train_cfg.max_iters
    if args.keep_checkpoints is not None:
        cfg.default_hooks.checkpoint.interval = args.keep_checkpoints
        cfg.default_hooks.checkpoint.max_keep_ckpts = -1  # keep all
    if args.checkpoint is not None:
        cfg.load_from = args.checkpoint
    # Short runs still log (and plot) their losses.
    cfg.default_hooks.logger.interval = min(cfg.default_hooks.logger.interval,
                                            cfg.train_cfg.max_iters)
    # Overlays of every test image (ground truth | prediction).
    cfg.default_hooks.visualization = dict(
        type='DetVisualizationHook',
        draw=not args.no_overlays,
        test_out_dir='overlays')
    if args.cfg_options:
        parser = argparse.ArgumentParser()
        parser.add_argument('--o', nargs='+', action=DictAction)
        cfg.merge_from_dict(parser.parse_args(['--o', *args.cfg_options]).o)
    return cfg


def plot_losses(work_dir: str) -> str:
    """Loss curves of the run, via tools/analysis_tools/analyze_logs.py."""
    out = osp.join(work_dir, 'loss_curve.png')
    subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis_tools', 'analyze_logs.py'), work_dir,
        '--out', out, '--title', 'PoseSOR tiny, synthetic data'
    ],
                   check=True)
    return out


def summary_table(rows: Dict[str, Dict[str, float]]) -> str:
    """A Markdown table of SA-SOR / SOR / MAE per row."""
    lines = [
        '| | ' + ' | '.join(name for _, name, _ in REPORTED) + ' |',
        '|---|' + '---:|' * len(REPORTED)
    ]
    for label, metrics in rows.items():
        cells = [
            fmt.format(metrics[key]) if key in metrics else 'n/a'
            for key, _, fmt in REPORTED
        ]
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    args = parse_args(argv)
    start = time.time()
    cfg = build_config(args)
    rule = cfg.get('synthetic_rule', 'pointing')
    digest = ensure_dataset(args, rule)
    runner = Runner.from_cfg(cfg)
    train_minutes = 0.0
    if args.checkpoint is None:
        print(f'[demo] training {osp.basename(args.config)} for '
              f'{cfg.train_cfg.max_iters} iterations on the CPU '
              f'({torch.get_num_threads()} threads, work dir '
              f'{args.work_dir})')
        train_start = time.time()
        runner.train()
        train_minutes = (time.time() - train_start) / 60
    print('[demo] evaluating on the synthetic test split')
    metrics = runner.test()
    model = {
        key: metrics[f'sor/{key}']
        for key in ('sa_sor', 'sor', 'mae', 'jae') if f'sor/{key}' in metrics
    }
    chance = metrics.get('pose_order/chance')
    if 'pose_order/accuracy' in metrics:
        model['pose_order_accuracy'] = metrics['pose_order/accuracy']
        model['pose_order_chance'] = chance
    rows = {'PoseSOR (tiny, this run)': model}
    if not args.no_baselines:
        baselines = score_baselines(
            _evaluators(cfg)[0].ann_file, seed=args.seed)
        for name, res in baselines.items():
            rows[f'baseline: {name}'] = res
    curve = None if args.no_plot or args.checkpoint else plot_losses(
        args.work_dir)
    overlays = osp.join(args.work_dir, runner.timestamp, 'overlays')
    table = summary_table(rows)
    with open(osp.join(args.work_dir, SUMMARY_FILE), 'w') as f:
        json.dump(
            dict(
                config=args.config,
                checkpoint=args.checkpoint,
                rule=rule,
                annotation_hash=digest,
                seed=args.seed,
                data_seed=args.data_seed,
                max_iters=cfg.train_cfg.max_iters,
                threads=torch.get_num_threads(),
                train_minutes=train_minutes,
                minutes=(time.time() - start) / 60,
                model=model,
                rows=rows),
            f,
            indent=2)
    print('\n[demo] results on the synthetic test split '
          f'({len(runner.test_dataloader.dataset)} images):\n')
    print(table)
    if 'pose_order_accuracy' in model:
        print(f'\npose-order accuracy: {model["pose_order_accuracy"]:.3f} '
              f'(chance {chance:.3f})')
    if not args.no_baselines:
        print('\nbaselines (ground-truth masks, no model; see '
              'posesor/evaluation/baselines.py): empty = no prediction;\n'
              'gt_random = random order; gt_by_area = largest first; '
              'nearest_object = people by area, each\nfollowed by its '
              'nearest object; pose_oracle = the rule read from the GT '
              'keypoints\n')
    if not args.no_overlays:
        print(f'[demo] overlays:   {overlays}')
    if curve is not None:
        print(f'[demo] loss curve: {curve}')
    checkpoint = args.checkpoint or osp.join(
        args.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    print(f'[demo] checkpoint: {checkpoint}\n'
          f'[demo] annotation hash: {digest} (rule {rule!r}, data seed '
          f'{args.data_seed})')
    if args.checkpoint is None:
        print(f'[demo] training: {train_minutes:.1f} min, '
              f'{60 * train_minutes / cfg.train_cfg.max_iters:.2f} s per '
              f'iteration on {torch.get_num_threads()} threads')
    print(f'[demo] done in {(time.time() - start) / 60:.1f} min')
    return rows


if __name__ == '__main__':
    main()
