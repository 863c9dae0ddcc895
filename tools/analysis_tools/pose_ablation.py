# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Does pose help? Train PoseSOR with and without pose over several seeds.

Example (the README's table)::

    python tools/analysis_tools/pose_ablation.py --seeds 0 1 2 \\
        --max-iters 1500 --jobs 2 --out-dir work_dirs/pose_ablation

Each run is ``tools/demo.py`` (same synthetic data, same procedure, same
budget) on ``configs/posesor_tiny_synthetic.py`` (with pose) and
``configs/posesor_tiny_synthetic_wo_pose.py`` (pose supervision and pose
pathways off); only the training seed changes between repeats. Runs go in
parallel ``--jobs`` at a time, each on ``cpu_count // jobs`` threads. The
script prints and writes (``OUT_DIR/ablation.md``, ``OUT_DIR/ablation.json``)
the mean and standard deviation of SA-SOR, SOR and MAE per variant, and the
per-seed values.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

import numpy as np

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VARIANTS = {
    'with pose': 'configs/posesor_tiny_synthetic.py',
    'without pose': 'configs/posesor_tiny_synthetic_wo_pose.py',
}
METRICS = (('sa_sor', 'SA-SOR', 3), ('sor', 'SOR', 3), ('mae', 'MAE', 4))
SUMMARY_FILE = 'demo_summary.json'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--max-iters', type=int, default=1500)
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument('--data-root', default='data/synthetic')
    parser.add_argument('--out-dir', default='work_dirs/pose_ablation')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='overrides passed to every run (e.g. a smaller test set)')
    return parser.parse_args(argv)


def run_one(variant: str, seed: int, args: argparse.Namespace,
            threads: int) -> Dict[str, float]:
    """Train and test one variant with one seed; return its metrics."""
    work_dir = osp.join(args.out_dir, variant.replace(' ', '_'), f'seed{seed}')
    summary = osp.join(work_dir, SUMMARY_FILE)
    if osp.isfile(summary):  # finished earlier: reuse (rerun = delete it)
        with open(summary) as f:
            done = json.load(f)
        if done['max_iters'] == args.max_iters:
            return done['model']
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'demo.py'), '--config',
        osp.join(ROOT, VARIANTS[variant]), '--work-dir', work_dir,
        '--data-root', args.data_root, '--seed',
        str(seed), '--max-iters',
        str(args.max_iters), '--no-overlays', '--no-baselines', '--no-plot'
    ]
    if args.cfg_options:
        cmd += ['--cfg-options', *args.cfg_options]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'run.log'), 'w') as log:
        print(
            f'[ablation] {variant}, seed {seed}: {" ".join(cmd)}', flush=True)
        subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=True)
    with open(summary) as f:
        return json.load(f)['model']


def aggregate(runs: Dict[Tuple[str, int], Dict[str, float]],
              seeds: List[int]) -> Dict[str, Dict[str, Tuple[float, float]]]:
    """Mean and (population) standard deviation per variant and metric."""
    table = {}
    for variant in VARIANTS:
        table[variant] = {}
        for key, _, _ in METRICS:
            values = np.array([runs[variant, s][key] for s in seeds])
            table[variant][key] = (float(values.mean()), float(values.std()))
    return table


def to_markdown(table: Dict, runs: Dict, seeds: List[int],
                max_iters: int) -> str:
    """The README's ablation table plus the per-seed values."""
    head = '| variant | ' + ' | '.join(n for _, n, _ in METRICS) + ' |'
    lines = [
        f'{len(seeds)} seeds ({", ".join(map(str, seeds))}), '
        f'{max_iters} iterations each; mean ± std', '', head,
        '|---|' + '---:|' * len(METRICS)
    ]
    for variant, metrics in table.items():
        cells = [
            f'{metrics[k][0]:.{d}f} ± {metrics[k][1]:.{d}f}'
            for k, _, d in METRICS
        ]
        lines.append(f'| {variant} | ' + ' | '.join(cells) + ' |')
    lines += [
        '',
        '| variant | seed | ' + ' | '.join(n for _, n, _ in METRICS) + ' |',
        '|---|---:|' + '---:|' * len(METRICS)
    ]
    for variant in VARIANTS:
        for seed in seeds:
            cells = [f'{runs[variant, seed][k]:.{d}f}' for k, _, d in METRICS]
            lines.append(f'| {variant} | {seed} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    jobs = max(1, args.jobs)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    tasks = [(v, s) for s in args.seeds for v in VARIANTS]
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {
            task: pool.submit(run_one, task[0], task[1], args, threads)
            for task in tasks
        }
        runs = {task: future.result() for task, future in futures.items()}
    table = aggregate(runs, args.seeds)
    markdown = to_markdown(table, runs, args.seeds, args.max_iters)
    with open(osp.join(args.out_dir, 'ablation.md'), 'w') as f:
        f.write(markdown + '\n')
    with open(osp.join(args.out_dir, 'ablation.json'), 'w') as f:
        json.dump(
            dict(
                seeds=args.seeds,
                max_iters=args.max_iters,
                runs={
                    f'{v}/seed{s}': m
                    for (v, s), m in runs.items()
                },
                mean_std=table),
            f,
            indent=2)
    print(markdown)
    return table


if __name__ == '__main__':
    main()
