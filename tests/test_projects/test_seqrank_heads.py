# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""projects/seqrank's heads on the micro model of the parity fixtures: the
teacher-forced ranking loss by hand, the ground-truth order check, the
stopping rule, empty sequences and checkpoints with the earlier module
names."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from posesor.models.task_modules import QuerySlots
from projects.seqrank.seqrank import SeqRankPostProcessor

ROOT = osp.join(osp.dirname(__file__), '..', '..')
CONFIG = osp.join(ROOT, 'tests', 'data', 'seqrank', 'seqrank_micro_config.py')
SIZE = 64
# earlier top-level module -> where it is now
EARLIER_NAMES = {
    'decoder.': 'instance_head.decoder.',
    'positional_encoding.': 'instance_head.positional_encoding.',
    'ranker.': 'rank_head.ranker.',
}


def micro_model(seed: int = 0):
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config.fromfile(CONFIG).model)
    model.init_weights()
    return model


def sample(img_id: int, ranks) -> DetDataSample:
    """A sample whose instances are squares ranked ``ranks``."""
    num = len(ranks)
    masks = torch.zeros(num, SIZE, SIZE)
    for i in range(num):
        masks[i, 8 * i:8 * i + 16, 10 * i:10 * i + 20] = 1
    gt = InstanceData(
        masks=masks,
        ranks=torch.tensor(ranks),
        bboxes=torch.zeros(num, 4),
        keypoints=torch.zeros(num, 17, 2),
        keypoints_visible=torch.zeros(num, 17))
    return DetDataSample(
        gt_instances=gt,
        metainfo=dict(
            img_id=img_id,
            img_path=f'img{img_id}.jpg',
            img_shape=(SIZE, SIZE),
            ori_shape=(SIZE, SIZE),
            batch_input_shape=(SIZE, SIZE)))


def test_ranking_loss_by_hand():
    model = micro_model()
    inputs = torch.randn(1, 3, SIZE, SIZE)
    feats = model.extract_feat(inputs)
    outputs = model.instance_head(feats)
    # query 3 matched to the most salient instance, query 1 to the second
    outputs['slots'] = QuerySlots(
        torch.tensor([0, 0]), torch.tensor([3, 1]), torch.tensor([0, 1]), 2)
    targets = dict(
        ranks=torch.tensor([[1, 2]]),
        valid=torch.ones(1, 2, dtype=torch.bool),
        sample_names=['image id 0'])
    loss = model.rank_head.loss(feats, outputs, targets)['loss_rank']

    inputs = model.rank_head.ranker_inputs(feats, outputs)
    num_queries = outputs['scores'].shape[1]
    expected = 0.0
    # (visiting order of queries 3 and 1, query to choose next)
    for order3, order1, answer in ((0, 0, 3), (1, 0, 1), (1, 2, None)):
        visited = torch.zeros(1, num_queries, 1)
        visited[0, 3, 0], visited[0, 1, 0] = order3, order1
        target = torch.zeros(1, num_queries, 1)
        if answer is not None:
            target[0, answer, 0] = 1
        logits = model.ranker(visited=visited, **inputs)
        expected += F.binary_cross_entropy_with_logits(logits, target)
    torch.testing.assert_close(loss, 5.0 * expected)


def test_loss_needs_ground_truth_in_rank_order():
    model = micro_model()
    inputs = torch.randn(2, 3, SIZE, SIZE)
    losses = model.loss(inputs, [sample(1, [1, 2]), sample(2, [1, 2, 3])])
    assert set(losses) == {
        'loss_mask', 'loss_dice', 'loss_obj', 'loss_bbox', 'loss_giou',
        'loss_rank'
    }
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    with pytest.raises(ValueError, match=r'image id 7 .*not in rank order'):
        model.loss(inputs, [sample(1, [1, 2]), sample(7, [2, 1])])


def test_stopping_rule():
    post = SeqRankPostProcessor(dict(obj_threshold=0.2, rank_threshold=0.5))
    # a NaN compares False: the reference goes on, as ours
    ends = post.ends_sequence(
        torch.tensor([0.1, 0.3, 0.3, float('nan')]),
        torch.tensor([0.9, 0.4, 0.6, 0.9]))
    assert ends.tolist() == [True, True, False, False]
    with pytest.raises(KeyError, match='score_thr'):
        SeqRankPostProcessor(dict(score_thr=0.5))


@torch.no_grad()
def test_sequences_stop_per_image():
    model = micro_model().eval()
    inputs = torch.randn(2, 3, SIZE, SIZE)
    feats = model.extract_feat(inputs)
    outputs = model.instance_head.predict(feats)
    calls = []

    def stop_after(objectness, rank_probs):
        # image 0 keeps 2 steps, image 1 keeps 3
        calls.append(len(calls))
        return torch.tensor([len(calls) > 2, len(calls) > 3])

    ranked, slots = model.rank_head.predict(feats, outputs, stop_after)
    assert len(calls) == 4  # stops once every image has ended
    assert slots.num_slots == 3
    assert slots.of_image(0).slot_inds.tolist() == [0, 1]
    assert slots.of_image(1).slot_inds.tolist() == [0, 1, 2]
    first = model.ranker(
        visited=torch.zeros_like(outputs['scores']),
        **model.rank_head.ranker_inputs(feats, outputs))[..., 0]
    top = first.max(dim=1)
    assert slots.query_inds[slots.slot_inds == 0].tolist() == \
        top.indices.tolist()
    torch.testing.assert_close(ranked['rank_scores'][:, 0],
                               top.values.sigmoid())
    assert ranked['rank_scores'][0, 2] == 0  # an empty slot
    bi, qi, ti = slots.batch_inds, slots.query_inds, slots.slot_inds
    assert torch.equal(ranked['masks'][bi, ti], outputs['masks'][bi, qi])
    assert torch.equal(ranked['bboxes'][bi, ti], outputs['bboxes'][bi, qi])


@torch.no_grad()
def test_no_object_passes_the_thresholds():
    model = micro_model().eval()
    model.test_cfg['obj_threshold'] = 1.1  # the post-processor's dict
    samples = [sample(1, [1]), sample(2, [1])]
    preds = model.predict(torch.randn(2, 3, SIZE, SIZE), samples)
    for pred in preds:
        assert len(pred.pred_instances) == 0
        assert pred.pred_instances.masks.shape == (0, SIZE, SIZE)
        assert pred.pred_instances.bboxes.shape == (0, 4)


def test_checkpoint_with_earlier_module_names_loads():
    model = micro_model(seed=0)
    earlier = {}
    for key, value in model.state_dict().items():
        for old, new in EARLIER_NAMES.items():
            if key.startswith(new):
                key = old + key[len(new):]
        earlier[key] = value
    assert any(key.startswith('ranker.') for key in earlier)
    other = micro_model(seed=1)
    other.load_state_dict(earlier, strict=True)
    for key, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key
