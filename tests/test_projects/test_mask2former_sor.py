# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""projects/mask2former_sor: rank targets, rank-score post-processing and
the tiny config end to end."""
import math

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData

from projects.mask2former_sor.mask2former_sor import (SORRankFusionHead,
                                                      SORRankLabels,
                                                      expected_ranks)

TINY = 'projects/mask2former_sor/configs/mask2former_sor_tiny_synthetic.py'


def test_expected_ranks_by_hand():
    probs = torch.tensor([[0.5, 0.5, 0.0], [0.1, 0.1, 0.1], [0.0, 0.0, 0.2]])
    # (1 * .5 + 2 * .5) / 1 = 1.5; (1 + 2 + 3) * .1 / .3 = 2; 3 * .2 / .2
    assert torch.allclose(expected_ranks(probs), torch.tensor([1.5, 2.0, 3.0]))


def test_rank_labels_relabel_and_drop_unranked():
    masks = np.zeros((4, 8, 8), dtype=np.uint8)
    for i in range(4):
        masks[i, i, :] = 1
    sample = DetDataSample(metainfo=dict(img_id=7))
    sample.gt_instances = InstanceData(
        ranks=torch.tensor([1, 2, 0, 7]),
        labels=torch.zeros(4, dtype=torch.long),
        bboxes=torch.arange(16.).view(4, 4),
        masks=BitmapMasks(masks, 8, 8))
    inputs = torch.zeros(1, 3, 8, 8)
    out, samples = SORRankLabels(num_ranks=5)(inputs, [sample])
    assert out is inputs
    gt = samples[0].gt_instances
    assert gt.labels.tolist() == [0, 1, 4]  # rank 7 shares the last class
    assert gt.ranks.tolist() == [1, 2, 7]
    assert gt.bboxes[:, 0].tolist() == [0.0, 4.0, 12.0]
    assert [int(m[:, 0].argmax()) for m in gt.masks.masks] == [0, 1, 3]


def test_rank_labels_errors():
    with pytest.raises(ValueError, match='num_ranks'):
        SORRankLabels(num_ranks=0)
    sample = DetDataSample(metainfo=dict(img_id=3))
    sample.gt_instances = InstanceData(labels=torch.zeros(1).long())
    with pytest.raises(KeyError, match='image id 3'):
        SORRankLabels(num_ranks=2)(torch.zeros(1), [sample])
    sample.gt_instances = InstanceData(ranks=torch.tensor([-1]))
    with pytest.raises(ValueError, match='negative rank in image id 3'):
        SORRankLabels(num_ranks=2)(torch.zeros(1), [sample])


def _logits(probs):
    return torch.log(torch.tensor(probs, dtype=torch.float32))


def test_fusion_head_ranks_by_expected_rank():
    head = SORRankFusionHead(
        num_things_classes=3,
        num_stuff_classes=0,
        test_cfg=dict(score_thr=0.5, max_per_image=10, mask_thr=0.5))
    # columns: rank 1, rank 2, rank 3, no-object
    mask_cls = _logits([
        [0.1, 0.1, 0.6, 0.2],  # E = 2.625, object 0.8
        [0.7, 0.1, 0.1, 0.1],  # E = 1.333, object 0.9
        [0.05, 0.05, 0.1, 0.8],  # object 0.2 < score_thr: dropped
        [0.3, 0.3, 0.3, 0.1],  # E = 2.0, object 0.9, but empty mask
        [0.1, 0.8, 0.05, 0.05],  # E = 1.947, object 0.95
    ])
    mask_pred = torch.full((5, 4, 6), -5.0)
    mask_pred[0, 0, :] = 5.0
    mask_pred[1, 1, :] = 5.0
    mask_pred[2, 2, :] = 5.0
    mask_pred[4, 3, 1:3] = 5.0
    res = head.instance_postprocess(mask_cls, mask_pred)
    assert res.query_indices.tolist() == [1, 4, 0]
    assert res.ranks.tolist() == [1, 2, 3]
    assert torch.allclose(res.scores, torch.tensor([0.9, 0.95, 0.8]))
    exp = torch.tensor([(0.7 + 0.2 + 0.3) / 0.9, (0.1 + 1.6 + 0.15) / 0.95,
                        (0.1 + 0.2 + 1.8) / 0.8])
    assert torch.allclose(res.expected_ranks, exp, atol=1e-5)
    assert torch.allclose(res.rank_scores, 1.0 / exp, atol=1e-5)
    assert res.rank_labels.tolist() == [1, 2, 3]
    assert res.labels.tolist() == [0, 0, 0]
    assert res.masks.dtype == torch.bool and res.masks.shape == (3, 4, 6)
    assert res.bboxes[1].tolist() == [1.0, 3.0, 3.0, 4.0]

    head.test_cfg['max_per_image'] = 1  # keeps the most confident only
    assert head.instance_postprocess(mask_cls,
                                     mask_pred).query_indices.tolist() == [4]
    head.test_cfg['score_thr'] = 0.99
    assert len(head.instance_postprocess(mask_cls, mask_pred)) == 0


def test_tiny_config_trains_and_tests(synthetic_dataset, tmp_path,
                                      train_and_test):
    out = train_and_test(TINY, synthetic_dataset, str(tmp_path / 'm2f'))
    assert len(out['losses']) == 2
    assert all(math.isfinite(v) and v > 0 for v in out['losses'])
    metrics = out['metrics']
    for key in ('sor/sa_sor', 'sor/sor', 'sor/mae'):
        assert key in metrics
        assert math.isfinite(metrics[key])
    assert 0.0 <= metrics['sor/mae'] <= 1.0
    model = out['runner'].model
    assert type(model).__name__ == 'Mask2Former'
    assert type(model.panoptic_head).__name__ == 'Mask2FormerHead'
