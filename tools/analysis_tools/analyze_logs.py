# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Plot the curves of training runs, or time them (mmdet's interface).

Examples::

    # the default picture: total loss, loss groups (log axis), one panel
    # per validation metric, all over iterations
    python tools/analysis_tools/analyze_logs.py plot_curve \\
        work_dirs/posesor_swinl_assr --out curves.png
    python tools/analysis_tools/analyze_logs.py plot_curve \\
        WORK_DIR/TIMESTAMP/vis_data/scalars.json --keys loss sor/sa_sor
    python tools/analysis_tools/analyze_logs.py cal_train_time WORK_DIR

As mmdet's ``analyze_logs.py``, ``plot_curve`` and ``cal_train_time`` take
one or more ``scalars.json`` logs (mmengine's ``LocalVisBackend``, one JSON
object per line); a work dir stands for all its ``*/vis_data/scalars.json``
in time order, so a resumed run continues the killed one (the later run
wins where iterations repeat). Several logs given as arguments are drawn as
separate runs (``--legend`` names them). Training lines are the ones with a
learning rate; the others are validation results, whose step is the
iteration they were computed at. The loss groups sum PoseSOR's terms by
what they supervise: mask (mask, dice, refined mask/dice, partition),
box (bbox, giou), objectness, rank and pose (joints, joint visibility,
heatmap). Counts
(``*_count``, ``*_nan``,
``num_*``) are left out of the default picture; ask for them with
``--keys``. Without a subcommand, ``plot_curve`` is assumed.
"""
import argparse
import glob
import json
import math
import os.path as osp
import re
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib
import numpy as np

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

#: Bookkeeping keys that are never plotted by default.
NON_CURVE_KEYS = frozenset(('iter', 'epoch', 'step', 'data_time', 'time',
                            'memory', 'eta', 'lr', 'base_lr'))

#: Validation keys that are counts, not metrics (left out by default).
COUNT_KEY = re.compile(r'(_count|_nan)$|(^|/)num_')

#: Decoder-layer prefix of auxiliary losses (``d0.loss_mask``).
LAYER_PREFIX = re.compile(r'^d\d+\.')

#: PoseSOR's loss terms by what they supervise (first match wins); a loss
#: that matches none is its own group.
LOSS_GROUPS = (
    ('mask', re.compile(r'mask|dice|partition')),  # + refined, partition
    ('box', re.compile(r'bbox|giou')),
    ('objectness', re.compile(r'obj')),
    ('rank', re.compile(r'rank')),
    ('pose', re.compile(r'joint|heatmap')),  # joints, visibility, heatmap
)

#: Panels per row of the default picture.
COLUMNS = 3

Curves = Dict[str, Dict[int, float]]
Run = Tuple[Curves, Curves]


def find_scalar_files(path: str) -> List[str]:
    """The ``scalars.json`` files a path stands for, oldest run first.

    Args:
        path (str): Work dir or one ``scalars.json``.

    Returns:
        list[str]: Files (timestamp folders sort chronologically).
    """
    if osp.isfile(path):
        return [path]
    files = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'no */vis_data/scalars.json under {path}; is it a work dir?')
    return files


def load_curves(files: Sequence[str]) -> Run:
    """Read training and validation scalars.

    Args:
        files (Sequence[str]): ``scalars.json`` files, oldest first.

    Returns:
        tuple[dict, dict]: ``train`` and ``val`` curves, each
        ``{key: {step: value}}``. Lines with ``lr`` are training lines.
    """
    train: Curves = defaultdict(dict)
    val: Curves = defaultdict(dict)
    for file in files:
        with open(file) as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f'{file}:{lineno}: not JSON: {err}')
                is_train = any(k == 'lr' or k.endswith('_lr') for k in record)
                step = record.get('step', record.get('iter'))
                if step is None:
                    continue
                target = train if is_train else val
                for key, value in record.items():
                    if key in ('iter', 'step', 'epoch'):
                        continue
                    if isinstance(value, (int, float)) and \
                            not isinstance(value, bool):
                        target[key][int(step)] = float(value)
    return dict(train), dict(val)


def loss_group(key: str) -> str:
    """The group of a loss term (see :data:`LOSS_GROUPS`)."""
    kind = LAYER_PREFIX.sub('', key)
    for group, pattern in LOSS_GROUPS:
        if pattern.search(kind):
            return group
    return kind


def loss_groups(train: Curves) -> Dict[str, Dict[int, float]]:
    """Sum the loss terms of each group, over decoder layers too.

    Args:
        train (dict): Training curves.

    Returns:
        dict: ``{group: {iter: summed value}}`` without the total ``loss``.
    """
    groups: Dict[str, Dict[int, float]] = defaultdict(dict)
    for key, curve in train.items():
        if 'loss' not in key or key == 'loss':
            continue
        kind = loss_group(key)
        for step, value in curve.items():
            groups[kind][step] = groups[kind].get(step, 0.0) + value
    return dict(groups)


def metric_keys(val: Curves) -> List[str]:
    """Validation keys that are metrics (not counts or timings)."""
    return sorted(k for k in val if k not in NON_CURVE_KEYS and 'time' not in k
                  and not COUNT_KEY.search(k))


def _draw(ax, curve: Dict[int, float], label: Optional[str]) -> None:
    """One curve over iterations (markers when there are few points)."""
    steps = sorted(curve)
    ax.plot(
        steps, [curve[s] for s in steps],
        marker='o' if len(steps) < 20 else None,
        markersize=4,
        label=label)


def plot_curve(runs: Sequence[Run],
               out_file: str,
               keys: Optional[List[str]] = None,
               legend: Optional[List[str]] = None,
               title: Optional[str] = None,
               style: str = 'default') -> List[str]:
    """Plot the curves of one or more runs to a PNG.

    Args:
        runs (Sequence[tuple]): ``(train, val)`` curves per run.
        out_file (str): PNG path.
        keys (list[str], optional): One panel per key. Default: the total
            ``loss``, the loss groups on a log axis, then one panel per
            validation metric.
        legend (list[str], optional): A name per run.
        title (str, optional): Figure title.
        style (str): A matplotlib style. Defaults to ``'default'``.

    Returns:
        list[str]: The keys drawn (loss groups by their kind), in order.
    """
    if legend is not None and len(legend) != len(runs):
        raise ValueError(f'--legend has {len(legend)} names for '
                         f'{len(runs)} logs')
    names = legend or ([None] if len(runs) == 1 else
                       [f'run {i}' for i in range(len(runs))])
    panels = []  # (title, [(run name, curve)], log scale)
    if keys is None:
        if any('loss' in train for train, _ in runs):
            panels.append(('loss', [(n, train['loss'])
                                    for n, (train, _) in zip(names, runs)
                                    if 'loss' in train], False))
        groups = [loss_groups(train) for train, _ in runs]
        grouped = [(f'{kind}' + (f' ({n})' if n else ''), g[kind])
                   for n, g in zip(names, groups) for kind in sorted(g)]
        kinds = sorted({kind for g in groups for kind in g})
        if grouped:
            panels.append(
                ('loss groups (sum of their terms, log scale)', grouped, True))
        metrics = sorted({k for _, val in runs for k in metric_keys(val)})
        for key in metrics:
            panels.append((key, [(n, val[key])
                                 for n, (_, val) in zip(names, runs)
                                 if key in val], False))
    else:
        available = set()
        for train, val in runs:
            available |= set(train) | set(val)
        missing = [k for k in keys if k not in available]
        if missing:
            raise KeyError(f'keys not in the logs: {missing}; available: '
                           f'{sorted(available)}')
        for key in keys:
            panels.append((key, [(n, train[key] if key in train else val[key])
                                 for n, (train, val) in zip(names, runs)
                                 if key in train or key in val], False))
    if not panels:
        raise ValueError('nothing to plot: no loss or metric in the logs')

    columns = min(COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    with plt.style.context(style):
        fig, axes = plt.subplots(
            rows, columns, figsize=(5.5 * columns, 3.8 * rows), squeeze=False)
        last = max((max(c) for _, curves, _ in panels for _, c in curves if c),
                   default=1)
        for ax, (name, curves, log_scale) in zip(axes.flat, panels):
            for label, curve in curves:
                _draw(ax, curve, label)
            ax.set_xlim(0, last * 1.02)  # the same iterations everywhere
            if log_scale:
                ax.set_yscale('log')
            ax.set_title(name)
            ax.set_xlabel('iteration')
            ax.grid(True, which='both', alpha=0.3)
            if any(label for label, _ in curves):
                ax.legend(fontsize='x-small', ncol=2)
        for ax in list(axes.flat)[len(panels):]:
            ax.axis('off')
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(out_file, dpi=100)
        plt.close(fig)
    drawn = []
    for name, _, log_scale in panels:
        drawn += kinds if log_scale else [name]
    return drawn


def cal_train_time(runs: Sequence[Run],
                   names: Sequence[str],
                   include_outliers: bool = False) -> List[dict]:
    """Average time per training iteration of each run.

    mmengine logs the mean iteration time of every logging window; the
    first window (warm-up, data loader start) is left out unless
    ``include_outliers``.

    Args:
        runs (Sequence[tuple]): ``(train, val)`` curves per run.
        names (Sequence[str]): Log names, for the printout.
        include_outliers (bool): Keep the first window.

    Returns:
        list[dict]: Per run ``mean``, ``std``, ``slowest`` and
        ``fastest`` (``(iteration, seconds)``), seconds per iteration.
    """
    stats = []
    for name, (train, _) in zip(names, runs):
        times = train.get('time')
        if not times:
            raise KeyError(f'{name}: no iteration times in the log')
        steps = sorted(times)
        if not include_outliers and len(steps) > 1:
            steps = steps[1:]
        values = np.array([times[s] for s in steps])
        slow, fast = int(values.argmax()), int(values.argmin())
        stat = dict(
            mean=float(values.mean()),
            std=float(values.std()),
            slowest=(steps[slow], float(values[slow])),
            fastest=(steps[fast], float(values[fast])))
        print(f'{"-" * 5}Analyze train time of {name}{"-" * 5}')
        print(f'slowest window ends at iteration {stat["slowest"][0]}, '
              f'average time is {stat["slowest"][1]:.4f} s/iter')
        print(f'fastest window ends at iteration {stat["fastest"][0]}, '
              f'average time is {stat["fastest"][1]:.4f} s/iter')
        print(f'time std over windows is {stat["std"]:.4f}')
        print(f'average iter time: {stat["mean"]:.4f} s/iter\n')
        stats.append(stat)
    return stats


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line (mmdet's ``analyze_logs.py`` options).

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(description='Analyze JSON logs')
    subparsers = parser.add_subparsers(dest='task', required=True)
    plot = subparsers.add_parser('plot_curve', help='plot curves to a PNG')
    plot.add_argument(
        'json_logs', nargs='+', help='scalars.json logs or work dirs')
    plot.add_argument(
        '--keys',
        nargs='+',
        help='one panel per key (default: total loss, loss groups, every '
        'validation metric)')
    plot.add_argument('--title', help='figure title')
    plot.add_argument('--legend', nargs='+', help='a name per log')
    plot.add_argument(
        '--backend', default=None, help='matplotlib backend (default Agg)')
    plot.add_argument('--style', default='default', help='matplotlib style')
    plot.add_argument(
        '--out',
        default=None,
        help='PNG file (default: curves.png beside the first log)')
    timing = subparsers.add_parser(
        'cal_train_time', help='average time per training iteration')
    timing.add_argument(
        'json_logs', nargs='+', help='scalars.json logs or work dirs')
    timing.add_argument(
        '--include-outliers',
        action='store_true',
        help='include the first logging window')
    argv = list(argv) if argv is not None else None
    import sys
    raw = argv if argv is not None else sys.argv[1:]
    if raw and raw[0] not in ('plot_curve', 'cal_train_time', '-h', '--help'):
        raw = ['plot_curve'] + raw  # the short form: plot_curve by default
    return parser.parse_args(raw)


def main(argv: Optional[List[str]] = None):
    """Entry point of ``analyze_logs.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        list[str] | list[dict]: The panels plotted (``plot_curve``) or the
        timing statistics (``cal_train_time``).
    """
    args = parse_args(argv)
    runs = [load_curves(find_scalar_files(p)) for p in args.json_logs]
    if args.task == 'cal_train_time':
        return cal_train_time(runs, args.json_logs, args.include_outliers)
    if args.backend:
        plt.switch_backend(args.backend)
    out = args.out
    if out is None:
        first = args.json_logs[0]
        out = osp.join(
            first if osp.isdir(first) else osp.dirname(first), 'curves.png')
    plotted = plot_curve(runs, out, args.keys, args.legend, args.title,
                         args.style)
    print(f'plotted {", ".join(plotted)} from {len(runs)} log(s) to {out}')
    return plotted


if __name__ == '__main__':
    main()
