# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Does pose help? Train PoseSOR with and without pose over several seeds.

Example (the README's table)::

    python tools/analysis_tools/pose_ablation.py --rule pose_order \\
        --seeds 0 1 2 3 4 --max-iters 1000 2000 --num-test 500 --jobs 2

Each run is ``tools/demo.py`` (same synthetic data, same procedure) on the
rule's tiny config with pose (``configs/posesor_tiny_synthetic*.py``) and
without pose (``*_wo_pose.py``: pose supervision and pose pathways off);
only the training seed changes between repeats, and the data (its own
root, generated once with ``--num-train`` / ``--num-test`` images and data
seed 0) are the same for all runs. ``--variants`` adds ``pdr_wo_directions``
(the with-pose model with only PDR's directional cues off), which tells
whether PDR carries the pointing direction, and the pose sources of PDR
(``model.rank_head.train_pose_source`` / ``test_pose_source``, see
``posesor/models/heads/pose_source.py``): ``gt_pose`` (trained and tested
on the ground-truth keypoints: can PDR follow a correct pose?),
``gt_pose_predicted_test`` (``gt_pose``'s checkpoints tested on PAI's own
poses) and ``with_pose_gt_test`` (``with_pose``'s checkpoints tested on the
ground-truth keypoints). The last two train nothing: they score the final
checkpoints of the variant they name (which must be among ``--variants``).
Runs go in parallel ``--jobs`` at a time, each on ``cpu_count // jobs``
threads.

Per budget (``--max-iters``) the script prints and writes
(``OUT_DIR/<report>.md`` and ``.json``; ``--report`` names them, default
``ablation``, so that one ``OUT_DIR`` can report several selections of its
runs) the mean and standard deviation over seeds of SA-SOR, SOR, MAE, the
pose-order accuracy and, with ``--jae``, the joint error of the predicted
poses; the per-seed values; and a paired t-test over seeds of each variant
against ``with_pose`` (mean difference, its standard deviation, t,
two-sided p), flagging differences under three times the seed spread.
``--diagnose`` adds detection statistics and the people-first rate of each
final checkpoint on the test split (kept in ``<run>/diagnosis``).

``--curve-interval N`` draws learning curves of the largest budget (the
one that can tell whether the budget is the limit): its runs keep a
checkpoint each N iterations (``demo.py --keep-checkpoints``), each kept
checkpoint is scored on the test split like the final one (``demo.py
--checkpoint``, in ``<run>/curve/iter_<i>``, reused when done), and the
mean ± std over seeds per variant and iteration goes into the tables and
into ``OUT_DIR/learning_curves_<budget>.png`` beside the training rank and
joint losses. The curves are a diagnostic: nothing is selected by them.
"""
import argparse
import importlib
import json
import os
import os.path as osp
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: rule -> (with-pose config, without-pose config)
CONFIGS = {
    'pointing': ('configs/posesor_tiny_synthetic.py',
                 'configs/posesor_tiny_synthetic_wo_pose.py'),
    'pose_order': ('configs/posesor_tiny_synthetic_pose_order.py',
                   'configs/posesor_tiny_synthetic_pose_order_wo_pose.py'),
}
_GT_TRAIN = 'model.rank_head.train_pose_source=gt'
_GT_TEST = 'model.rank_head.test_pose_source=gt'
#: variant -> (index into the rule's CONFIGS pair, extra cfg options)
VARIANTS = {
    'with_pose': (0, []),
    'without_pose': (1, []),
    'pdr_wo_directions': (0, ['model.rank_head.pdr.use_directions=False']),
    'gt_pose': (0, [_GT_TRAIN, _GT_TEST]),
    'gt_pose_predicted_test':
    (0, [_GT_TRAIN, 'model.rank_head.test_pose_source=predicted']),
    'with_pose_gt_test': (0, [_GT_TEST]),
}
#: test-only variant -> the variant whose final checkpoints it scores
TEST_ONLY = {
    'gt_pose_predicted_test': 'gt_pose',
    'with_pose_gt_test': 'with_pose',
}
REFERENCE = 'with_pose'
METRICS = (('sa_sor', 'SA-SOR', 3), ('sor', 'SOR', 3), ('mae', 'MAE', 4),
           ('pose_order_accuracy', 'pose-order acc.', 3), ('jae', 'JAE', 3))
DIAGNOSIS = (
    ('preds_per_image', 'predictions / image', 2),
    ('precision', 'precision', 3),
    ('recall_person', 'recall people', 3),
    ('recall_object', 'recall objects', 3),
    ('people_first', 'people first', 3),
    ('next_target_hit', 'next target hit', 3),
    ('next_target_chance', 'its chance', 3),
)
#: A gap under this many seed standard deviations does not separate.
SEPARATION_STDS = 3.0
PERSON_CLASS_ID = 1
MATCH_IOU = 0.5
SUMMARY_FILE = 'demo_summary.json'
#: Written into ``<run>/diagnosis``: the statistics of ``--diagnose``.
DIAGNOSIS_FILE = 'diagnosis.json'
#: The training losses drawn beside the learning curves (ranking, joints).
TRAINING_LOSSES = ('loss_rank', 'loss_joint')
#: Panels per row of the learning-curve figure.
CURVE_COLUMNS = 4


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--rule', choices=sorted(CONFIGS), default='pose_order')
    parser.add_argument(
        '--variants',
        nargs='+',
        choices=list(VARIANTS),
        default=['with_pose', 'without_pose'])
    parser.add_argument(
        '--seeds', type=int, nargs='+', default=[0, 1, 2, 3, 4])
    parser.add_argument(
        '--max-iters',
        type=int,
        nargs='+',
        default=[1000, 2000],
        help='training budgets (the demo\'s and twice it)')
    parser.add_argument('--num-train', type=int, default=500)
    parser.add_argument('--num-test', type=int, default=500)
    parser.add_argument('--jobs', type=int, default=2)
    parser.add_argument(
        '--data-root',
        default=None,
        help='default: data/synthetic_<rule>_ablation')
    parser.add_argument('--out-dir', default='work_dirs/pose_ablation')
    parser.add_argument(
        '--report',
        default='ablation',
        help='name of the report files in OUT_DIR (.md and .json)')
    parser.add_argument(
        '--jae', action='store_true', help='also score the poses (JAE)')
    parser.add_argument(
        '--diagnose',
        action='store_true',
        help='detection statistics of every final checkpoint')
    parser.add_argument(
        '--curve-interval',
        type=int,
        default=None,
        metavar='N',
        help='learning curves of the largest budget: keep and score a '
        'checkpoint every N iterations')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='overrides passed to every run (e.g. a smaller batch)')
    args = parser.parse_args(argv)
    if REFERENCE not in args.variants:
        parser.error(f'--variants must include {REFERENCE!r}')
    for variant in args.variants:
        source = TEST_ONLY.get(variant)
        if source is not None and source not in args.variants:
            parser.error(f'--variants {variant} scores the checkpoints of '
                         f'{source}: include {source}')
    if args.curve_interval is not None and args.curve_interval < 1:
        parser.error(f'--curve-interval must be >= 1, got '
                     f'{args.curve_interval}')
    if args.data_root is None:
        args.data_root = f'data/synthetic_{args.rule}_ablation'
    return args


def _work_dir(args: argparse.Namespace, max_iters: int, variant: str,
              seed: int) -> str:
    return osp.join(args.out_dir, f'iters{max_iters}', variant, f'seed{seed}')


def _demo_args(args: argparse.Namespace,
               variant: str) -> Tuple[List[str], List[str]]:
    """tools/demo.py's arguments and ``--cfg-options`` of a variant."""
    config, options = VARIANTS[variant]
    return [
        '--config',
        osp.join(ROOT, CONFIGS[args.rule][config]), '--data-root',
        args.data_root, '--num-train',
        str(args.num_train), '--num-test',
        str(args.num_test)
    ], [*options, *args.cfg_options]


def _demo(work_dir: str, extra: List[str], variant: str,
          args: argparse.Namespace, threads: int, what: str,
          reuse: Callable[[Dict], bool]) -> Dict[str, float]:
    """Run tools/demo.py into ``work_dir`` (or reuse its finished summary
    when ``reuse`` accepts it; rerun = delete it); return its metrics."""
    summary = osp.join(work_dir, SUMMARY_FILE)
    if osp.isfile(summary):
        with open(summary) as f:
            done = json.load(f)
        if reuse(done):
            return done['model']
    demo_args, options = _demo_args(args, variant)
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'demo.py'), *demo_args, '--work-dir', work_dir,
        *extra, '--no-overlays', '--no-baselines', '--no-plot'
    ]
    if args.jae:
        cmd.append('--jae')
    if options:
        cmd += ['--cfg-options', *options]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'run.log'), 'w') as log:
        print(f'[ablation] {what}: {" ".join(cmd)}', flush=True)
        subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, check=True)
    with open(summary) as f:
        return json.load(f)['model']


def final_checkpoint(args: argparse.Namespace, max_iters: int, variant: str,
                     seed: int) -> str:
    """The checkpoint a variant's run tests (a test-only variant: that of
    the variant it scores)."""
    trained = TEST_ONLY.get(variant, variant)
    return osp.join(
        _work_dir(args, max_iters, trained, seed), f'iter_{max_iters}.pth')


def run_one(variant: str, seed: int, max_iters: int, args: argparse.Namespace,
            threads: int) -> Dict[str, float]:
    """Train and test one variant with one seed (a test-only variant: test
    its source's checkpoint); return its metrics."""
    extra = ['--seed', str(seed), '--max-iters', str(max_iters)]
    if variant in TEST_ONLY:
        checkpoint = final_checkpoint(args, max_iters, variant, seed)
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'{checkpoint}: {variant} scores the '
                                    f'run of {TEST_ONLY[variant]}')
        return _demo(
            _work_dir(args, max_iters, variant,
                      seed), extra + ['--checkpoint', checkpoint], variant,
            args, threads, f'{variant}, seed {seed}, {max_iters} iterations',
            lambda done: done.get('checkpoint') == checkpoint)
    if _has_curve(args, max_iters):
        extra += ['--keep-checkpoints', str(args.curve_interval)]
    return _demo(
        _work_dir(args, max_iters, variant, seed), extra, variant, args,
        threads, f'{variant}, seed {seed}, {max_iters} iterations',
        lambda done: done['max_iters'] == max_iters)


def _has_curve(args: argparse.Namespace, max_iters: int) -> bool:
    """Whether the runs of this budget get a learning curve."""
    return args.curve_interval is not None and \
        max_iters == max(args.max_iters)


def curve_iterations(max_iters: int, interval: int) -> List[int]:
    """The iterations of a learning curve: every ``interval``-th and the
    last (the run's own test)."""
    return sorted({*range(interval, max_iters, interval), max_iters})


def score_checkpoint(variant: str, seed: int, max_iters: int, iteration: int,
                     args: argparse.Namespace,
                     threads: int) -> Dict[str, float]:
    """Score a run's checkpoint of ``iteration`` on the test split."""
    run_dir = _work_dir(args, max_iters, variant, seed)
    checkpoint = osp.join(run_dir, f'iter_{iteration}.pth')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'{checkpoint}: the learning curve needs the checkpoint of '
            f'iteration {iteration}; train the run with --curve-interval '
            f'(delete {osp.join(run_dir, SUMMARY_FILE)} to rerun it)')
    return _demo(
        osp.join(run_dir, 'curve', f'iter_{iteration}'),
        ['--checkpoint', checkpoint], variant, args, threads,
        f'{variant}, seed {seed}, checkpoint {iteration}/{max_iters}',
        lambda done: done.get('checkpoint') == checkpoint)


def people_ranked_first(position: np.ndarray,
                        is_person: np.ndarray) -> Optional[bool]:
    """Whether every matched person is ranked before every matched object.

    Args:
        position (np.ndarray): (m,) predicted position of each GT instance,
            -1 when unmatched (:func:`match_predictions`).
        is_person (np.ndarray): (m,) bool, GT instance is a person.

    Returns:
        bool | None: None unless at least one person and one object are
        matched.
    """
    matched = position >= 0
    people = position[matched & is_person]
    objects = position[matched & ~is_person]
    if len(people) == 0 or len(objects) == 0:
        return None
    return bool(people.max() < objects.min())


def next_target_hit(partition: np.ndarray, gt_masks: np.ndarray,
                    objects: Sequence[int], target: int) -> bool:
    """Whether a person's next-target map scores its target object highest.

    Args:
        partition (np.ndarray): (H, W) next-target probabilities of the
            person's prediction.
        gt_masks (np.ndarray): (m, H, W) binary GT masks.
        objects (Sequence[int]): Indices of the image's GT objects (not
            people).
        target (int): Index of the object the person points at.

    Returns:
        bool: The target has the largest mean probability over its mask.
    """
    means = [
        float(partition[gt_masks[i] > 0].mean()) if gt_masks[i].any() else -1.0
        for i in objects
    ]
    return bool(objects[int(np.argmax(means))] == target)


def diagnose(variant: str,
             seed: int,
             max_iters: int,
             args: argparse.Namespace,
             iteration: Optional[int] = None) -> Dict[str, float]:
    """Detection statistics of one run's final checkpoint on the test set.

    ``iteration`` diagnoses the run's kept checkpoint of that iteration
    instead (``<run>/diagnosis/iter_<i>``).

    Returns:
        dict: ``preds_per_image``, ``precision`` (predictions overlapping a
        GT at IoU > 0.5), the recall of GT people (``class_id`` 1) and of
        the other GT objects at IoU > 0.5, and ``people_first``: the
        fraction of images (with a person and an object matched) whose
        matched people are all ranked before their matched objects (0 in
        the ground truth of ``pose_order``, where each person's object
        follows it). ``next_target_hit``: over the GT people that point at
        an object and are matched to a prediction, the fraction whose
        predicted next-target map has its largest mean over the GT mask of
        that object among the image's GT objects (the objects need not be
        detected: this asks only whether PDR's next target follows the
        pose); ``next_target_chance``: the mean of 1 / objects over them.
    """
    import torch
    from mmengine.runner import Runner, load_checkpoint

    work_dir = _work_dir(args, max_iters, variant, seed)
    checkpoint = final_checkpoint(args, max_iters, variant, seed)
    cache = osp.join(work_dir, 'diagnosis', DIAGNOSIS_FILE)
    if iteration is not None:
        checkpoint = checkpoint.replace(f'iter_{max_iters}.pth',
                                        f'iter_{iteration}.pth')
        cache = osp.join(work_dir, 'diagnosis', f'iter_{iteration}',
                         DIAGNOSIS_FILE)
    if osp.isfile(cache):  # diagnosed earlier: reuse (rerun = delete it)
        with open(cache) as f:
            done = json.load(f)
        if done['checkpoint'] == checkpoint and \
                {k for k, _, _ in DIAGNOSIS} <= set(done['stats']):
            return done['stats']
    # The run's own model and test data (variant options included).
    demo = _import_demo()  # also puts the repository on sys.path
    from posesor.evaluation import SORMetric
    from posesor.evaluation.pose_order import match_predictions
    demo_args, options = _demo_args(args, variant)
    cfg = demo.build_config(
        demo.parse_args([
            *demo_args, '--work-dir',
            osp.dirname(cache), '--no-overlays',
            *(['--cfg-options', *options] if options else [])
        ]))
    cfg.model.test_cfg.with_partitions = True
    runner = Runner.from_cfg(cfg)
    model = runner.model.eval()
    load_checkpoint(
        model, checkpoint, map_location='cpu', strict=True, logger='silent')
    metric = SORMetric(ann_file=osp.join(args.data_root, demo.SPLIT_FILES[1]))
    num_preds = num_images = matched_preds = 0
    found = {True: [0, 0], False: [0, 0]}  # is person -> [hits, total]
    people_first: List[bool] = []
    hits: List[bool] = []
    chances: List[float] = []
    for batch in runner.test_dataloader:
        with torch.no_grad():
            samples = model.test_step(batch)
        for sample in samples:
            gt = metric.load_gt(sample.img_id)
            preds = sample.pred_instances.masks.cpu().numpy()
            position = match_predictions(preds, gt['masks'], MATCH_IOU)
            num_images += 1
            num_preds += preds.shape[0]
            matched_preds += int((position >= 0).sum())
            anns = metric.gt[sample.img_id]['annotations']
            is_person = np.array(
                [ann.get('class_id') == PERSON_CLASS_ID for ann in anns],
                dtype=bool)
            for person, pos in zip(is_person, position):
                found[bool(person)][0] += int(pos >= 0)
                found[bool(person)][1] += 1
            first = people_ranked_first(position, is_person)
            if first is not None:
                people_first.append(first)
            index = {ann['id']: k for k, ann in enumerate(anns)}
            objects = [k for k, p in enumerate(is_person) if not p]
            partitions = sample.pred_instances.partitions.cpu().numpy()
            for k, ann in enumerate(anns):
                if ann.get('points_at') is None or position[k] < 0:
                    continue
                hits.append(
                    next_target_hit(partitions[position[k]], gt['masks'],
                                    objects, index[ann['points_at']]))
                chances.append(1.0 / len(objects))
    stats = dict(
        preds_per_image=num_preds / max(num_images, 1),
        precision=matched_preds / max(num_preds, 1),
        recall_person=found[True][0] / max(found[True][1], 1),
        recall_object=found[False][0] / max(found[False][1], 1),
        people_first=float(np.mean(people_first)) if people_first else 0.0,
        next_target_hit=float(np.mean(hits)) if hits else 0.0,
        next_target_chance=float(np.mean(chances)) if chances else 0.0)
    with open(cache, 'w') as f:
        json.dump(dict(checkpoint=checkpoint, stats=stats), f, indent=2)
    return stats


def _keys(runs: Dict, keys=METRICS) -> Tuple:
    """The metric keys that every run reported."""
    return tuple(k for k in keys if all(k[0] in m for m in runs.values()))


def aggregate(runs: Dict[Tuple[str, int], Dict[str, float]],
              variants: List[str], seeds: List[int],
              keys) -> Dict[str, Dict[str, Tuple[float, float]]]:
    """Mean and sample standard deviation (ddof 1) per variant and key."""
    table = {}
    for variant in variants:
        table[variant] = {}
        for key, _, _ in keys:
            values = np.array([runs[variant, s][key] for s in seeds], float)
            std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            table[variant][key] = (float(values.mean()), std)
    return table


def paired_tests(runs: Dict, variants: List[str], seeds: List[int],
                 keys) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Paired t-tests over seeds of each variant against ``with_pose``.

    Returns:
        dict: variant -> key -> ``diff`` (mean of with_pose - variant),
        ``diff_std``, ``t``, ``p`` (two-sided; NaN under 2 seeds) and
        ``separated`` (|diff| >= SEPARATION_STDS x the larger seed std).
    """
    out = {}
    for variant in variants:
        if variant == REFERENCE:
            continue
        out[variant] = {}
        for key, _, _ in keys:
            ref = np.array([runs[REFERENCE, s][key] for s in seeds], float)
            other = np.array([runs[variant, s][key] for s in seeds], float)
            diff = ref - other
            t = p = float('nan')
            if len(seeds) > 1 and diff.std() > 0:
                t, p = (float(v) for v in stats.ttest_rel(ref, other))
            spread = max(ref.std(ddof=1), other.std(ddof=1)) \
                if len(seeds) > 1 else float('nan')
            out[variant][key] = dict(
                diff=float(diff.mean()),
                diff_std=float(diff.std(ddof=1)) if len(seeds) > 1 else 0.0,
                t=t,
                p=p,
                separated=bool(abs(diff.mean()) >= SEPARATION_STDS * spread))
    return out


def _mean_std_rows(table: Dict, keys,
                   labels: Tuple[str, ...] = ('variant', )) -> List[str]:
    """Markdown rows ``| label ... | mean ± std | ... |``; a key of
    ``table`` is one label or a tuple of ``len(labels)`` labels."""
    lines = [
        '| ' + ' | '.join([*labels, *(n for _, n, _ in keys)]) + ' |',
        '|---|' + '---:|' * (len(labels) - 1 + len(keys))
    ]
    for row, metrics in table.items():
        row = row if isinstance(row, tuple) else (row, )
        cells = [
            f'{metrics[k][0]:.{d}f} ± {metrics[k][1]:.{d}f}'
            for k, _, d in keys
        ]
        lines.append('| ' + ' | '.join([*map(str, row), *cells]) + ' |')
    return lines


def to_markdown(args: argparse.Namespace, max_iters: int, result: Dict,
                keys) -> str:
    """The README's ablation tables for one budget."""
    seeds = args.seeds
    lines = [
        f'**{max_iters} iterations** — rule `{args.rule}`, '
        f'{args.num_train} train / {args.num_test} test images, '
        f'{len(seeds)} training seeds ({", ".join(map(str, seeds))}); '
        'mean ± std (ddof 1) over seeds', ''
    ]
    lines += _mean_std_rows(result['mean_std'], keys)
    lines += [
        '', f'Paired t-test over seeds ({REFERENCE} - variant; '
        f'"separated": |difference| >= {SEPARATION_STDS:g} x the larger '
        'seed std):', '', '| variant | metric | difference | std | t | p | '
        'separated |', '|---|---|---:|---:|---:|---:|---|'
    ]
    for variant, tests in result['paired'].items():
        for key, name, d in keys:
            r = tests[key]
            lines.append(f'| {variant} | {name} | {r["diff"]:+.{d}f} | '
                         f'{r["diff_std"]:.{d}f} | {r["t"]:.2f} | '
                         f'{r["p"]:.3f} | {"yes" if r["separated"] else "no"}'
                         ' |')
    if 'curves' in result:
        lines += [
            '', f'Learning curves (checkpoints of these runs, '
            f'learning_curves_{max_iters}.png):', ''
        ]
        lines += _mean_std_rows(
            {
                (v, it): metrics
                for v, per_iter in result['curves'].items()
                for it, metrics in per_iter.items()
            }, keys, ('variant', 'iteration'))
    if 'diagnosis' in result:
        lines += [
            '', 'Detection (IoU > 0.5) and people-first ranking on the '
            'test split:', ''
        ]
        lines += _mean_std_rows(result['diagnosis'], DIAGNOSIS)
    lines += [
        '', '| variant | seed | ' + ' | '.join(n for _, n, _ in keys) + ' |',
        '|---|---:|' + '---:|' * len(keys)
    ]
    for variant in args.variants:
        for seed in seeds:
            run = result['runs'][f'{variant}/seed{seed}']
            cells = [f'{run[k]:.{d}f}' for k, _, d in keys]
            lines.append(f'| {variant} | {seed} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def learning_curves(points: Dict[Tuple[str, int, int],
                                 Dict[str, float]], variants: List[str],
                    seeds: List[int], iterations: List[int], keys) -> Dict:
    """Mean and std over seeds per variant, iteration and key.

    Args:
        points (dict): ``(variant, seed, iteration)`` -> metrics.

    Returns:
        dict: variant -> iteration -> key -> (mean, std).
    """
    return {
        variant: {
            it:
            aggregate({(variant, s): points[variant, s, it]
                       for s in seeds}, [variant], seeds, keys)[variant]
            for it in iterations
        }
        for variant in variants
    }


def training_losses(args: argparse.Namespace, max_iters: int, variant: str,
                    keys: Sequence[str]) -> Dict[str, Dict[int, float]]:
    """Training losses per logged iteration, averaged over the seeds.

    Returns:
        dict: key -> {iteration: mean}; empty for a loss the variant does
        not train.
    """
    analyze_logs = _import_tool(
        osp.dirname(osp.abspath(__file__)), 'analyze_logs')
    per_seed = [  # each run's logs read once for all keys
        analyze_logs.load_curves(
            analyze_logs.find_scalar_files(
                _work_dir(args, max_iters, variant, seed)))[0]
        for seed in args.seeds
    ]
    out = {}
    for key in keys:
        curves = [train.get(key, {}) for train in per_seed]
        steps = sorted(set.intersection(*(set(c) for c in curves)))
        out[key] = {
            st: float(np.mean([c[st] for c in curves]))
            for st in steps
        }
    return out


def plot_learning_curves(
        args: argparse.Namespace,
        max_iters: int,
        curves: Dict,
        keys,
        out: str,
        references: Optional[Dict[str, Dict[str, float]]] = None) -> str:
    """Draw the learning curves.

    One panel per metric (mean ± std band over seeds per variant, with
    ``references[key]``, e.g. the chance level, as dashed lines) and one per
    training loss of ``TRAINING_LOSSES`` (mean over seeds; a variant that
    does not train a loss has no line in its panel).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    references = references or {}
    colors = [f'C{i}' for i in range(len(curves))]  # one per variant
    panels = len(keys) + len(TRAINING_LOSSES)
    rows = -(-panels // CURVE_COLUMNS)
    fig, axes = plt.subplots(
        rows, CURVE_COLUMNS, figsize=(3.8 * CURVE_COLUMNS, 3.2 * rows))
    axes = axes.ravel()
    for ax, (key, name, _) in zip(axes, keys):
        for color, (variant, per_iter) in zip(colors, curves.items()):
            its = list(per_iter)
            mean = np.array([per_iter[i][key][0] for i in its])
            std = np.array([per_iter[i][key][1] for i in its])
            ax.plot(its, mean, marker='o', label=variant, color=color)
            ax.fill_between(
                its, mean - std, mean + std, alpha=0.2, color=color)
        for ref_name, value in references.get(key, {}).items():
            ax.axhline(value, ls='--', lw=1, color='grey')
            ax.annotate(
                ref_name, (0.01, value),
                xycoords=('axes fraction', 'data'),
                fontsize=7,
                color='grey',
                va='bottom')
        ax.set_title(f'test {name}')
    losses = {
        variant: training_losses(args, max_iters, variant, TRAINING_LOSSES)
        for variant in curves
    }
    for ax, loss_key in zip(axes[len(keys):], TRAINING_LOSSES):
        for color, variant in zip(colors, curves):
            loss = losses[variant][loss_key]
            if loss:
                ax.plot(list(loss), list(loss.values()), color=color)
        ax.set_yscale('log')
        ax.set_title(f'training {loss_key} (mean of seeds)')
    for ax in axes[:panels]:
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
    for ax in axes[panels:]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    fig.suptitle(f'rule {args.rule}: {len(args.seeds)} seeds x {max_iters} '
                 f'iterations, {args.num_test} test images (mean ± std)')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def _pose_baselines(args: argparse.Namespace) -> Dict[str, float]:
    """JAE of the pose baselines on the ablation's test split."""
    sys.path.insert(0, ROOT)
    from posesor.evaluation.baselines import score_pose_baselines
    root = args.data_root.rstrip('/')
    return score_pose_baselines(
        osp.join(root, 'synthetic_train.json'),
        osp.join(root, 'synthetic_test.json'))


def _import_tool(folder: str, name: str):
    """The script ``folder/name.py`` as a module."""
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def _import_demo():
    """tools/demo.py as a module."""
    return _import_tool(osp.join(ROOT, 'tools'), 'demo')


def prepare_data(args: argparse.Namespace) -> None:
    """Generate the ablation's dataset once, before the parallel runs."""
    demo_args, _ = _demo_args(args, REFERENCE)
    demo = _import_demo()
    demo.ensure_dataset(demo.parse_args(demo_args), args.rule)


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    prepare_data(args)
    jobs = max(1, args.jobs)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    results, markdown = {}, []
    # what JAE a pose branch that only finds people scores
    pose_baselines = _pose_baselines(args) if args.jae else None
    for max_iters in args.max_iters:
        tasks = [(v, s) for s in args.seeds for v in args.variants]
        runs = {}
        # trained variants first: the test-only ones score their checkpoints
        for stage in (False, True):
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = {
                    task:
                    pool.submit(run_one, task[0], task[1], max_iters, args,
                                threads)
                    for task in tasks if (task[0] in TEST_ONLY) == stage
                }
                runs.update({
                    task: future.result()
                    for task, future in futures.items()
                })
        keys = _keys(runs)
        result = dict(
            runs={
                f'{v}/seed{s}': m
                for (v, s), m in runs.items()
            },
            mean_std=aggregate(runs, args.variants, args.seeds, keys),
            paired=paired_tests(runs, args.variants, args.seeds, keys))
        if _has_curve(args, max_iters):
            iterations = curve_iterations(max_iters, args.curve_interval)
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                futures = {
                    (v, s, it):
                    pool.submit(score_checkpoint, v, s, max_iters, it, args,
                                threads)
                    for v, s in tasks if v not in TEST_ONLY
                    for it in iterations[:-1]
                }
                points = {p: f.result() for p, f in futures.items()}
            points.update({
                (v, s, max_iters): m
                for (v, s), m in runs.items() if v not in TEST_ONLY
            })
            trained = [v for v in args.variants if v not in TEST_ONLY]
            result['curves'] = learning_curves(points, trained, args.seeds,
                                               iterations, keys)
            chance = runs[REFERENCE, args.seeds[0]].get('pose_order_chance')
            references = {'jae': pose_baselines or {}}
            if chance is not None:
                references['pose_order_accuracy'] = {'chance': chance}
            plot_learning_curves(
                args, max_iters, result['curves'], keys,
                osp.join(args.out_dir, f'learning_curves_{max_iters}.png'),
                references)
        if args.diagnose:
            diagnoses = {
                task: diagnose(task[0], task[1], max_iters, args)
                for task in tasks
            }
            result['diagnosis'] = aggregate(diagnoses, args.variants,
                                            args.seeds, DIAGNOSIS)
        results[str(max_iters)] = result
        markdown.append(to_markdown(args, max_iters, result, keys))
    if pose_baselines is not None:
        markdown.append('JAE of poses that know only where each person is '
                        '(GT masks; posesor/evaluation/baselines.py): ' +
                        ', '.join(f'{name} {value:.3f}'
                                  for name, value in pose_baselines.items()))
    text = '\n\n'.join(markdown)
    with open(osp.join(args.out_dir, f'{args.report}.md'), 'w') as f:
        f.write(text + '\n')
    with open(osp.join(args.out_dir, f'{args.report}.json'), 'w') as f:
        json.dump(
            dict(
                rule=args.rule,
                seeds=args.seeds,
                num_train=args.num_train,
                num_test=args.num_test,
                budgets=results,
                pose_baselines=pose_baselines),
            f,
            indent=2)
    print(text)
    return results


if __name__ == '__main__':
    main()
