# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""analyze_sor_results.py and rank_confusion_matrix.py on the synthetic
test split, with predictions made from the ground truth."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from conftest import load_tool

from posesor.evaluation import SORMetric
from posesor.evaluation.analysis import RankConfusion


@pytest.fixture(scope='module')
def oracle_results(synthetic_dataset, tmp_path_factory):
    """A result file: the GT in order, except the first multi-object image,
    predicted in reversed order. Returns (results, ann_file, img_dir,
    expected confusion matrix for max_rank 3, reversed image name)."""
    ann_file = osp.join(synthetic_dataset, 'synthetic_test.json')
    out = tmp_path_factory.mktemp('oracle')
    metric = SORMetric(ann_file=ann_file, outfile_prefix=str(out / 'res'))
    expected = RankConfusion(3)
    reversed_name = None
    for img_id in metric.gt:
        gt = metric.load_gt(img_id)
        masks = gt['masks']
        m = len(masks)
        pred_ranks = np.arange(1, m + 1)
        if reversed_name is None and m > 1:
            masks = masks[::-1].copy()
            pred_ranks = pred_ranks[::-1]
            reversed_name = gt['image_name']
        if m:
            expected.update(pred_ranks)
        metric.process({}, [
            dict(
                img_id=img_id,
                pred_instances=dict(masks=torch.from_numpy(masks)))
        ])
    metric.evaluate(size=len(metric.gt))
    assert reversed_name is not None
    return (str(out / 'res.sor_results.json'), ann_file,
            osp.join(synthetic_dataset, 'images',
                     'test'), expected.matrix, reversed_name)


def test_rank_confusion_matrix_png(oracle_results, tmp_path):
    results, ann_file, _, expected, _ = oracle_results
    png = str(tmp_path / 'cm.png')
    confusion = load_tool('analysis_tools/rank_confusion_matrix.py').main(
        [results, ann_file, '--out', png, '--max-rank', '3'])
    assert np.array_equal(confusion.matrix, expected)
    # the reversed image puts objects off the diagonal, nothing is missed
    assert confusion.matrix[:, -1].sum() == 0
    assert np.trace(confusion.matrix[:, :3]) < confusion.matrix.sum()
    image = cv2.imread(png)
    assert image is not None and image.shape[0] > 200
    assert image.std() > 10  # a drawn picture, not a blank canvas


def test_rank_confusion_counts_missing_images_as_missed(
        oracle_results, tmp_path):
    _, ann_file, _, _, _ = oracle_results
    empty = tmp_path / 'empty.sor_results.json'
    empty.write_text(
        json.dumps(dict(format='posesor_sor_results', version=1, results=[])))
    confusion = load_tool('analysis_tools/rank_confusion_matrix.py').main(
        [str(empty), ann_file, '--out',
         str(tmp_path / 'e.png')])
    assert confusion.matrix.sum() == confusion.matrix[:, -1].sum() > 0


def test_analyze_sor_results_best_and_worst(oracle_results, tmp_path):
    results, ann_file, img_dir, _, reversed_name = oracle_results
    out_dir = str(tmp_path / 'analysis')
    chosen = load_tool('analysis_tools/analyze_sor_results.py').main(
        [results, ann_file, img_dir, out_dir, '--topk', '1'])
    # the reversed image is the worst by SA-SOR (-1), the best scores 1
    assert chosen['worst'][0]['image_name'] == reversed_name
    assert chosen['worst'][0]['sa_sor'] == pytest.approx(-1.0)
    assert chosen['best'][0]['sa_sor'] == pytest.approx(1.0)
    worst = cv2.imread(osp.join(out_dir, 'worst', f'01_{reversed_name}.jpg'))
    source = cv2.imread(osp.join(img_dir, f'{reversed_name}.jpg'))
    # ground truth and prediction side by side under a caption strip
    assert worst.shape[1] > 2 * source.shape[1]
    assert worst.shape[0] > source.shape[0]
    summary = json.loads(open(osp.join(out_dir, 'per_image.json')).read())
    values = [r['sa_sor'] for r in summary['images']]
    assert values == sorted(values, reverse=True)
