# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Side-by-side table of SA-SOR / SOR / MAE under several conventions.

Built from the metric values of :meth:`SORMetric.summarize` (keys without
the ``sor/`` prefix), it shows for each convention the dataset value of
each metric with the images used and excluded, and the thresholds the
convention applies.
"""
from typing import Dict, List, Optional, Sequence, Tuple

from .functional import (ASSR_MAX_PRED_RANKS, ASSR_SEG_THRESHOLD,
                         CONVENTION_OPTIONS, CONVENTIONS, MATCH_IOU_THRESHOLD,
                         NAN_POLICY, PRED_FILTERS, metric_key)

#: Metrics of the table, in column order, and their headings.
TABLE_METRICS = (('sa_sor', 'SA-SOR'), ('sor', 'SOR'), ('mae', 'MAE'))
#: Decimals of the metric values.
DECIMALS = 4


def _kind_threshold(metric: str, convention: str) -> Optional[str]:
    """The threshold of one (metric, convention), in words."""
    options = CONVENTION_OPTIONS[(metric, convention)]
    kind = options['kind']
    name = dict(TABLE_METRICS)[metric]
    if kind in ('hungarian', 'first_hit'):
        return f'{name} IoU > {MATCH_IOU_THRESHOLD}'
    if kind == 'greedy':
        cut = ', scores cut to m' if options['cut_scores_to_gt'] else ''
        return f'{name} IoU >= {MATCH_IOU_THRESHOLD}{cut}'
    if kind == 'rank_map' and metric == 'sor':
        return f'{name} coverage > {ASSR_SEG_THRESHOLD}'
    return None


def convention_thresholds(convention: str, pairs: Sequence[Tuple[str, str]],
                          summary: Dict[str, float]) -> str:
    """Thresholds one convention applies to the chosen metrics.

    Args:
        convention (str): The convention.
        pairs (Sequence[tuple[str, str]]): Chosen (metric, convention)
            pairs.
        summary (dict): Values of :meth:`SORMetric.summarize`.

    Returns:
        str: E.g. ``'score > 0.7 (120 images); SA-SOR IoU >= 0.5'``.
    """
    parts: List[str] = []
    filt = PRED_FILTERS.get(convention)
    if filt is not None and filt.score_thr is not None:
        images = summary.get(f'{convention}_score_thr_images')
        where = '' if images is None else f' ({images} images)'
        parts.append(f'score > {filt.score_thr}{where}')
    if filt is not None and filt.max_preds is not None:
        parts.append(f'top {filt.max_preds}')
    for metric, _ in TABLE_METRICS:
        if (metric, convention) in pairs:
            text = _kind_threshold(metric, convention)
            if text:
                parts.append(text)
            options = CONVENTION_OPTIONS[(metric, convention)]
            if options.get('pred_map') == 'assr':
                parts.append(f'{dict(TABLE_METRICS)[metric]} top '
                             f'{ASSR_MAX_PRED_RANKS} painted')
    return '; '.join(parts) or '-'


def _cell(summary: Dict[str, float], metric: str, convention: str) -> str:
    key = metric_key(metric, convention)
    if key not in summary:
        return '-'
    count, nan = summary[f'{key}_count'], summary[f'{key}_nan']
    undefined = ('excl.' if NAN_POLICY[(metric,
                                        convention)] == 'skip' else 'as 0')
    return (f'{summary[key]:.{DECIMALS}f} ({count} used, {nan} '
            f'{undefined})')


def format_convention_table(
        summary: Dict[str, float],
        pairs: Sequence[Tuple[str, str]],
        missing_rule: str = 'scored as no prediction') -> str:
    """The metrics of every chosen convention side by side.

    Args:
        summary (dict): Values of :meth:`SORMetric.summarize` (keys without
            the ``sor/`` prefix).
        pairs (Sequence[tuple[str, str]]): The chosen (metric, convention)
            pairs; JAE is left out of the table.
        missing_rule (str): What happened to annotated images without a
            prediction (for the last line).

    Returns:
        str: A plain-text table: one row per convention (in the order of
        :data:`~posesor.evaluation.functional.CONVENTIONS`), one column per
        metric (value, images used, images where the metric is undefined:
        excluded from the mean, or counted as 0), the thresholds applied,
        then the images skipped by every metric.
    """
    chosen = {conv for metric, conv in pairs if metric in dict(TABLE_METRICS)}
    conventions = [conv for conv in CONVENTIONS if conv in chosen]
    header = ['convention'] + [name
                               for _, name in TABLE_METRICS] + ['thresholds']
    rows = [header]
    for conv in conventions:
        rows.append(
            [conv] +
            [_cell(summary, metric, conv) for metric, _ in TABLE_METRICS] +
            [convention_thresholds(conv, pairs, summary)])
    widths = [max(len(row[k]) for row in rows) for k in range(len(header))]
    lines = [
        ' | '.join(cell.ljust(width)
                   for cell, width in zip(row, widths)).rstrip()
        for row in rows
    ]
    lines.insert(1, '-+-'.join('-' * width for width in widths))
    lines.append(
        f'{summary.get("num_images", 0)} images; skipped by every metric: '
        f'{summary.get("num_images_without_gt", 0)} without a ranked GT '
        f'object; {summary.get("num_images_missing", 0)} annotated images '
        f'without a prediction ({missing_rule})')
    return '\n'.join(lines)
