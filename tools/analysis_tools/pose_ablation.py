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
per-seed values, plus a diagnosis of each final checkpoint on the test
split (predictions per image, precision at IoU > 0.5, and the recall of
people and of objects at IoU > 0.5): on the synthetic data pose decides
*which* objects are salient, which the ranking metrics reflect only
weakly.
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
DIAGNOSIS = (('preds_per_image', 'predictions / image', 2),
             ('precision', 'precision', 3), ('recall_person', 'recall people',
                                             3), ('recall_object',
                                                  'recall objects', 3))
PERSON_CLASS_ID = 1
MATCH_IOU = 0.5
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


def diagnose(variant: str, seed: int,
             args: argparse.Namespace) -> Dict[str, float]:
    """Detection statistics of one run's final checkpoint on the test set.

    Returns:
        dict: ``preds_per_image``, ``precision`` (predictions overlapping a
        GT at IoU > 0.5) and the recall of GT people (``class_id`` 1) and
        of the other GT objects at IoU > 0.5.
    """
    import torch
    from mmengine.config import Config
    from mmengine.runner import Runner, load_checkpoint

    import posesor  # noqa: F401
    from posesor.evaluation import SORMetric
    from posesor.evaluation.functional import mask_iou

    work_dir = osp.join(args.out_dir, variant.replace(' ', '_'), f'seed{seed}')
    cfg = Config.fromfile(osp.join(ROOT, VARIANTS[variant]))
    cfg.work_dir = osp.join(work_dir, 'diagnosis')
    data_root = args.data_root.rstrip('/') + '/'
    cfg.test_dataloader.dataset.data_root = data_root
    cfg.test_evaluator.ann_file = data_root + 'synthetic_test.json'
    runner = Runner.from_cfg(cfg)
    model = runner.model.eval()
    load_checkpoint(
        model,
        osp.join(work_dir, f'iter_{args.max_iters}.pth'),
        map_location='cpu',
        logger='silent')
    metric = SORMetric(ann_file=cfg.test_evaluator.ann_file)
    num_preds = num_images = matched_preds = 0
    found = {True: [0, 0], False: [0, 0]}  # is person -> [hits, total]
    for batch in runner.test_dataloader:
        with torch.no_grad():
            samples = model.test_step(batch)
        for sample in samples:
            gt = metric.load_gt(sample.img_id)
            preds = sample.pred_instances.masks.cpu().numpy()
            ious = mask_iou(preds, gt['masks'])  # (m, n)
            hits = ious > MATCH_IOU
            num_images += 1
            num_preds += preds.shape[0]
            matched_preds += int(hits.any(axis=0).sum())
            anns = metric.gt[sample.img_id]['annotations']
            for ann, hit in zip(anns, hits.any(axis=1)):
                is_person = ann.get('class_id') == PERSON_CLASS_ID
                found[is_person][0] += int(hit)
                found[is_person][1] += 1
    return dict(
        preds_per_image=num_preds / max(num_images, 1),
        precision=matched_preds / max(num_preds, 1),
        recall_person=found[True][0] / max(found[True][1], 1),
        recall_object=found[False][0] / max(found[False][1], 1))


def aggregate(runs: Dict[Tuple[str, int], Dict[str, float]],
              seeds: List[int],
              keys=METRICS) -> Dict[str, Dict[str, Tuple[float, float]]]:
    """Mean and (population) standard deviation per variant and key."""
    table = {}
    for variant in VARIANTS:
        table[variant] = {}
        for key, _, _ in keys:
            values = np.array([runs[variant, s][key] for s in seeds])
            table[variant][key] = (float(values.mean()), float(values.std()))
    return table


def _mean_std_rows(table: Dict, keys) -> List[str]:
    """Markdown rows ``| variant | mean ± std | ... |``."""
    lines = [
        '| variant | ' + ' | '.join(n for _, n, _ in keys) + ' |',
        '|---|' + '---:|' * len(keys)
    ]
    for variant, metrics in table.items():
        cells = [
            f'{metrics[k][0]:.{d}f} ± {metrics[k][1]:.{d}f}'
            for k, _, d in keys
        ]
        lines.append(f'| {variant} | ' + ' | '.join(cells) + ' |')
    return lines


def to_markdown(table: Dict, runs: Dict, seeds: List[int], max_iters: int,
                diagnosis: Dict) -> str:
    """The README's ablation tables plus the per-seed values."""
    lines = [
        f'{len(seeds)} seeds ({", ".join(map(str, seeds))}), '
        f'{max_iters} iterations each; mean ± std', ''
    ]
    lines += _mean_std_rows(table, METRICS)
    lines += ['', 'Detection on the test split (IoU > 0.5):', '']
    lines += _mean_std_rows(diagnosis, DIAGNOSIS)
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
    diagnoses = {task: diagnose(task[0], task[1], args) for task in tasks}
    diagnosis = aggregate(diagnoses, args.seeds, DIAGNOSIS)
    markdown = to_markdown(table, runs, args.seeds, args.max_iters, diagnosis)
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
