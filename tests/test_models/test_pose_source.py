# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Where PDR's pose comes from: keypoint tokens, teacher forcing, the
ground-truth oracle and given (external) keypoints at test."""
import copy

import pytest
import torch
from mmdet.registry import DATASETS
from mmdet.structures import DetDataSample
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData
from test_detector import single_thread  # noqa: F401 (autouse fixture)
from test_detector import build_model, preprocess

import posesor  # noqa: F401
from posesor.models.heads.pose_source import keypoint_joint_tokens
from posesor.models.task_modules.pose_keypoints import (gt_pose_instances,
                                                        slot_keypoints)
from posesor.models.task_modules.query_slots import QuerySlots

IMAGE_SIZE = 64


def _dataset(root: str, split: str, test_mode: bool):
    init_default_scope('mmdet')
    resize = dict(
        type='SORResize', scale=(IMAGE_SIZE, IMAGE_SIZE), keep_ratio=False)
    load = dict(type='LoadSORAnnotations')
    # the test pipelines load the annotations after resizing
    steps = [resize, load] if test_mode else [load, resize]
    return DATASETS.build(
        dict(
            type='SORDataset',
            data_root=root,
            ann_file=f'synthetic_{split}.json',
            data_prefix=dict(img=f'images/{split}/'),
            test_mode=test_mode,
            pipeline=[dict(type='LoadImageFromFile')] + steps +
            [dict(type='PackSORInputs')]))


@pytest.fixture(scope='module')
def train_samples(synthetic_dataset):
    dataset = _dataset(synthetic_dataset, 'train', False)
    return [dataset[i] for i in range(2)]


@pytest.fixture(scope='module')
def test_samples(synthetic_dataset):
    dataset = _dataset(synthetic_dataset, 'test', True)
    return [dataset[i] for i in range(2)]


def test_keypoint_joint_tokens_hand_computed():
    C = 4
    feat = torch.arange(16.).reshape(1, C, 2, 2)
    feat_pos = torch.full((1, C, 2, 2), 0.5)
    query = torch.tensor([[[1.0, 0.0, -1.0, 2.0]]])  # B, n, C
    joint_embed = torch.tensor([[[0.0, 1.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0]]])
    pai = torch.full((1, 1, 2, C), 7.0)
    # joint 0 at the centre of pixel (row 1, col 0); joint 1 not visible
    keypoints = torch.tensor([[[[0.25, 0.75, 1.0], [0.25, 0.75, 0.0]]]])
    tokens = keypoint_joint_tokens(keypoints, pai, query, joint_embed, feat,
                                   feat_pos)
    raw = joint_embed[0, 0] + query[0, 0] + feat[0, :, 1, 0] + 0.5
    expected = (raw - raw.mean()) / torch.sqrt(raw.var(unbiased=False) + 1e-5)
    assert torch.allclose(tokens[0, 0, 0], expected, atol=1e-6)
    assert torch.equal(tokens[0, 0, 1], pai[0, 0, 1])
    with pytest.raises(ValueError, match='do not fit'):
        keypoint_joint_tokens(keypoints[:, :, :1], pai, query, joint_embed,
                              feat, feat_pos)


def test_bad_pose_source_is_named():
    with pytest.raises(ValueError, match='train_pose_source'):
        build_model(rank_head=dict(train_pose_source='external'))
    with pytest.raises(ValueError, match='test_pose_source'):
        build_model(rank_head=dict(test_pose_source='mmpose'))


def _losses(source, samples, shift):
    model = build_model(rank_head=dict(train_pose_source=source))
    model.train()
    samples = copy.deepcopy(samples)
    for s in samples:
        s['data_samples'].gt_instances.keypoints += shift
    inputs, data_samples = preprocess(model, samples, True)
    torch.manual_seed(0)  # the point sampling of the mask losses
    return model.loss(inputs, data_samples)


def test_teacher_forcing_reads_the_gt_keypoints(train_samples):
    # predicted: the ranking losses do not see the GT keypoints
    base = _losses('predicted', train_samples, 0.0)
    moved = _losses('predicted', train_samples, 5.0)
    assert torch.equal(base['loss_rank'], moved['loss_rank'])
    assert not torch.equal(base['loss_joint'], moved['loss_joint'])
    # gt: PDR reads them (the pose losses still train PAI's joints)
    base = _losses('gt', train_samples, 0.0)
    moved = _losses('gt', train_samples, 5.0)
    assert not torch.equal(base['loss_rank'], moved['loss_rank'])
    assert torch.equal(base['loss_refined_mask'], moved['loss_refined_mask'])


def test_slot_keypoints_frames():
    slots = QuerySlots(
        torch.tensor([0, 0, 1]), torch.tensor([3, 7, 2]),
        torch.tensor([0, 1, 0]), 2)
    samples = []
    for pad in (64, 80):
        sample = DetDataSample()
        sample.set_metainfo(
            dict(
                img_shape=(64, 64),
                ori_shape=(96, 96),
                batch_input_shape=(pad, pad),
                img_id=pad))
        samples.append(sample)
    kpts = torch.zeros(1, 17, 2)
    kpts[0, 0] = torch.tensor([48.0, 24.0])
    vis = torch.zeros(1, 17)
    vis[0, 0] = 1
    poses = [
        InstanceData(
            query_indices=torch.tensor([7]),
            keypoints=kpts,
            keypoints_visible=vis),
        InstanceData(
            query_indices=torch.tensor([2]),
            keypoints=kpts,
            keypoints_visible=vis)
    ]
    out = slot_keypoints(poses, slots, samples, 17)
    assert out.shape == (2, 2, 17, 3)
    # image 0: query 7 is slot 1; 96 px -> 64 px input, no padding
    assert torch.allclose(out[0, 1, 0], torch.tensor([0.5, 0.25, 1.0]))
    assert out[0, 0].abs().sum() == 0 and out[0, 1, 1:].abs().sum() == 0
    # image 1: the input is padded to 80 px
    assert torch.allclose(out[1, 0, 0], torch.tensor([32 / 80, 16 / 80, 1.0]))
    poses[0].query_indices = torch.tensor([5])
    with pytest.raises(ValueError, match=r'image id 64.*\[5\]'):
        slot_keypoints(poses, slots, samples, 17)


def test_gt_pose_instances_matching():
    sample = DetDataSample()
    sample.set_metainfo(dict(ori_shape=(4, 4), img_id=3))
    gt_masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    gt_masks[0, :2] = True
    gt_masks[1, 2:] = True
    gt_kpts = torch.arange(2 * 17 * 2.).reshape(2, 17, 2)
    sample.gt_instances = InstanceData(
        masks=gt_masks.numpy(),
        keypoints=gt_kpts.numpy(),
        keypoints_visible=torch.ones(2, 17).numpy())
    pred_masks = torch.zeros(3, 4, 4, dtype=torch.bool)
    pred_masks[0, 2:] = True  # matches GT 1
    pred_masks[1, :, :1] = True  # IoU 2/10 with GT 0: unmatched
    pred_masks[2, :2, :3] = True  # IoU 6/8 with GT 0
    pred = InstanceData(
        masks=pred_masks, query_indices=torch.tensor([11, 4, 9]))
    poses = gt_pose_instances(sample, pred)
    assert poses.query_indices.tolist() == [9, 11]
    assert torch.equal(poses.keypoints, gt_kpts)
    sample.gt_instances = InstanceData(
        masks=gt_masks[:, :2].numpy(),
        keypoints=gt_kpts.numpy(),
        keypoints_visible=torch.ones(2, 17).numpy())
    with pytest.raises(ValueError, match='image id 3.*ori_shape'):
        gt_pose_instances(sample, pred)
    del sample.gt_instances
    with pytest.raises(ValueError, match='image id 3.*LoadSORAnnotations'):
        gt_pose_instances(sample, pred)


def _predict(model, samples):
    inputs, data_samples = preprocess(model, samples, False)
    model.eval()
    with torch.no_grad():
        return model.predict(inputs, data_samples)


def _rank_scores(results):
    return [r.pred_instances.rank_scores for r in results]


def test_external_keypoints_rerank(test_samples):
    model = build_model()
    base = _predict(model, test_samples)
    assert [r.pose_source for r in base] == ['predicted'] * 2
    model.rank_head.test_pose_source = 'external'
    samples = copy.deepcopy(test_samples)
    # a sample without pose instances is ranked from PAI's poses
    same = _predict(model, samples)
    for a, b in zip(_rank_scores(base), _rank_scores(same)):
        assert torch.equal(a, b)
    assert [r.pose_source for r in same] == ['predicted'] * 2
    gen = torch.Generator().manual_seed(0)
    for sample, pred in zip(samples, base):
        queries = pred.pred_instances.query_indices
        sample['data_samples'].pose_instances = InstanceData(
            query_indices=queries,
            keypoints=torch.rand(len(queries), 17, 2, generator=gen) * 96,
            keypoints_visible=torch.ones(len(queries), 17))
    given = _predict(model, samples)
    assert [r.pose_source for r in given] == ['external'] * 2
    for a, b in zip(_rank_scores(base), _rank_scores(given)):
        assert a.shape == b.shape and not torch.allclose(a, b)
    # the same instances (masks, keypoints of PAI) only ranked again
    for a, b in zip(base, given):
        order_a = torch.argsort(a.pred_instances.query_indices)
        order_b = torch.argsort(b.pred_instances.query_indices)
        assert torch.equal(a.pred_instances.masks[order_a],
                           b.pred_instances.masks[order_b])
    # invisible given joints leave PAI's tokens: the ranking of 'predicted'
    for sample in samples:
        sample['data_samples'].pose_instances.keypoints_visible *= 0
    hidden = _predict(model, samples)
    for a, b in zip(_rank_scores(base), _rank_scores(hidden)):
        assert torch.equal(a, b)


def test_gt_oracle_ranks_from_matched_keypoints(test_samples):
    model = build_model()
    base = _predict(model, test_samples)
    # ground truth that the predictions match: their own masks
    samples = copy.deepcopy(test_samples)
    gen = torch.Generator().manual_seed(1)
    for sample, pred in zip(samples, base):
        masks = pred.pred_instances.masks
        sample['data_samples'].gt_instances = InstanceData(
            masks=masks.numpy(),
            keypoints=(torch.rand(len(masks), 17, 2, generator=gen) *
                       96).numpy(),
            keypoints_visible=torch.ones(len(masks), 17).numpy())
    model.rank_head.test_pose_source = 'gt'
    oracle = _predict(model, samples)
    assert [r.pose_source for r in oracle] == ['gt'] * 2
    for a, b in zip(_rank_scores(base), _rank_scores(oracle)):
        assert not torch.allclose(a, b)
    # unmatched predictions keep PAI's poses
    real = _predict(model, test_samples)
    assert [r.pose_source for r in real] == ['gt'] * 2
    for sample, a, b in zip(test_samples, base, real):
        if len(gt_pose_instances(sample['data_samples'], a.pred_instances)):
            continue  # this random model matched a GT instance here
        assert torch.equal(a.pred_instances.rank_scores,
                           b.pred_instances.rank_scores)
    # no annotations: an error naming the image
    bare = copy.deepcopy(test_samples)
    del bare[0]['data_samples'].gt_instances
    with pytest.raises(ValueError, match='image id'):
        _predict(model, bare)
