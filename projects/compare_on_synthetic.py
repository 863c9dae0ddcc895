# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Compare the SOR models of this repository on the synthetic dataset.

Trains every model's tiny config with ``tools/demo.py`` (same data, same
budget, same ``SORMetric``) for each seed, then measures the parameters and
the CPU inference time per test image of each trained model (one process,
models interleaved image by image, so the times compare under the same
load), and prints a Markdown table: SA-SOR / SOR / MAE as mean +- std over
the seeds (and the pose-order accuracy on the ``pose_order`` data),
parameters, seconds per image.

Example (the table of projects/README.md)::

    python projects/compare_on_synthetic.py --seeds 0 1 2 \\
        --data-root data/synthetic_pose_order_ablation --num-test 500 \\
        --work-dir work_dirs/compare --jobs 2

A run whose ``demo_summary.json`` exists in its run directory (for the
same number of iterations) is reused, not trained again: e.g. the PoseSOR
runs of ``tools/analysis_tools/pose_ablation.py`` on the same data, linked
as ``<work dir>/posesor_seed<k>`` and ``posesor_wo_pose_seed<k>``.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

#: label -> tiny config (relative to the repository root)
MODELS = {
    'PoseSOR': 'configs/posesor_tiny_synthetic_pose_order.py',
    'PoseSOR w/o pose': 'configs/posesor_tiny_synthetic_pose_order_wo_pose.py',
    'Mask2Former-SOR':
    'projects/mask2former_sor/configs/mask2former_sor_tiny_synthetic.py',
    'SeqRank': 'projects/seqrank/configs/seqrank_tiny_synthetic.py',
    'QAGNet': 'projects/qagnet/configs/qagnet_tiny_synthetic.py',
}
#: summary key -> column (pose-order accuracy: the pose_order rule's data)
METRICS = {
    'sa_sor': 'SA-SOR',
    'sor': 'SOR',
    'mae': 'MAE',
    'pose_order_accuracy': 'pose-order acc.'
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument(
        '--max-iters',
        type=int,
        default=None,
        help='training iterations (default: the configs\' 1000)')
    parser.add_argument('--models', nargs='+', default=list(MODELS))
    parser.add_argument('--work-dir', default='work_dirs/compare')
    parser.add_argument('--data-root', default='data/synthetic_pose_order')
    parser.add_argument(
        '--num-train',
        type=int,
        default=500,
        help='training images of the synthetic split (tools/demo.py)')
    parser.add_argument(
        '--num-test',
        type=int,
        default=100,
        help='test images of the synthetic split (tools/demo.py)')
    parser.add_argument(
        '--timing-images',
        type=int,
        default=20,
        help='test images timed per model (after one warm-up image)')
    parser.add_argument(
        '--jobs',
        type=int,
        default=1,
        help='training runs at a time, each on cpu_count // jobs torch '
        'threads')
    parser.add_argument(
        '--skip-training',
        action='store_true',
        help='reuse the summaries and checkpoints in --work-dir')
    return parser.parse_args(argv)


def run_dir(args, label: str, seed: int) -> str:
    slug = label.lower().replace(' ', '_').replace('/', '')
    return osp.join(args.work_dir, f'{slug}_seed{seed}')


def train(args, label: str, seed: int) -> subprocess.Popen:
    """Start training and testing one model for one seed (tools/demo.py);
    its output goes to ``<run dir>.log``."""
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'demo.py'), '--config',
        osp.join(ROOT, MODELS[label]), '--work-dir',
        run_dir(args, label, seed), '--data-root', args.data_root, '--seed',
        str(seed), '--num-train',
        str(args.num_train), '--num-test',
        str(args.num_test), '--no-overlays', '--no-baselines', '--no-plot'
    ]
    if args.max_iters is not None:
        cmd += ['--max-iters', str(args.max_iters)]
    print(f'[compare] {label}, seed {seed}', flush=True)
    log = open(run_dir(args, label, seed) + '.log', 'w')
    threads = max(1, (os.cpu_count() or 1) // max(1, args.jobs))
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log, env=env)


def finished(args, label: str, seed: int) -> bool:
    """Whether the run has a summary (of ``--max-iters`` iterations, when
    given) and can be reused."""
    path = osp.join(run_dir(args, label, seed), 'demo_summary.json')
    if not osp.isfile(path):
        return False
    done = read_summary(args, label, seed)['max_iters']
    if args.max_iters is not None and done != args.max_iters:
        return False
    print(
        f'[compare] {label}, seed {seed}: reusing its {done}-iteration run',
        flush=True)
    return True


def read_summary(args, label: str, seed: int) -> Dict:
    with open(osp.join(run_dir(args, label, seed), 'demo_summary.json')) as f:
        return json.load(f)


def time_models(args, labels: List[str]) -> Dict[str, Dict[str, float]]:
    """Parameters and CPU seconds per test image of each seed-0 model."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from posesor.apis import SORInferencer

    seed = args.seeds[0]
    data_root = args.data_root.rstrip('/') + '/'
    with open(osp.join(data_root, 'synthetic_test.json')) as f:
        images = [im['file_name'] for im in json.load(f)['images']]
    images = [
        osp.join(data_root, 'images', 'test', name)
        for name in images[:args.timing_images + 1]
    ]
    inferencers = {}
    for label in labels:
        summary = read_summary(args, label, seed)
        ckpt = osp.join(
            run_dir(args, label, seed), f'iter_{summary["max_iters"]}.pth')
        cfg = Config.fromfile(osp.join(ROOT, MODELS[label]))
        inferencers[label] = SORInferencer(
            cfg, ckpt, device='cpu', show_progress=False)
    times = {label: [] for label in labels}
    with DefaultScope.overwrite_default_scope('mmdet'), torch.no_grad():
        for i, image in enumerate(images):
            for label, inferencer in inferencers.items():
                start = time.perf_counter()
                inferencer(image)
                if i > 0:  # the first image warms up
                    times[label].append(time.perf_counter() - start)
    return {
        label:
        dict(
            params=sum(p.numel()
                       for p in inferencers[label].model.parameters()),
            seconds=statistics.mean(times[label]))
        for label in labels
    }


def mean_std(values: List[float], fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return (fmt.format(statistics.mean(values)) + ' +- ' +
            fmt.format(statistics.stdev(values)))


def main(argv=None) -> str:
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    if not args.skip_training:
        pending = [(label, seed) for seed in args.seeds
                   for label in args.models if not finished(args, label, seed)]
        running: List[subprocess.Popen] = []
        while pending or running:
            while pending and len(running) < args.jobs:
                running.append(train(args, *pending.pop(0)))
            time.sleep(1)
            for proc in [p for p in running if p.poll() is not None]:
                running.remove(proc)
                if proc.returncode != 0:
                    raise RuntimeError(f'{proc.args} failed, see its log')
    costs = time_models(args, args.models)
    import torch
    runs_of = {
        label: [read_summary(args, label, s)['model'] for s in args.seeds]
        for label in args.models
    }
    keys = [
        k for k in METRICS
        if all(k in r for runs in runs_of.values() for r in runs)
    ]
    lines = [
        '| model | ' + ' | '.join(METRICS[k] for k in keys) +
        ' | parameters | CPU s / image |', '|---|' + '---:|' * (len(keys) + 2)
    ]
    results = {}
    for label in args.models:
        runs = runs_of[label]
        results[label] = dict(runs=runs, **costs[label])
        cells = [
            mean_std([r[k]
                      for r in runs], '{:.4f}' if k == 'mae' else '{:.3f}')
            for k in keys
        ]
        lines.append(f'| {label} | ' + ' | '.join(cells) +
                     f' | {costs[label]["params"] / 1e6:.2f} M | '
                     f'{costs[label]["seconds"]:.3f} |')
    table = '\n'.join(lines)
    iters = read_summary(args, args.models[0], args.seeds[0])['max_iters']
    note = (f'seeds {args.seeds}, {iters} iterations, torch threads '
            f'{torch.get_num_threads()}')
    with open(osp.join(args.work_dir, 'comparison.json'), 'w') as f:
        json.dump(dict(results=results, note=note), f, indent=2)
    print(table + '\n\n' + note)
    return table


if __name__ == '__main__':
    main()
