# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The embedded default: train and evaluate a tiny PoseSOR on the CPU.

``make demo`` runs this script. With no dataset and no GPU it

1. generates the synthetic pose-driven SOR dataset (or reuses it),
2. trains ``configs/posesor_tiny_synthetic.py`` on the CPU,
3. evaluates SA-SOR, SOR and MAE on the synthetic test split and scores
   trivial baselines beside them (:mod:`posesor.evaluation.baselines`),
4. writes rank-coloured overlays of the test images and a loss-curve PNG,
5. prints a summary with the paths.

Everything is deterministic for ``--seed``. Example::

    python tools/demo.py --work-dir work_dirs/demo --seed 0
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

from mmengine.config import Config
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
import posesor  # noqa: E402,F401
from posesor.datasets.synthetic import generate_synthetic_sor  # noqa: E402
from posesor.evaluation.baselines import score_baselines  # noqa: E402

SPLIT_FILES = ('synthetic_train.json', 'synthetic_test.json')
#: Written into the work dir: the run's metrics (read by pose_ablation.py).
SUMMARY_FILE = 'demo_summary.json'
REPORTED = (('sa_sor', 'SA-SOR', '{:.3f}'), ('sor', 'SOR', '{:.3f}'),
            ('mae', 'MAE', '{:.4f}'))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--config',
        default=osp.join(ROOT, 'configs', 'posesor_tiny_synthetic.py'))
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/synthetic')
    parser.add_argument('--num-train', type=int, default=500)
    parser.add_argument('--num-test', type=int, default=100)
    parser.add_argument('--image-size', type=int, default=192)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--max-iters',
        type=int,
        default=None,
        help='training iterations (default: the config\'s)')
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
    return parser.parse_args(argv)


def ensure_dataset(args: argparse.Namespace) -> None:
    """Generate the synthetic dataset unless both split files exist."""
    if all(osp.isfile(osp.join(args.data_root, f)) for f in SPLIT_FILES):
        print(f'[demo] reusing the synthetic dataset in {args.data_root}')
        return
    print(f'[demo] generating the synthetic dataset in {args.data_root} '
          f'({args.num_train} train / {args.num_test} test images)')
    generate_synthetic_sor(args.data_root, args.num_train, args.num_test,
                           args.image_size, args.seed)


def build_config(args: argparse.Namespace) -> Config:
    """The tiny config pointed at the demo's data, work dir and seed."""
    from mmengine.config import DictAction
    cfg = Config.fromfile(args.config)
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=args.seed, deterministic=False)
    data_root = args.data_root.rstrip('/') + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    test_ann = osp.join(data_root, SPLIT_FILES[1])
    cfg.val_evaluator.ann_file = test_ann
    cfg.test_evaluator.ann_file = test_ann
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
        cells = [fmt.format(metrics[key]) for key, _, fmt in REPORTED]
        lines.append(f'| {label} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict[str, Dict[str, float]]:
    args = parse_args(argv)
    start = time.time()
    ensure_dataset(args)
    cfg = build_config(args)
    print(f'[demo] training {osp.basename(args.config)} for '
          f'{cfg.train_cfg.max_iters} iterations on the CPU '
          f'(work dir {args.work_dir})')
    runner = Runner.from_cfg(cfg)
    runner.train()
    print('[demo] evaluating on the synthetic test split')
    metrics = runner.test()
    model = {key: metrics[f'sor/{key}'] for key, _, _ in REPORTED}
    rows = {'PoseSOR (tiny, this run)': model}
    if not args.no_baselines:
        baselines = score_baselines(
            cfg.test_evaluator.ann_file, seed=args.seed)
        for name, res in baselines.items():
            rows[f'baseline: {name}'] = res
    curve = None if args.no_plot else plot_losses(args.work_dir)
    overlays = osp.join(args.work_dir, runner.timestamp, 'overlays')
    table = summary_table(rows)
    with open(osp.join(args.work_dir, SUMMARY_FILE), 'w') as f:
        json.dump(
            dict(
                config=args.config,
                seed=args.seed,
                max_iters=cfg.train_cfg.max_iters,
                minutes=(time.time() - start) / 60,
                model=model,
                rows=rows),
            f,
            indent=2)
    print('\n[demo] results on the synthetic test split '
          f'({len(runner.test_dataloader.dataset)} images):\n')
    print(table)
    if not args.no_baselines:
        print('\nbaselines: empty = no prediction; gt_random = ground-truth '
              'masks in random order;\ngt_by_area = ground-truth masks '
              'ranked by area (see posesor/evaluation/baselines.py)\n')
    if not args.no_overlays:
        print(f'[demo] overlays:   {overlays}')
    if curve is not None:
        print(f'[demo] loss curve: {curve}')
    checkpoint = osp.join(args.work_dir, f'iter_{cfg.train_cfg.max_iters}.pth')
    print(f'[demo] checkpoint: {checkpoint}\n'
          f'[demo] done in {(time.time() - start) / 60:.1f} min')
    return rows


if __name__ == '__main__':
    main()
