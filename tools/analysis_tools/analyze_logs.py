# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Plot loss and metric curves of a work dir to a PNG.

Example::

    python tools/analysis_tools/analyze_logs.py work_dirs/posesor_swinl_assr \\
        --out curves.png
    python tools/analysis_tools/analyze_logs.py WORK_DIR --keys loss lr

Reads every ``TIMESTAMP/vis_data/scalars.json`` of the work dir (mmengine's
``LocalVisBackend`` log, one JSON object per line) in time order, so the
curves of a resumed run continue those of the killed one (a later run wins
where steps repeat). A path to one ``scalars.json`` is also accepted.
Training keys are plotted against the iteration, validation metrics against
the step they were computed at.
"""
import argparse
import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

#: Bookkeeping keys that are never plotted by default.
NON_CURVE_KEYS = frozenset(('iter', 'epoch', 'step', 'data_time', 'time',
                            'memory', 'eta', 'lr', 'base_lr'))

Curves = Dict[str, Dict[int, float]]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``analyze_logs.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Plot loss and metric curves of a work dir')
    parser.add_argument('path', help='work dir or a scalars.json file')
    parser.add_argument(
        '--keys',
        nargs='+',
        help='keys to plot (default: every loss and every metric)')
    parser.add_argument(
        '--out', default=None, help='PNG file (default: PATH/curves.png)')
    parser.add_argument('--title', default=None, help='figure title')
    return parser.parse_args(argv)


def find_scalar_files(path: str) -> List[str]:
    """The ``scalars.json`` files of a work dir, oldest run first.

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


def load_curves(files: List[str]) -> Tuple[Curves, Curves]:
    """Read training and validation scalars.

    Args:
        files (list[str]): ``scalars.json`` files, oldest first.

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
                    if isinstance(value, (int, float)):
                        target[key][int(step)] = float(value)
    return dict(train), dict(val)


def plot_curves(train: Curves,
                val: Curves,
                out_file: str,
                keys: Optional[List[str]] = None,
                title: Optional[str] = None) -> List[str]:
    """Plot curves to a PNG.

    Args:
        train (dict): Training curves ``{key: {iter: value}}``.
        val (dict): Validation curves ``{key: {step: value}}``.
        out_file (str): PNG path.
        keys (list[str], optional): Keys to plot; default every training
            key with ``loss`` in its name and every validation metric.
        title (str, optional): Figure title.

    Returns:
        list[str]: The keys plotted.
    """
    if keys is None:
        train_keys = sorted(k for k in train if 'loss' in k)
        val_keys = sorted(k for k in val
                          if k not in NON_CURVE_KEYS and 'time' not in k)
    else:
        missing = [k for k in keys if k not in train and k not in val]
        if missing:
            raise KeyError(f'keys not in the logs: {missing}; available: '
                           f'{sorted(set(train) | set(val))}')
        train_keys = [k for k in keys if k in train]
        val_keys = [k for k in keys if k in val and k not in train]
    panels = [(train, train_keys, 'iteration', 'training'),
              (val, val_keys, 'iteration', 'validation')]
    panels = [p for p in panels if p[1]]
    if not panels:
        raise ValueError('nothing to plot: no loss or metric in the logs')
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(8, 4 * len(panels)), squeeze=False)
    for ax, (curves, names, xlabel, label) in zip(axes[:, 0], panels):
        for name in names:
            steps = sorted(curves[name])
            ax.plot(
                steps, [curves[name][s] for s in steps],
                marker='o' if len(steps) < 20 else None,
                label=name)
        ax.set_xlabel(xlabel)
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize='small')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return train_keys + val_keys


def main(argv: Optional[List[str]] = None) -> List[str]:
    """Entry point of ``analyze_logs.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        list[str]: The keys plotted.
    """
    args = parse_args(argv)
    files = find_scalar_files(args.path)
    train, val = load_curves(files)
    out = args.out
    if out is None:
        folder = args.path if osp.isdir(args.path) else osp.dirname(args.path)
        out = osp.join(folder, 'curves.png')
    plotted = plot_curves(train, val, out, args.keys, args.title)
    print(f'plotted {", ".join(plotted)} from {len(files)} log file(s) '
          f'to {out}')
    return plotted


if __name__ == '__main__':
    main()
