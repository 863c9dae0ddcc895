# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Best and worst images of a result file by a per-image SOR metric.

Like mmdet's ``analyze_results.py``: every annotated image with a result
entry and ranked ground truth is scored (default SA-SOR, ``posesor``
convention), the ``--topk`` best and worst are drawn into
``OUT_DIR/best`` and ``OUT_DIR/worst`` as side-by-side panels (ground
truth left, prediction right, masks coloured by rank with rank numbers and
skeletons, drawn by :func:`posesor.visualization.draw.draw_sor_overlay`),
and all per-image values are written, sorted, to
``OUT_DIR/per_image.json``. Images where the metric is undefined (NaN,
e.g. a single ground-truth object for SA-SOR) are listed there but not
drawn.

Example::

    python tools/analysis_tools/analyze_sor_results.py \\
        work_dirs/posesor/test.sor_results.json data/assr/assr_test.json \\
        data/assr/images/test work_dirs/posesor/analysis --topk 10
"""
import argparse
import json
import math
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import cv2
import mmcv
import numpy as np
from mmengine import fileio

from posesor.evaluation import SORMetric
from posesor.evaluation.functional import METRICS
from posesor.evaluation.result_file import iter_samples, read_result_samples
from posesor.visualization.draw import draw_sor_overlay

#: Height of the caption strip above each panel, per 100 image rows.
CAPTION_FRACTION = 0.08
#: Smallest caption strip height in pixels.
MIN_CAPTION = 24
#: Caption text colour (RGB) on the dark strip.
CAPTION_COLOUR = (255, 255, 255)
#: Caption font, its pixel height at scale 1 (with room) and the margin.
CAPTION_FONT = cv2.FONT_HERSHEY_SIMPLEX
CAPTION_TEXT_HEIGHT = 40
CAPTION_MARGIN = 6


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw the best and worst images of a SOR result file')
    parser.add_argument('results', help='*.sor_results.json or *.pth file')
    parser.add_argument('ann_file', help='SOR annotation JSON')
    parser.add_argument(
        'img_dir', help='folder of the images (joined with file_name)')
    parser.add_argument('out_dir', help='folder for the panels')
    parser.add_argument(
        '--metric',
        default='sa_sor',
        choices=[m for m in METRICS if m != 'jae'],
        help='per-image metric that orders the images (posesor '
        'convention; for MAE lower is better)')
    parser.add_argument(
        '--topk',
        type=_positive,
        default=10,
        help='number of best and of worst images to draw')
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
        help='mmengine file backend arguments as a JSON dict (images, '
        'results, annotations and outputs)')
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
    return value


def score_images(metric: SORMetric, results: str,
                 backend_args: Optional[dict]) -> List[Dict[str, Any]]:
    """Per-image values of every annotated image with a result entry and
    ranked ground truth.

    Returns:
        list[dict]: ``img_id``, ``image_name`` and one value per metric.
    """
    known, _ = read_result_samples(results, metric, backend_args)
    rows = []
    for sample in iter_samples(results, metric, known):
        result = metric.process_sample(sample)
        if not result['values']:
            continue
        gt = metric.gt_entry(sample['img_id'])
        rows.append(
            dict(
                img_id=sample['img_id'],
                image_name=gt.image_name,
                **result['values']))
    return rows


def order_images(rows: List[Dict[str, Any]], key: str) -> List[Dict[str, Any]]:
    """Rows with a defined value, best first (MAE: lowest first)."""
    defined = [r for r in rows if not math.isnan(r[key])]
    return sorted(defined, key=lambda r: r[key], reverse=key != 'mae')


def _caption(panel: np.ndarray, text: str) -> np.ndarray:
    """Add a dark strip with ``text`` above an RGB panel."""
    height = max(MIN_CAPTION, int(panel.shape[0] * CAPTION_FRACTION))
    strip = np.zeros((height, panel.shape[1], 3), dtype=np.uint8)
    (text_width, _), _ = cv2.getTextSize(text, CAPTION_FONT, 1.0, 1)
    # as large as the strip allows, shrunk to fit the panel's width
    scale = min(height / CAPTION_TEXT_HEIGHT,
                (panel.shape[1] - 2 * CAPTION_MARGIN) / text_width)
    cv2.putText(strip, text, (CAPTION_MARGIN, int(height * 0.7)),
                CAPTION_FONT, scale, CAPTION_COLOUR,
                max(1, int(round(scale * 2))), cv2.LINE_AA)
    return np.concatenate([strip, panel], axis=0)


def draw_panel(metric: SORMetric, sample: dict, image: np.ndarray,
               row: Dict[str, Any], key: str) -> np.ndarray:
    """Ground truth (left) and prediction (right) of one image, RGB."""
    gt = metric.load_gt(sample['img_id'])
    pred = sample['pred_instances']
    left = draw_sor_overlay(
        image,
        gt['masks'],
        keypoints=gt['keypoints'],
        keypoints_visible=gt['keypoints_visible'])
    right = draw_sor_overlay(
        image, pred['masks'], keypoints=pred.get('keypoints'))
    left = _caption(left, f'ground truth: {len(gt["masks"])}')
    right = _caption(
        right, f'predicted: {len(pred["masks"])}, '
        f'{key} {row[key]:.3f}')
    gap = np.full((left.shape[0], 8, 3), 255, dtype=np.uint8)
    return np.concatenate([left, gap, right], axis=1)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, list]:
    args = parse_args(argv)
    metric = SORMetric(
        ann_file=args.ann_file,
        metric=[m for m in METRICS if m != 'jae'],
        rank_key=args.rank_key,
        polygon_backend=args.polygon_backend,
        backend_args=args.backend_args)
    rows = score_images(metric, args.results, args.backend_args)
    ordered = order_images(rows, args.metric)
    topk = min(args.topk, len(ordered))
    chosen = dict(best=ordered[:topk], worst=ordered[::-1][:topk])
    known, _ = read_result_samples(args.results, metric, args.backend_args)
    entries = dict(known)
    for group, group_rows in chosen.items():
        for position, row in enumerate(group_rows, 1):
            img_id = row['img_id']
            sample = next(
                iter_samples(args.results, metric,
                             [(img_id, entries[img_id])]))
            file_name = metric.gt[img_id]['image']['file_name']
            path = fileio.join_path(
                args.img_dir, file_name, backend_args=args.backend_args)
            try:
                image = mmcv.imfrombytes(
                    fileio.get(path, backend_args=args.backend_args),
                    channel_order='rgb')
            except (FileNotFoundError, OSError) as err:
                raise FileNotFoundError(
                    f'cannot read image {path!r} of image id {img_id!r}: '
                    f'{err}') from err
            if image is None:
                raise ValueError(f'image {path!r} of image id {img_id!r} '
                                 f'cannot be decoded')
            panel = draw_panel(metric, sample, image, row, args.metric)
            out = fileio.join_path(
                args.out_dir,
                group,
                f'{position:02d}_{osp.splitext(osp.basename(file_name))[0]}'
                f'.jpg',
                backend_args=args.backend_args)
            mmcv.imwrite(
                mmcv.rgb2bgr(panel), out, backend_args=args.backend_args)
    summary = dict(
        metric=args.metric,
        order='best first',
        undefined=[
            r['image_name'] for r in rows if math.isnan(r[args.metric])
        ],
        images=[{
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in r.items()
        } for r in ordered])
    fileio.put_text(
        json.dumps(summary, indent=1),
        fileio.join_path(
            args.out_dir, 'per_image.json', backend_args=args.backend_args),
        backend_args=args.backend_args)
    print(f'{len(rows)} images scored, {len(ordered)} with a defined '
          f'{args.metric}; {topk} best and worst drawn to {args.out_dir}')
    if ordered:
        print(f'best {ordered[0]["image_name"]} '
              f'({ordered[0][args.metric]:.4f}), worst '
              f'{ordered[-1]["image_name"]} '
              f'({ordered[-1][args.metric]:.4f})')
    return chosen


if __name__ == '__main__':
    main()
