# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR detector: loss / predict / tensor modes on a tiny model."""
import copy
import os.path as osp

import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

import posesor  # noqa: F401
from posesor.models.post_processors.sor_post_processor import to_output_frame

CONFIG_DIR = osp.join(osp.dirname(__file__), '..', '..', 'configs')
TINY_CONFIG = osp.join(CONFIG_DIR, 'posesor_tiny_synthetic.py')
IMAGE_SIZE = 64  # network input of these tests (the config uses 128)


@pytest.fixture(autouse=True, scope='module')
def single_thread():
    """Tiny models run fastest on one thread, above all on a busy CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model_cfg(**overrides) -> dict:
    """The tiny synthetic model config, without multi-scale resize."""
    cfg = Config.fromfile(TINY_CONFIG)
    model = copy.deepcopy(cfg.model)
    model.data_preprocessor.batch_augments = None
    model.update(overrides)
    return model


def build_model(seed: int = 0, **overrides):
    """Build and initialise the tiny model deterministically."""
    init_default_scope('mmdet')
    torch.manual_seed(seed)
    model = MODELS.build(tiny_model_cfg(**overrides))
    model.init_weights()
    return model


@pytest.fixture(scope='module')
def samples(synthetic_dataset):
    """Four packed training samples of the synthetic dataset at 64 px."""
    init_default_scope('mmdet')
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadSORAnnotations'),
        dict(
            type='SORResize', scale=(IMAGE_SIZE, IMAGE_SIZE),
            keep_ratio=False),
        dict(type='PackSORInputs'),
    ]
    dataset = DATASETS.build(
        dict(
            type='SORDataset',
            data_root=synthetic_dataset,
            ann_file='synthetic_train.json',
            data_prefix=dict(img='images/train/'),
            filter_cfg=dict(filter_empty_gt=True),
            pipeline=pipeline))
    return [dataset[i] for i in range(4)]


def preprocess(model, samples, training):
    data = model.data_preprocessor(
        pseudo_collate(copy.deepcopy(samples)), training)
    return data['inputs'], data['data_samples']


def test_loss_mode(samples):
    model = build_model()
    model.train()
    inputs, data_samples = preprocess(model, samples[:2], True)
    losses = model(inputs, data_samples, mode='loss')
    expected = {
        'loss_mask', 'loss_dice', 'loss_obj', 'loss_joint', 'loss_joint_vis',
        'loss_heatmap', 'loss_refined_mask', 'loss_refined_dice', 'loss_bbox',
        'loss_giou', 'loss_partition', 'loss_partition_dice', 'loss_rank'
    }
    assert expected <= set(losses)
    assert all(k.startswith('loss_') for k in losses)
    for name, value in losses.items():
        assert value.dim() == 0 and torch.isfinite(value), name
    total = sum(losses.values())
    total.backward()
    for name in ('backbone', 'neck', 'instance_head.positional_encoding',
                 'instance_head.decoder', 'rank_head.pai', 'rank_head.pdr'):
        grads = [
            p.grad for p in model.get_submodule(name).parameters()
            if p.grad is not None
        ]
        assert grads, f'no gradient reached {name}'
        assert all(torch.isfinite(g).all() for g in grads), name


def test_loss_without_pose(samples):
    cfg = tiny_model_cfg()
    cfg.rank_head.update(
        loss_joint=None, loss_joint_vis=None, loss_heatmap=None)
    cfg.rank_head.pai.with_pose_outputs = False
    init_default_scope('mmdet')
    model = MODELS.build(cfg)
    model.train()
    inputs, data_samples = preprocess(model, samples[:2], True)
    losses = model(inputs, data_samples, mode='loss')
    assert not {'loss_joint', 'loss_joint_vis', 'loss_heatmap'} & set(losses)
    assert 'loss_rank' in losses and 'loss_mask' in losses
    # keypoint predictors exist exactly when a pose loss trains them
    for with_outputs in (True, False):
        bad = tiny_model_cfg()
        bad.rank_head.pai.with_pose_outputs = with_outputs
        if with_outputs:
            bad.rank_head.update(
                loss_joint=None, loss_joint_vis=None, loss_heatmap=None)
        with pytest.raises(ValueError, match='with_pose_outputs must be'):
            MODELS.build(bad)
    bad = tiny_model_cfg()
    bad.rank_head.pai.output_joints = False
    with pytest.raises(ValueError, match='pai.output_joints=True'):
        MODELS.build(bad)


def test_each_loss_decreases(samples):
    """A few Adam steps on one batch lower each loss (optimised alone)."""
    model = build_model(seed=1)
    model.train()
    inputs, data_samples = preprocess(model, samples[:2], True)
    initial_state = copy.deepcopy(model.state_dict())
    torch.manual_seed(0)
    loss_names = list(model(inputs, data_samples, mode='loss'))
    for name in loss_names:
        model.load_state_dict(initial_state)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
        values = []
        for _ in range(5):
            torch.manual_seed(0)  # same point samples every step
            loss = model(inputs, data_samples, mode='loss')[name]
            assert torch.isfinite(loss), name
            values.append(loss.item())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        assert values[-1] < values[0], f'{name} did not decrease: {values}'


def test_predict_mode(samples):
    model = build_model()
    model.eval()
    inputs, data_samples = preprocess(model, samples[:2], False)
    model.test_cfg.update(with_heatmaps=True, with_partitions=True)
    with torch.no_grad():
        results = model(inputs, data_samples, mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_instances
        ori_h, ori_w = result.metainfo['ori_shape'][:2]
        n = len(pred)
        assert n >= 1
        assert pred.masks.shape == (n, ori_h, ori_w)
        assert pred.masks.dtype == torch.bool
        assert pred.keypoints.shape == (n, 17, 2)
        assert pred.keypoint_scores.shape == (n, 17)
        assert pred.keypoints_explicit.shape == (n, 17, 2)
        assert pred.bboxes.shape == (n, 4)
        assert pred.heatmaps.shape == (n, 17, ori_h, ori_w)
        assert pred.partitions.shape == (n, ori_h, ori_w)
        assert torch.equal(pred.ranks, torch.arange(1, n + 1))
        assert torch.all(pred.rank_scores[:-1] >= pred.rank_scores[1:])
        assert torch.all((pred.scores >= 0) & (pred.scores <= 1))
        # argmax joints lie on the output pixel grid
        assert torch.all(pred.keypoints[..., 0] < ori_w)
        assert torch.all(pred.keypoints[..., 1] < ori_h)
        assert torch.allclose(pred.heatmaps.sum(dim=(2, 3)), torch.ones(n, 17))
        assert len(set(pred.query_indices.tolist())) == n


def test_tensor_mode(samples):
    model = build_model()
    model.eval()
    inputs, _ = preprocess(model, samples[:1], False)
    with torch.no_grad():
        instance_out, rank_out, slots = model(inputs, mode='tensor')
    h4, w4 = IMAGE_SIZE // 4, IMAGE_SIZE // 4
    assert instance_out['masks'].shape == (1, 16, h4, w4)
    assert instance_out['scores'].shape == (1, 16, 1)
    n = slots.num_slots
    assert n == len(slots.query_inds) >= 1
    assert rank_out['keypoints'].shape == (1, n, 17, 3)
    assert rank_out['heatmaps'].shape == (1, n, 17, h4, w4)
    assert rank_out['masks'].shape == (1, n, h4, w4)
    assert rank_out['bboxes'].shape == (1, n, 4)
    assert rank_out['partitions'].shape == (1, n, h4 // 2, w4 // 2)
    assert rank_out['ranks'].shape == (1, n, 20)


def test_padded_batch_equals_single_images(samples):
    """Images kept with different numbers of queries (so the batch pads the
    query slots) give the same predictions alone and together."""
    model = build_model(seed=3)
    model.eval()
    inputs, data_samples = preprocess(model, samples[:2], False)
    with torch.no_grad():
        # shift the objectness bias so that the 0.1 probability threshold
        # keeps different numbers of queries in the two images
        logits = model(inputs, mode='tensor')[0]['scores'][..., 0]
        values = logits.flatten().sort().values
        for low, high in zip(values[:-1], values[1:]):
            cut = (low + high) / 2
            kept = (logits > cut).sum(dim=1)
            if kept[0] != kept[1] and kept.min() > 1:
                break
        else:
            pytest.fail('no threshold separates the two images')
        model.instance_head.decoder.head.cls_embed.bias += torch.logit(
            torch.tensor(0.1)) - cut
        _, _, slots = model(inputs, mode='tensor')
        kept = torch.bincount(slots.batch_inds, minlength=2)
        assert kept[0] != kept[1], 'test needs differently padded images'
        batched = model.predict(inputs, copy.deepcopy(data_samples))
        single = [
            model.predict(inputs[i:i + 1],
                          copy.deepcopy(data_samples[i:i + 1]))[0]
            for i in range(2)
        ]
    for together, alone in zip(batched, single):
        a, b = together.pred_instances, alone.pred_instances
        assert len(a) == len(b)
        assert torch.equal(a.query_indices, b.query_indices)
        assert torch.equal(a.masks, b.masks)
        for key in ('scores', 'rank_scores', 'keypoints_explicit',
                    'keypoint_scores', 'bboxes'):
            assert torch.allclose(a[key], b[key], atol=1e-4), key


def test_bad_config_keys():
    init_default_scope('mmdet')
    cfg = tiny_model_cfg(test_cfg=dict(obj_thresh=0.2))
    with pytest.raises(KeyError, match='obj_thresh'):
        MODELS.build(cfg)
    cfg = tiny_model_cfg()
    cfg.rank_head.padding_query_pos = 'ones'
    with pytest.raises(ValueError, match='padding_query_pos'):
        MODELS.build(cfg)


def test_predict_on_padded_input(samples):
    """Maps are cropped to ``img_shape`` before resizing to ``ori_shape``;
    coordinates are scaled from the padded input to the output frame."""
    model = build_model()
    model.eval()
    model.test_cfg['merge_duplicates'] = False  # keep every slot
    inputs, data_samples = preprocess(model, samples[:1], False)
    # pretend the image filled only the top-left 48 x 40 of the input
    meta = dict(img_shape=(48, 40), ori_shape=(96, 80))
    data_samples[0].set_metainfo(meta)
    with torch.no_grad():
        pred = model.predict(inputs, data_samples)[0].pred_instances
        _, rank_out, _ = model(inputs, mode='tensor')
    assert pred.masks.shape[1:] == (96, 80)
    # explicit keypoints: normalised over the 64 x 64 input, scaled by 2
    first = pred.query_indices.argmin()  # the query of the first slot
    kpts = rank_out['keypoints'][0, 0, :, :2].sigmoid() * 64 * 2
    assert torch.allclose(pred.keypoints_explicit[first], kpts, atol=1e-4)
    # the padded region's mask logits never reach the output
    maps = torch.zeros(1, 1, 16, 16)
    maps[..., 13:, :] = 5.0  # deep inside the padding (rows >= 52)
    out = to_output_frame(maps,
                          dict(img_shape=(48, 40), batch_input_shape=(64, 64)),
                          (96, 80))
    assert out.shape == (1, 1, 96, 80)
    assert out.abs().max() < 1e-6


def test_inference_dtype(samples):
    """``inference_dtype`` runs the network under autocast; the
    post-processed outputs stay float32; a bad name fails at build time."""
    with pytest.raises(ValueError, match='inference_dtype'):
        build_model(inference_dtype='int8')
    model = build_model(inference_dtype='bfloat16')
    model.eval()
    inputs, data_samples = preprocess(model, samples[:1], False)
    with torch.no_grad():
        _, rank_out, _ = model(inputs, mode='tensor')
        pred = model.predict(inputs, data_samples)[0].pred_instances
    assert rank_out['masks'].dtype == torch.bfloat16
    assert len(pred) >= 1
    assert pred.rank_scores.dtype == pred.keypoints_explicit.dtype == \
        torch.float32


POSE_LOSSES = ('loss_joint', 'loss_joint_vis', 'loss_heatmap')


def _pose_losses(model, samples):
    inputs, data_samples = preprocess(model, samples, True)
    torch.manual_seed(0)
    losses = model(inputs, data_samples, mode='loss')
    return {name: losses[name] for name in POSE_LOSSES}


def test_ignore_unlabelled_poses(samples):
    """Issue 24: persons without keypoints (``keypoints_labelled`` False)
    are left out of the joint, visibility and heatmap losses with
    ``ignore_unlabelled_poses=True``, and train as "no joint visible" by
    default (the reference's behaviour)."""
    batch = copy.deepcopy(samples[:2])
    for sample in batch:
        gt = sample['data_samples'].gt_instances
        assert gt.keypoints_labelled.dtype == torch.bool
        assert gt.keypoints_labelled.all()  # the synthetic data has poses
    # instance 0 of image 0 becomes a person without keypoints, as the
    # dataset gives it: no joint visible ...
    gt0 = batch[0]['data_samples'].gt_instances
    gt0.keypoints_labelled[0] = False
    gt0.keypoints_visible[0] = 0
    gt0.keypoints[0] = 0
    # ... and the same instance with an arbitrary pose
    altered = copy.deepcopy(batch)
    gt_alt = altered[0]['data_samples'].gt_instances
    gt_alt.keypoints_visible[0] = 1
    gt_alt.keypoints[0] = torch.rand_like(gt_alt.keypoints[0]) * 60

    for ignore in (False, True):
        model = build_model(seed=2)
        model.rank_head.ignore_unlabelled_poses = ignore
        model.train()
        first, second = (_pose_losses(model, b) for b in (batch, altered))
        changed = {n for n in POSE_LOSSES if first[n] != second[n]}
        # ignored: the unlabelled instance's pose changes no pose loss;
        # trained: each of the three losses depends on it
        assert changed == (set() if ignore else set(POSE_LOSSES)), ignore

    # every instance unlabelled: the pose losses are zero but keep the
    # graph; by default the visibility loss trains "not visible"
    unlabelled = copy.deepcopy(batch)
    for sample in unlabelled:
        gt = sample['data_samples'].gt_instances
        gt.keypoints_labelled[:] = False
        gt.keypoints_visible[:] = 0
    model = build_model(
        seed=2,
        rank_head=dict(
            tiny_model_cfg().rank_head, ignore_unlabelled_poses=True))
    model.train()
    losses = _pose_losses(model, unlabelled)
    assert all(losses[n].item() == 0 for n in POSE_LOSSES), losses
    sum(losses.values()).backward()
    model = build_model(seed=2)
    model.train()
    assert _pose_losses(model, unlabelled)['loss_joint_vis'].item() > 0
