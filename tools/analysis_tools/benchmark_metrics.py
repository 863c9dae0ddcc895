# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Time ``SORMetric`` against the PoseSOR reference's evaluator.

The reference is ``evaluation/metrics.py`` of
``github:guanhuankang/ECCV24PoseSOR`` (its ``Metrics`` class, which
produced the paper's numbers); pass the folder of a checkout with
``--reference`` (the file is imported and run from there, never copied).

A test set of ``--num-images`` images is generated at a fixed shape
(default: the ASSR test set, 2418 images of 480 x 640 with 5 ground-truth
and 8 predicted masks each): ground-truth ellipses written as RLE to an
annotation file, predictions that are shifted copies of the ground truth in
a shuffled order plus false positives, keypoints for JAE.

Both evaluators get what they get in their own test loops:

* the reference: per image, the decoded float32 ground-truth maps and
  normalised keypoints (made by its data loader, not timed) and float32
  prediction maps, into ``Metrics.process``; ``Metrics.aggregate`` at the
  end. Metrics: its released config's ``sa_sor``, ``sor``, ``mae``,
  ``jae``.
* ``SORMetric`` as ``tools/test.py`` runs it: built from the annotation
  file (reading and validating it is timed), ``process`` on data samples
  with boolean mask tensors and pixel keypoints (decoding the ground truth
  is timed), then ``compute_metrics``. Same four metrics.

Every per-image value of the two must be equal to the last bit (the script
stops otherwise), and the reference's rounded means must equal ours
rounded the same way. The two alternate image by image within a pass, so
that both see the same load on a shared machine; with ``--repeat R`` the
medians of ``R`` passes are compared. With ``--subset K`` only the first
``K`` images are generated and timed and the time of the full set is
extrapolated linearly (printed as such).

Example::

    python tools/analysis_tools/benchmark_metrics.py \\
        --reference /path/to/ECCV24PoseSOR --subset 200 --repeat 3
    python tools/analysis_tools/benchmark_metrics.py \\
        --reference /path/to/ECCV24PoseSOR --height 768 --width 1024 \\
        --num-gt 10 --num-pred 20 --subset 50 --repeat 3
"""
import argparse
import contextlib
import importlib.util
import io
import json
import math
import os.path as osp
import statistics
import sys
import tempfile
import time
from types import ModuleType
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
from pycocotools import mask as mask_utils

from posesor.evaluation import SORMetric

NUM_JOINTS = 17
#: Metrics of the reference's released ASSR config (``METRICS_OF_INTEREST``).
METRICS = ('sa_sor', 'sor', 'mae', 'jae')
#: The reference rounds its means to this many decimals.
REFERENCE_DECIMALS = 4
#: The reference adds this to numerator and denominator of its means.
REFERENCE_EPS = 1e-12
#: Largest shift (pixels) of a prediction against its ground truth.
MAX_SHIFT = 6


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Time SORMetric against the reference evaluator '
        '(evaluation/metrics.py of ECCV24PoseSOR).')
    parser.add_argument(
        '--reference',
        required=True,
        help='folder of a checkout of guanhuankang/ECCV24PoseSOR (holding '
        'evaluation/metrics.py)')
    parser.add_argument('--num-images', type=_positive, default=2418)
    parser.add_argument('--height', type=_positive, default=480)
    parser.add_argument('--width', type=_positive, default=640)
    parser.add_argument('--num-gt', type=_positive, default=5)
    parser.add_argument('--num-pred', type=_non_negative, default=8)
    parser.add_argument(
        '--subset',
        type=_positive,
        help='time only the first K images and extrapolate to --num-images')
    parser.add_argument(
        '--repeat',
        type=_positive,
        default=3,
        help='alternating repetitions of each evaluator')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'must be > 0, got {value}')
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be >= 0, got {value}')
    return value


def load_reference(folder: str) -> ModuleType:
    """Import ``evaluation/metrics.py`` of a reference checkout."""
    path = osp.join(folder, 'evaluation', 'metrics.py')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'--reference {folder!r}: no evaluation/metrics.py there')
    spec = importlib.util.spec_from_file_location('posesor_ref_metrics', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def ellipse(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.ogrid[:height, :width]
    cy, cx = rng.uniform(0.1, 0.9) * height, rng.uniform(0.1, 0.9) * width
    ry = rng.uniform(0.05, 0.25) * height
    rx = rng.uniform(0.05, 0.25) * width
    return ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2 <= 1.0


def make_ground_truth(rng: np.random.Generator, height: int, width: int,
                      num_gt: int) -> Dict[str, np.ndarray]:
    """Ground-truth masks and keypoints of one image."""
    size = min(height, width)
    return dict(
        gts=np.stack([ellipse(height, width, rng) for _ in range(num_gt)]),
        gt_kpts=rng.integers(0, size, (num_gt, NUM_JOINTS, 2)).astype(float),
        gt_vis=rng.integers(0, 3, (num_gt, NUM_JOINTS)).astype(float))


def make_predictions(rng: np.random.Generator, gts: np.ndarray,
                     num_pred: int) -> Dict[str, np.ndarray]:
    """Shifted copies of the GTs in a shuffled order plus false positives."""
    height, width = gts.shape[1:]
    preds = [
        np.roll(
            g,
            tuple(rng.integers(-MAX_SHIFT, MAX_SHIFT + 1, size=2)),
            axis=(0, 1)) for g in gts[:num_pred]
    ]
    while len(preds) < num_pred:
        preds.append(ellipse(height, width, rng))
    order = rng.permutation(num_pred)
    size = min(height, width)
    return dict(
        preds=np.stack([preds[k] for k in order]).reshape(-1, height, width),
        pred_kpts=rng.uniform(0, size, (num_pred, NUM_JOINTS, 2)))


def annotation(img_id: int, gt: Dict[str, np.ndarray],
               first_ann_id: int) -> Tuple[dict, List[dict]]:
    """Image entry and RLE annotations (ranks 1..m in order) of one image."""
    height, width = gt['gts'].shape[1:]
    image = dict(
        id=img_id, file_name=f'{img_id:06d}.jpg', height=height, width=width)
    anns = []
    for k, g in enumerate(gt['gts']):
        rle = mask_utils.encode(np.asfortranarray(g.astype(np.uint8)))
        kpts = np.concatenate([gt['gt_kpts'][k], gt['gt_vis'][k][:, None]],
                              axis=1)
        anns.append(
            dict(
                id=first_ann_id + k,
                image_id=img_id,
                category_id=k + 1,
                segmentation=dict(
                    size=[height, width],
                    counts=rle['counts'].decode('ascii')),
                keypoints=kpts.reshape(-1).tolist()))
    return image, anns


def reference_inputs(gt: Dict[str, np.ndarray],
                     pred: Dict[str, np.ndarray]) -> Dict[str, Any]:
    """What the reference's data loader and network hand its evaluator:
    float32 0/1 maps, keypoints normalised by the image size."""
    height, width = gt['gts'].shape[1:]
    scale = np.array([width, height], dtype=np.float64)
    # the normalisation SORMetric applies (float32 pixels / size, float64)
    gt_xy = gt['gt_kpts'].astype(np.float32).astype(np.float64) / scale
    gt_kpts = np.concatenate([gt_xy, gt['gt_vis'][..., None]], axis=-1)
    pred_xy = pred['pred_kpts'] / scale
    pred_kpts = np.concatenate(
        [pred_xy, np.ones(pred_xy.shape[:2] + (1, ))], axis=-1)
    return dict(
        preds=[p.astype(np.float32) for p in pred['preds']],
        gts=[g.astype(np.float32) for g in gt['gts']],
        pred_keypoints=list(pred_kpts),
        gt_keypoints=torch.from_numpy(gt_kpts))


def data_sample(img_id: int, pred: Dict[str, np.ndarray]) -> Dict[str, Any]:
    """What PoseSOR's ``predict`` hands SORMetric (as a dict)."""
    return dict(
        img_id=img_id,
        pred_instances=dict(
            masks=torch.from_numpy(pred['preds']),
            keypoints=torch.from_numpy(pred['pred_kpts'])))


# --------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------
def check_image(img_id: int, ref: Dict[str, Any], ours: Dict[str,
                                                             Any]) -> None:
    """Per-image values must be bit-identical (None == NaN)."""
    for key in METRICS:
        a = ref[key]
        a = math.nan if a is None else float(a)
        b = ours['values'][key]
        if not (a == b or (math.isnan(a) and math.isnan(b))):
            raise AssertionError(f'image {img_id}: {key} reference {a!r} != '
                                 f'SORMetric {b!r}')


def check_summary(ref_summary: dict, our_images: list,
                  our_summary: dict) -> None:
    """The reference's rounded means from our per-image values."""
    for key in METRICS:
        values = [r['values'][key] for r in our_images]
        if key == 'jae':  # the reference leaves None out
            values = [v for v in values if not math.isnan(v)]
        total = 0.0
        for v in values:  # the reference's sequential sum, NaN as 0
            total += 0.0 if math.isnan(v) else v
        mine = round((total + REFERENCE_EPS) / (len(values) + REFERENCE_EPS),
                     REFERENCE_DECIMALS)
        if mine != ref_summary[key]:
            raise AssertionError(f'{key}: reference mean '
                                 f'{ref_summary[key]} != {mine}')
        if ref_summary[f'{key}_count'] != our_summary[f'{key}_count']:
            raise AssertionError(f'{key}_count differs')


def run_once(ref: ModuleType, ann_file: str, gts: List[Dict[str, np.ndarray]],
             args: argparse.Namespace) -> Tuple[float, float]:
    """One pass over the set, alternating per image; returns the seconds
    of the reference and of SORMetric."""
    t_ref = t_ours = 0.0
    start = time.perf_counter()
    metric = SORMetric(
        ann_file=ann_file, metric=list(METRICS), polygon_backend='cv2')
    t_ours += time.perf_counter() - start
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its setup
        ref_metrics = ref.Metrics(list(METRICS))
    rng = np.random.default_rng(args.seed + 1)
    ref_images = []
    for img_id, gt in enumerate(gts, 1):
        pred = make_predictions(rng, gt['gts'], args.num_pred)
        inputs = reference_inputs(gt, pred)
        sample = data_sample(img_id, pred)
        start = time.perf_counter()
        ref_images.append(ref_metrics.process(thres=0.5, **inputs))
        middle = time.perf_counter()
        metric.process(None, [sample])
        t_ours += time.perf_counter() - middle
        t_ref += middle - start
        check_image(img_id, ref_images[-1], metric.results[-1])
    start = time.perf_counter()
    ref_summary = ref_metrics.aggregate(ref_images)
    middle = time.perf_counter()
    our_summary = metric.compute_metrics(metric.results)
    t_ours += time.perf_counter() - middle
    t_ref += middle - start
    check_summary(ref_summary, metric.results, our_summary)
    return t_ref, t_ours


def main(argv=None) -> Dict[str, float]:
    args = parse_args(argv)
    ref = load_reference(args.reference)
    num_timed = min(args.subset or args.num_images, args.num_images)
    rng = np.random.default_rng(args.seed)
    gts = [
        make_ground_truth(rng, args.height, args.width, args.num_gt)
        for _ in range(num_timed)
    ]
    images, anns = [], []
    for img_id, gt in enumerate(gts, 1):
        image, image_anns = annotation(img_id, gt, len(anns) + 1)
        images.append(image)
        anns.extend(image_anns)
    times: Dict[str, List[float]] = dict(reference=[], sormetric=[])
    with tempfile.TemporaryDirectory() as tmp:
        ann_file = osp.join(tmp, 'bench.json')
        with open(ann_file, 'w') as f:
            json.dump(dict(images=images, annotations=anns), f)
        for _ in range(args.repeat):
            t_ref, t_ours = run_once(ref, ann_file, gts, args)
            times['reference'].append(t_ref)
            times['sormetric'].append(t_ours)
    scale = args.num_images / num_timed
    t_ref = statistics.median(times['reference'])
    t_ours = statistics.median(times['sormetric'])
    ratio = t_ref / t_ours
    print(f'{args.num_images} images of {args.height}x{args.width}, '
          f'{args.num_gt} GT and {args.num_pred} predicted masks each; '
          f'metrics {", ".join(METRICS)}')
    print(f'timed {num_timed} images, {args.repeat} pass(es) alternating '
          f'per image, torch threads {torch.get_num_threads()}' +
          (f'; full-set times extrapolated x{scale:.2f}' if num_timed <
           args.num_images else ''))
    print('per-image values identical to the last bit; the reference\'s '
          'rounded means reproduced')
    print(f'reference Metrics : {t_ref / num_timed * 1e3:8.2f} ms/image, '
          f'{t_ref * scale:8.1f} s for the set')
    print(f'SORMetric         : {t_ours / num_timed * 1e3:8.2f} ms/image, '
          f'{t_ours * scale:8.1f} s for the set')
    print(f'speed-up          : {ratio:8.1f}x (target >= 20x)')
    sys.stdout.flush()
    return dict(
        reference_s=t_ref * scale, sormetric_s=t_ours * scale, ratio=ratio)


if __name__ == '__main__':
    main()
