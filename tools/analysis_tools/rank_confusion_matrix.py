# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Rank confusion matrix: ground-truth rank vs predicted rank.

Each ground-truth object is matched to a prediction as the ``posesor``
SA-SOR matches them (Hungarian on ``1 - IoU``, ``IoU > 0.5``); the matrix
counts, per ground-truth rank (rows), the position of the matched
prediction in the predicted order (columns), plus a "missed" column for
objects no prediction matched. Ranks above ``--max-rank`` share the last
row / column. The PNG shows row percentages with the counts.

Example::

    python tools/analysis_tools/rank_confusion_matrix.py \\
        work_dirs/posesor/test.sor_results.json data/assr/assr_test.json \\
        --out work_dirs/posesor/rank_confusion.png
"""
import argparse
import io
import json
from typing import Optional, Sequence

import matplotlib

matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from mmengine import fileio  # noqa: E402

from posesor.evaluation import SORMetric  # noqa: E402
from posesor.evaluation.analysis import RankConfusion  # noqa: E402
from posesor.evaluation.analysis import matched_pred_ranks  # noqa: E402
from posesor.evaluation.functional import to_binary_masks  # noqa: E402
from posesor.evaluation.result_file import iter_samples  # noqa: E402
from posesor.evaluation.result_file import read_result_samples  # noqa: E402

#: Figure size in inches per matrix cell.
CELL_INCHES = 1.1
#: Resolution of the saved PNG.
DPI = 120


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Ground-truth rank vs predicted rank of matched objects')
    parser.add_argument('results', help='*.sor_results.json or *.pth file')
    parser.add_argument('ann_file', help='SOR annotation JSON')
    parser.add_argument('--out', required=True, help='PNG to write')
    parser.add_argument(
        '--max-rank',
        type=_positive,
        default=5,
        help='ranks above this share the last row/column')
    parser.add_argument(
        '--rank-key',
        default='category_id',
        choices=['category_id', 'visiting_order'])
    parser.add_argument(
        '--polygon-backend', default='cv2', choices=['cv2', 'pycocotools'])
    parser.add_argument(
        '--backend-args',
        type=json.loads,
        default=None,
        help='mmengine file backend arguments as a JSON dict')
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
    return value


def confusion_from_file(results: str,
                        ann_file: str,
                        max_rank: int = 5,
                        rank_key: str = 'category_id',
                        polygon_backend: str = 'cv2',
                        backend_args: Optional[dict] = None) -> RankConfusion:
    """Accumulate the rank confusion of a result file.

    Images with ranked ground truth but without an entry count as "nothing
    detected" (all their objects missed), as in ``SORMetric``.

    Args:
        results (str): Result file (``.json`` or reference ``.pth``).
        ann_file (str): SOR annotation JSON.
        max_rank (int): See :class:`RankConfusion`.
        rank_key (str): Annotation key of the rank.
        polygon_backend (str): Rasteriser of GT polygons.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        RankConfusion: The counts.
    """
    metric = SORMetric(
        ann_file=ann_file,
        rank_key=rank_key,
        polygon_backend=polygon_backend,
        backend_args=backend_args)
    known, _ = read_result_samples(results, metric, backend_args)
    confusion = RankConfusion(max_rank)
    seen = set()
    for sample in iter_samples(results, metric, known):
        img_id = sample['img_id']
        seen.add(img_id)
        gt = metric.gt_entry(img_id)
        if not gt.num_gt:
            continue
        masks = to_binary_masks(
            sample['pred_instances']['masks'], shape=(gt.height, gt.width))
        confusion.update(
            matched_pred_ranks(metric.image_overlaps(img_id, masks)))
    for img_id in metric.gt:
        num_gt = metric.gt_entry(img_id).num_gt
        if img_id not in seen and num_gt:
            confusion.update(np.zeros(num_gt, dtype=np.int64))
    return confusion


def plot_confusion(confusion: RankConfusion, title: str) -> plt.Figure:
    """Heat map of row percentages, annotated with percent and count."""
    rates = confusion.normalized()
    labels = confusion.labels()
    rows, cols = rates.shape
    fig, ax = plt.subplots(
        figsize=(CELL_INCHES * cols + 2.0, CELL_INCHES * rows + 1.5))
    image = ax.imshow(rates * 100, cmap='Blues', vmin=0, vmax=100)
    ax.set_xticks(range(cols), labels + ['missed'])
    ax.set_yticks(range(rows), labels)
    ax.set_xlabel('predicted rank of the matched object')
    ax.set_ylabel('ground-truth rank')
    ax.set_title(title)
    for r in range(rows):
        for c in range(cols):
            colour = 'white' if rates[r, c] > 0.5 else 'black'
            ax.text(
                c,
                r,
                f'{rates[r, c] * 100:.0f}%\n{confusion.matrix[r, c]}',
                ha='center',
                va='center',
                color=colour,
                fontsize=9)
    ax.axvline(cols - 1.5, color='grey', linewidth=1)
    fig.colorbar(image, ax=ax, label='% of the ground-truth rank')
    fig.tight_layout()
    return fig


def main(argv: Optional[Sequence[str]] = None) -> RankConfusion:
    args = parse_args(argv)
    confusion = confusion_from_file(
        args.results,
        args.ann_file,
        max_rank=args.max_rank,
        rank_key=args.rank_key,
        polygon_backend=args.polygon_backend,
        backend_args=args.backend_args)
    exact = confusion.exact_rate()
    title = (f'{confusion.num_images} images, '
             f'{int(confusion.matrix.sum())} ground-truth objects')
    if exact is not None:
        title += f'\nexact rank (ranks 1-{args.max_rank - 1}): ' \
                 f'{exact * 100:.1f}%'
    fig = plot_confusion(confusion, title)
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', dpi=DPI)
    plt.close(fig)
    fileio.put(buffer.getvalue(), args.out, backend_args=args.backend_args)
    print('rows: ground-truth rank; columns: predicted rank, missed')
    print(confusion.matrix)
    print(f'written to {args.out}')
    return confusion


if __name__ == '__main__':
    main()
