# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Parity with the authors' detectron2 implementation.

``../shared/parity`` holds a reference-format checkpoint of a micro PoseSOR,
and the reference's intermediate and final outputs on a fixed 128x128 input
(see its README). The checkpoint is converted with our converter, loaded
with ``strict=True`` into the model of ``tests/data/posesor_micro_config.py``
and every stage is compared at ~1e-4 relative tolerance.
"""
import os
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope

import posesor  # noqa: F401
from posesor.utils.ckpt_convert import (convert_posesor, extract_model_state,
                                        load_torch_file, model_state_shapes)

ROOT = osp.join(osp.dirname(__file__), '..', '..')
PARITY_DIR = os.environ.get('POSESOR_PARITY_DIR',
                            osp.join(ROOT, '..', 'shared', 'parity'))
CONFIG = osp.join(ROOT, 'tests', 'data', 'posesor_micro_config.py')
RTOL = 1e-4
LEVELS = ('res2', 'res3', 'res4', 'res5')

pytestmark = pytest.mark.skipif(
    not osp.isfile(osp.join(PARITY_DIR, 'posesor_micro_d2.pth')),
    reason='parity fixtures (../shared/parity) not available')


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor,
                     what: str) -> None:
    """Max abs error <= RTOL * max |expected| (relative to the tensor)."""
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    scale = expected.abs().max().clamp(min=1e-12)
    err = (actual.float() - expected.float()).abs().max() / scale
    assert err <= RTOL, f'{what}: relative error {err:.3g} > {RTOL}'


@pytest.fixture(scope='module')
def parity():
    """(model, fixture outputs, batch inputs, data samples)."""
    cfg = Config.fromfile(CONFIG)
    state = extract_model_state(
        load_torch_file(osp.join(PARITY_DIR, 'posesor_micro_d2.pth')),
        'posesor_micro_d2.pth')
    converted = convert_posesor(
        state,
        expected=model_state_shapes(cfg.model),
        source='posesor_micro_d2.pth')
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    missing, unexpected = model.load_state_dict(converted, strict=True)
    assert not missing and not unexpected
    model.eval()

    fixture = torch.load(
        osp.join(PARITY_DIR, 'posesor_micro_outputs.pth'), weights_only=True)
    image = fixture['input']['image']
    h, w = image.shape[-2:]
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(h, w),
            ori_shape=(fixture['input']['height'], fixture['input']['width']),
            pad_shape=(h, w),
            scale_factor=(1.0, 1.0)))
    data = model.data_preprocessor(
        dict(inputs=[image], data_samples=[sample]), training=False)
    return model, fixture, data['inputs'], data['data_samples']


def test_state_dict_loads_strict(parity):
    model, _, _, _ = parity
    assert sum(p.numel() for p in model.parameters()) == 3187074


def test_backbone_and_neck_features(parity):
    model, fixture, inputs, _ = parity
    with torch.no_grad():
        backbone = model.backbone(inputs)
        neck = model.extract_feat(inputs)
    for key, feat in zip(LEVELS, backbone):
        assert_rel_close(feat, fixture['features']['backbone'][key],
                         f'backbone {key}')
    for key in LEVELS:
        assert_rel_close(neck[key], fixture['features']['neck'][key],
                         f'neck {key}')


def test_decoder_pai_pdr_outputs(parity):
    model, fixture, inputs, _ = parity
    with torch.no_grad():
        instance_out, rank_out, slots = model._forward(inputs)
    raw = fixture['raw_module_outputs']
    for key, ref in raw['instance_seg'].items():
        assert_rel_close(instance_out[key], ref, f'decoder {key}')
    assert len(slots.query_inds) == fixture['n_hits']
    assert slots.query_inds.tolist() == sorted(slots.query_inds.tolist())
    for key, ref in raw['actor_interaction'].items():
        assert_rel_close(rank_out[key], ref, f'PAI {key}')
    for key, ref in raw['pose_shift'].items():
        assert_rel_close(rank_out[key], ref, f'PDR {key}')


def test_final_outputs(parity):
    model, fixture, inputs, samples = parity
    with torch.no_grad():
        pred = model.predict(inputs, samples)[0].pred_instances
    ref = fixture['outputs']
    height, width = fixture['input']['height'], fixture['input']['width']
    assert len(pred) == ref['num']
    assert_rel_close(pred.scores, ref['scores'], 'scores')
    assert_rel_close(pred.rank_scores, ref['saliency'], 'rank scores')
    assert pred.ranks.tolist() == list(range(1, ref['num'] + 1))
    assert pred.masks.shape == (ref['num'], height, width)
    # binary masks agree except where the logit is at the threshold
    differ = pred.masks != ref['masks'].bool()
    assert differ.float().mean() < 1e-3, differ.sum()
    size = torch.tensor([width, height], dtype=torch.float32)
    assert_rel_close(pred.keypoints_explicit / size,
                     ref['explict_joints'][..., :2], 'explicit keypoints')
    assert_rel_close(pred.keypoint_scores, ref['explict_joints'][..., 2],
                     'keypoint scores')
    assert_rel_close(pred.keypoint_scores, ref['joints'][..., 2],
                     'joint visibility')
    assert_rel_close(pred.bboxes, ref['bboxes'], 'boxes')
    assert_rel_close(pred.heatmaps, ref['heatmaps'], 'heatmaps')
    assert_rel_close(pred.partitions, ref['partitions'], 'partitions')
    # heatmap argmax joints: identical unless the maximum is a near-tie
    joints = pred.keypoints / size
    moved = (joints - ref['joints'][..., :2]).abs().amax(-1) > 1e-6
    for n, k in moved.nonzero().tolist():
        heat = pred.heatmaps[n, k]
        ours = heat[pred.keypoints[n, k, 1].long(), pred.keypoints[n, k,
                                                                   0].long()]
        theirs = heat[int(round(ref['joints'][n, k, 1].item() * height)),
                      int(round(ref['joints'][n, k, 0].item() * width))]
        assert (ours - theirs).abs() <= RTOL * ours.abs(), (n, k)
