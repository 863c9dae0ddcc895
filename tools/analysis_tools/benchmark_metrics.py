# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Time ``SORMetric`` against a straightforward per-pair loop.

The PoseSOR reference computes every IoU with a Python loop over
full-resolution masks (once for the Hungarian matching, again for SOR).
``SORMetric`` computes the IoU matrix in one matrix product. This script
generates masks of real size (default 640 x 480, 5 GTs, 10 predictions:
jittered copies of the GTs in a shuffled order plus false positives),
checks that both give the same SA-SOR, SOR, MAE and JAE, and prints the
time per image of each and their ratio (target: >= 20x).

``SORMetric`` is timed on its whole per-image path (``process`` on a data
sample with tensor masks, including decoding the GT from a generated
annotation file); the loop is given the GT masks already decoded.

Example::

    python tools/analysis_tools/benchmark_metrics.py --repeat 20
"""
import argparse
import json
import math
import os.path as osp
import tempfile
import time
from typing import Callable, Dict, List, Tuple

import numpy as np
import torch
from pycocotools import mask as mask_utils
from scipy import stats
from scipy.optimize import linear_sum_assignment

from posesor.evaluation import SORMetric

NUM_JOINTS = 17
THRESHOLD = 0.5


# --------------------------------------------------------------------------
# the straightforward implementation: one IoU per (GT, prediction) pair
# --------------------------------------------------------------------------
def loop_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    p, g = pred > THRESHOLD, gt > THRESHOLD
    return np.logical_and(p, g).sum() / (np.logical_or(p, g).sum() + 1e-6)


def loop_metrics(preds: List[np.ndarray], gts: List[np.ndarray],
                 pred_kpts: np.ndarray, gt_kpts: np.ndarray,
                 gt_vis: np.ndarray) -> Dict[str, float]:
    """SA-SOR, SOR, MAE and JAE with per-pair loops (posesor convention)."""
    if not preds:
        preds = [np.zeros_like(gts[0])]
    m, n = len(gts), len(preds)
    cost = np.array([[1.0 - loop_iou(p, g) for p in preds] for g in gts])
    gi, pj = linear_sum_assignment(cost)
    ious = 1.0 - cost[gi, pj]
    keep = ious > THRESHOLD
    g_r, p_r = list(m - gi[keep]), list(n - pj[keep])
    for r in range(1, m + 1):
        if r not in g_r:
            g_r.append(r)
            p_r.append(0)
    with np.errstate(all='ignore'):
        sa = float(np.corrcoef(g_r, p_r)[0, 1])
    g_r, p_r = [], []
    for i in range(m):
        for j in range(n):
            if loop_iou(preds[j], gts[i]) > THRESHOLD:
                g_r.append(m - i)
                p_r.append(n - j)
                break
    if len(g_r) > 1:
        s = (stats.spearmanr(p_r, g_r)[0] + 1.0) / 2.0
    else:
        s = 1.0 if g_r else math.nan
    merged_p = preds[0].astype(float)
    for p in preds[1:]:
        merged_p = np.maximum(merged_p, p)
    merged_g = gts[0].astype(float)
    for g in gts[1:]:
        merged_g = np.maximum(merged_g, g)
    mae = float(np.mean(np.abs(merged_p - merged_g)))
    h, w = gts[0].shape
    scale = np.array([w, h])
    lab = (gt_vis[gi].reshape(-1) > 0.5).astype(float)
    diff = np.abs(gt_kpts[gi] / scale - pred_kpts[pj] / scale)
    jae = float(
        (diff.reshape(-1, 2) * lab[:, None]).sum() / (1e-6 + lab.sum()))
    return dict(sa_sor=sa, sor=float(s), mae=mae, jae=jae)


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------
def ellipse(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.uniform(0.1 * h, 0.9 * h), rng.uniform(0.1 * w, 0.9 * w)
    ry, rx = rng.uniform(0.05 * h, 0.25 * h), rng.uniform(0.05 * w, 0.25 * w)
    return ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2 <= 1.0


def make_case(
    rng: np.random.Generator, height: int, width: int, num_gt: int,
    num_pred: int
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    gts = np.stack([ellipse(height, width, rng) for _ in range(num_gt)])
    preds = []
    for g in gts[:min(num_gt, num_pred)]:
        shift = rng.integers(-6, 7, size=2)
        preds.append(np.roll(g, tuple(shift), axis=(0, 1)))
    while len(preds) < num_pred:
        preds.append(ellipse(height, width, rng))
    order = rng.permutation(len(preds))
    preds = np.stack([preds[k] for k in order])
    # integer pixels, as in COCO annotations
    gt_kpts = rng.integers(0, min(height, width),
                           (num_gt, NUM_JOINTS, 2)).astype(float)
    pred_kpts = rng.uniform(0, min(height, width), (num_pred, NUM_JOINTS, 2))
    gt_vis = rng.integers(0, 3, (num_gt, NUM_JOINTS)).astype(float)
    return preds, gts, pred_kpts, gt_kpts, gt_vis


def write_annotations(path: str, gts: np.ndarray, gt_kpts: np.ndarray,
                      gt_vis: np.ndarray) -> None:
    height, width = gts.shape[1:]
    anns = []
    for k, g in enumerate(gts):
        rle = mask_utils.encode(np.asfortranarray(g.astype(np.uint8)))
        kpts = np.concatenate([gt_kpts[k], gt_vis[k][:, None]], axis=1)
        anns.append(
            dict(
                id=k + 1,
                image_id=1,
                category_id=k + 1,
                segmentation=dict(
                    size=[height, width],
                    counts=rle['counts'].decode('ascii')),
                keypoints=kpts.reshape(-1).tolist()))
    data = dict(
        images=[dict(id=1, file_name='bench.jpg', height=height, width=width)],
        annotations=anns)
    with open(path, 'w') as f:
        json.dump(data, f)


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Smallest wall time of ``repeat`` calls (robust on shared CPUs)."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--num-gt', type=int, default=5)
    parser.add_argument('--num-pred', type=int, default=10)
    parser.add_argument('--repeat', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    rng = np.random.default_rng(args.seed)
    preds, gts, pred_kpts, gt_kpts, gt_vis = make_case(rng, args.height,
                                                       args.width, args.num_gt,
                                                       args.num_pred)
    with tempfile.TemporaryDirectory() as tmp:
        ann_file = osp.join(tmp, 'bench.json')
        write_annotations(ann_file, gts, gt_kpts, gt_vis)
        metric = SORMetric(
            ann_file=ann_file,
            metric=['sa_sor', 'sor', 'mae', 'jae'],
            polygon_backend='pycocotools')
    sample = dict(
        img_id=1,
        pred_instances=dict(
            masks=torch.from_numpy(preds),
            keypoints=torch.from_numpy(pred_kpts)))
    # the reference works on float maps
    float_preds = [p.astype(np.float64) for p in preds]
    float_gts = [g.astype(np.float64) for g in gts]

    ours = metric.process_sample(sample)['values']
    ref = loop_metrics(float_preds, float_gts, pred_kpts, gt_kpts, gt_vis)
    for key, value in ref.items():
        same = (math.isnan(value)
                and math.isnan(ours[key])) or abs(value - ours[key]) < 1e-9
        if not same:
            raise AssertionError(f'{key}: SORMetric {ours[key]} vs loop '
                                 f'{value}')

    t_loop = best_time(
        lambda: loop_metrics(float_preds, float_gts, pred_kpts, gt_kpts, gt_vis
                             ), args.repeat)
    t_ours = best_time(lambda: metric.process_sample(sample), args.repeat)
    print(f'masks {args.width}x{args.height}, {args.num_gt} GTs, '
          f'{args.num_pred} predictions; metrics '
          f'{", ".join(f"{k}={v:.4f}" for k, v in ref.items())} (equal)')
    print(f'per-pair loop      : {t_loop * 1e3:8.2f} ms / image')
    print(f'SORMetric.process  : {t_ours * 1e3:8.2f} ms / image '
          f'(incl. GT decoding)')
    print(f'speed-up           : {t_loop / t_ours:8.1f}x (target >= 20x)')


if __name__ == '__main__':
    main()
