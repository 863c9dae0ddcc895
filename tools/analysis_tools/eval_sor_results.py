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

Images of the annotation file without an entry in the results count as
"no prediction" (as the reference's ``misc/evaluate_instances.py`` does).

Example::

    python tools/analysis_tools/eval_sor_results.py \\
        work_dirs/posesor/test.sor_results.json data/assr/assr_test.json \\
        --metric sa_sor sor mae --convention posesor irsr assr
"""
import argparse
import json
import os.path as osp
import pickle
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.utils import ProgressBar

from posesor.datasets.sor_parsing import image_name
from posesor.evaluation.functional import CONVENTIONS, METRICS
from posesor.evaluation.metrics.sor_metric import (RESULT_FORMAT, SORMetric,
                                                   decode_masks)

#: Number of coordinates per reference joint: x, y (normalised), visibility.
REF_JOINT_DIMS = 3


class ResultFileError(ValueError):
    """A result file cannot be read (names the file and the entry)."""


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
        choices=CONVENTIONS,
        help='conventions; each metric uses those it supports')
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
        '--out', help='write the metric values to this JSON file')
    return parser.parse_args(argv)


def _load_pth(path: str) -> Any:
    """``torch.load`` restricted to tensors, numpy arrays and containers."""
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise ResultFileError(
            f'refusing to read {path!r}: it holds pickled objects other '
            f'than tensors, numpy arrays and plain containers, and '
            f'unpickling them could execute code ({err}). Convert it to '
            f'plain data (dict of image name -> {{"masks": [RLE, ...]}}) '
            f'first.') from err


def _as_list(x: Any) -> list:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().tolist()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return list(x)


def load_result_entries(path: str) -> Tuple[str, List[dict]]:
    """Read a result file into a list of per-image entries.

    Args:
        path (str): ``.json`` (SORMetric) or ``.pth`` (reference) file.

    Returns:
        tuple[str, list[dict]]: The key kind (``'img_id'`` or
        ``'image_name'``) and entries holding that key, ``masks`` (RLE
        list) and optionally ``keypoints`` (pixels; for ``.pth`` the
        normalised ``joints``, stored as ``joints``).

    Raises:
        ResultFileError: If the file is missing or malformed.
    """
    if not osp.isfile(path):
        raise ResultFileError(f'result file {path!r} does not exist')
    if path.endswith('.json'):
        try:
            with open(path, 'r', encoding='utf-8') as f:
                data = json.load(f)
        except json.JSONDecodeError as err:
            raise ResultFileError(
                f'result file {path!r} is not valid JSON: {err}') from err
        if not isinstance(data, dict) or data.get(
                'format') != RESULT_FORMAT or not isinstance(
                    data.get('results'), list):
            raise ResultFileError(
                f'result file {path!r} is not a SORMetric dump (expected '
                f'"format": "{RESULT_FORMAT}" and a "results" list)')
        for k, entry in enumerate(data['results']):
            if 'img_id' not in entry or 'masks' not in entry:
                raise ResultFileError(
                    f'result file {path!r}: results[{k}] misses "img_id" '
                    f'or "masks"')
        return 'img_id', data['results']
    data = _load_pth(path)
    if not isinstance(data, dict):
        raise ResultFileError(
            f'result file {path!r}: expected a dict of image name -> '
            f'result, got {type(data).__name__}')
    entries = []
    for name, value in data.items():
        if not isinstance(value, dict) or 'masks' not in value:
            raise ResultFileError(
                f'result file {path!r}: entry {name!r} has no "masks"')
        entry = dict(image_name=str(name), masks=list(value['masks']))
        joints = value.get('joints')
        if joints is not None and len(joints):
            entry['joints'] = _as_list(joints)
        entries.append(entry)
    return 'image_name', entries


def _sample_from_entry(entry: Optional[dict], img_id: Any, height: int,
                       width: int, path: str) -> dict:
    """Build the data-sample dict that :class:`SORMetric` consumes."""
    if entry is None:
        return dict(
            img_id=img_id,
            pred_instances=dict(masks=np.zeros((0, height, width), bool)))
    try:
        masks = decode_masks(entry['masks'], height, width)
    except (ValueError, KeyError, TypeError) as err:
        raise ResultFileError(f'result file {path!r}, image id {img_id!r}: '
                              f'bad masks ({err})') from err
    pred: Dict[str, Any] = dict(masks=masks)
    if 'keypoints' in entry:
        pred['keypoints'] = np.asarray(
            entry['keypoints'], dtype=np.float64).reshape(-1, 17, 2)
    elif 'joints' in entry:
        joints = np.asarray(entry['joints'], dtype=np.float64)
        joints = joints.reshape(-1, 17, REF_JOINT_DIMS)[..., :2]
        pred['keypoints'] = joints * np.array([width, height])
    if 'keypoints' in pred and len(pred['keypoints']) != len(masks):
        raise ResultFileError(
            f'result file {path!r}, image id {img_id!r}: '
            f'{len(pred["keypoints"])} keypoint sets for {len(masks)} masks')
    return dict(img_id=img_id, pred_instances=pred)


def evaluate_file(results: str,
                  ann_file: str,
                  metric: Sequence[str] = ('sa_sor', 'sor', 'mae'),
                  convention: Any = 'posesor',
                  rank_key: str = 'category_id',
                  polygon_backend: str = 'cv2',
                  keep_unranked: bool = False,
                  progress: bool = True) -> Dict[str, float]:
    """Score a result file against an annotation file.

    Args:
        results (str): Result file (``.json`` or reference ``.pth``).
        ann_file (str): SOR annotation JSON.
        metric, convention, rank_key, polygon_backend, keep_unranked: As
            in :class:`~posesor.evaluation.SORMetric`.
        progress (bool): Show a progress bar.

    Returns:
        dict[str, float]: The metrics of :meth:`SORMetric.summarize` plus
        ``num_images_missing`` (no entry in the results: scored as no
        prediction) and ``num_results_unknown`` (entries for images that
        are not in the annotation file: ignored).
    """
    metric_obj = SORMetric(
        ann_file=ann_file,
        metric=list(metric),
        convention=convention,
        rank_key=rank_key,
        keep_unranked=keep_unranked,
        polygon_backend=polygon_backend)
    key_kind, entries = load_result_entries(results)
    gt = metric_obj.gt
    if key_kind == 'img_id':
        index = {entry['img_id']: entry for entry in entries}
        known = set(gt.keys())
    else:
        index = {entry['image_name']: entry for entry in entries}
        known = {image_name(g['image']['file_name']) for g in gt.values()}
    num_unknown = sum(1 for key in index if key not in known)
    per_image = []
    num_missing = 0
    bar = ProgressBar(len(gt)) if progress else None
    for img_id, group in gt.items():
        img = group['image']
        key = img_id if key_kind == 'img_id' else image_name(img['file_name'])
        entry = index.get(key)
        num_missing += entry is None
        sample = _sample_from_entry(entry, img_id, int(img['height']),
                                    int(img['width']), results)
        per_image.append(metric_obj.process_sample(sample))
        if bar is not None:
            bar.update()
    if bar is not None:
        sys.stdout.write('\n')
    out = metric_obj.summarize(per_image)
    out['num_images_missing'] = num_missing
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
        keep_unranked=args.keep_unranked)
    print(f'{out["num_images_missing"]} annotated images had no result '
          f'(scored as no prediction); {out["num_results_unknown"]} results '
          f'were for unknown images (ignored)')
    for key, value in out.items():
        print(f'{key}: {value}')
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == '__main__':
    main()
