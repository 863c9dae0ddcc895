# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Score saved SOR predictions against an annotation file, without a model.

Two result formats are read:

* ``*.sor_results.json`` written by ``SORMetric(outfile_prefix=...)``:
  per image ``img_id``, RLE ``masks`` in predicted rank order and,
  optionally, ``keypoints`` (pixels), ``rank_scores``, ``scores``, ...
* ``*_coco_format.pth`` dumps of the PoseSOR reference implementation: a
  dict ``image name -> {"masks": [RLE, ...], "joints": ..., ...}`` with
  masks in rank order and joints normalised to [0, 1]. These files are
  read with ``torch.load(weights_only=True)`` (tensors, numpy arrays and
  plain containers only); a file holding any other pickled object is
  refused.

Images of the annotation file without an entry in the results follow the
rule of ``SORMetric`` (and so of ``tools/test.py``): by default they count
as "no prediction" (as the reference's ``misc/evaluate_instances.py``
does), with ``--missing skip`` they are left out; their number is printed
either way. A result file with two entries for one image is refused,
naming the image. Files are read through mmengine's file backends
(``--backend-args``, a JSON dict such as ``'{"backend": "local"}'``).

With ``--convention all`` (or several conventions) the metrics of every
convention are printed side by side, with the images used and excluded
per metric and the thresholds applied
(:func:`posesor.evaluation.format_convention_table`).

Example::

    python tools/analysis_tools/eval_sor_results.py \\
        work_dirs/posesor/test.sor_results.json data/assr/assr_test.json \\
        --metric sa_sor sor mae --convention all
"""
import argparse
import json
import sys
from typing import Any, Dict, Optional, Sequence

from mmengine import fileio
from mmengine.utils import ProgressBar

from posesor.evaluation.convention_table import format_convention_table
from posesor.evaluation.functional import (ALL_CONVENTIONS, CONVENTIONS,
                                           METRICS, normalize_conventions)
from posesor.evaluation.metrics.sor_metric import MISSING_POLICIES, SORMetric
from posesor.evaluation.result_file import (ResultFileError, iter_samples,
                                            load_result_entries,
                                            read_result_samples)

__all__ = [
    'ResultFileError', 'evaluate_file', 'load_result_entries', 'main',
    'parse_args'
]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Evaluate saved SOR predictions (SORMetric JSON dumps '
        'or the reference *_coco_format.pth dumps) against an annotation '
        'file.')
    parser.add_argument('results', help='*.sor_results.json or *.pth file')
    parser.add_argument('ann_file', help='SOR annotation JSON (COCO style)')
    parser.add_argument(
        '--metric',
        nargs='+',
        default=['sa_sor', 'sor', 'mae'],
        choices=METRICS,
        help='metrics to compute')
    parser.add_argument(
        '--convention',
        nargs='+',
        default=['posesor'],
        choices=CONVENTIONS + (ALL_CONVENTIONS, ),
        help='conventions (or "all"); each metric uses those it supports')
    parser.add_argument(
        '--rank-key',
        default='category_id',
        choices=['category_id', 'visiting_order'],
        help='annotation key holding the rank')
    parser.add_argument(
        '--polygon-backend',
        default='cv2',
        choices=['cv2', 'pycocotools'],
        help='rasteriser of GT polygons (cv2 = reference data loader)')
    parser.add_argument(
        '--keep-unranked',
        action='store_true',
        help='keep GT objects whose rank is 0/missing')
    parser.add_argument(
        '--missing',
        default='no_prediction',
        choices=MISSING_POLICIES,
        help='annotated images without a result: score them as "nothing '
        'detected" (default, as tools/test.py) or leave them out')
    parser.add_argument(
        '--backend-args',
        type=_json_dict,
        default=None,
        help='mmengine file backend arguments as a JSON dict, used for the '
        'result, annotation and --out files')
    parser.add_argument(
        '--out', help='write the metric values to this JSON file')
    return parser.parse_args(argv)


def _json_dict(text: str) -> dict:
    """argparse type of ``--backend-args``: a JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(
            f'--backend-args must be a JSON dict: {err}') from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f'--backend-args must be a JSON dict, got {text!r}')
    return value


def evaluate_file(results: str,
                  ann_file: str,
                  metric: Sequence[str] = ('sa_sor', 'sor', 'mae'),
                  convention: Any = 'posesor',
                  rank_key: str = 'category_id',
                  polygon_backend: str = 'cv2',
                  keep_unranked: bool = False,
                  missing: str = 'no_prediction',
                  backend_args: Optional[dict] = None,
                  progress: bool = True) -> Dict[str, float]:
    """Score a result file against an annotation file.

    Args:
        results (str): Result file (``.json`` or reference ``.pth``).
        ann_file (str): SOR annotation JSON.
        metric, convention, rank_key, polygon_backend, keep_unranked,
            missing, backend_args: As in
            :class:`~posesor.evaluation.SORMetric`.
        progress (bool): Show a progress bar.

    Returns:
        dict[str, float]: The metrics of :meth:`SORMetric.summarize`
        (including ``num_images_missing``: annotated images without an
        entry) plus ``num_results_unknown`` (entries for images that are
        not in the annotation file: ignored).

    Raises:
        ResultFileError: If the file cannot be read, an entry is malformed
            or an image has more than one entry.
    """
    metric_obj = SORMetric(
        ann_file=ann_file,
        metric=list(metric),
        convention=convention,
        rank_key=rank_key,
        keep_unranked=keep_unranked,
        polygon_backend=polygon_backend,
        missing=missing,
        backend_args=backend_args)
    known, num_unknown = read_result_samples(results, metric_obj, backend_args)
    per_image = []
    bar = ProgressBar(len(known)) if progress and known else None
    for sample in iter_samples(results, metric_obj, known):
        per_image.append(metric_obj.process_sample(sample))
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stdout.write('\n')
    out = metric_obj.summarize(per_image)
    out['num_results_unknown'] = num_unknown
    return out


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    out = evaluate_file(
        args.results,
        args.ann_file,
        metric=args.metric,
        convention=args.convention,
        rank_key=args.rank_key,
        polygon_backend=args.polygon_backend,
        keep_unranked=args.keep_unranked,
        missing=args.missing,
        backend_args=args.backend_args)
    rule = ('scored as no prediction'
            if args.missing == 'no_prediction' else 'left out')
    print(f'{out["num_images_missing"]} annotated images had no result '
          f'({rule}); {out["num_results_unknown"]} results were for unknown '
          f'images (ignored)')
    for key, value in out.items():
        print(f'{key}: {value}')
    pairs = normalize_conventions(args.metric, args.convention)
    if len({conv for _, conv in pairs}) > 1:
        print(format_convention_table(out, pairs, rule))
    if args.out:
        fileio.put_text(
            json.dumps(out, indent=2),
            args.out,
            backend_args=args.backend_args)
    return out


if __name__ == '__main__':
    main()
