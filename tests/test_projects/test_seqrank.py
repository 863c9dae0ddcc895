# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""projects/seqrank: parity with the authors' code, the converter's error
cases, the ranking rules and the tiny config end to end.

``tests/data/seqrank`` holds micro random-weight SeqRank checkpoints in the
reference's detectron2 format and the reference's outputs on a fixed batch
of two images (made by ``projects/seqrank/tools/make_parity_fixtures.py``
from ``github:guanhuankang/SeqRank``). The checkpoint is converted, loaded
with ``strict=True`` and every stage compared at ~1e-4 relative tolerance.
"""
import math
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmengine.config import Config
from mmengine.registry import DefaultScope

from posesor.utils.ckpt_convert import (CheckpointConversionError,
                                        extract_model_state, load_torch_file,
                                        model_state_shapes)
from projects.seqrank.seqrank import SequentialRanker
from projects.seqrank.seqrank.ckpt_convert import convert_seqrank
from projects.seqrank.seqrank.seqrank_criterion import boxes_from_masks

ROOT = osp.join(osp.dirname(__file__), '..', '..')
DATA = osp.join(ROOT, 'tests', 'data', 'seqrank')
CONFIG = osp.join(DATA, 'seqrank_micro_config.py')
TINY = 'projects/seqrank/configs/seqrank_tiny_synthetic.py'
RTOL = 1e-4
LEVELS = ('res2', 'res3', 'res4', 'res5')
NECKS = {'frcpn': 'FrcPN', 'fpn': 'SORFPN'}


def assert_rel_close(actual, expected, what):
    """Max abs error <= RTOL * max |expected|."""
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    if expected.numel() == 0:
        return
    scale = expected.abs().max().clamp(min=1e-12)
    err = (actual.float() - expected.float()).abs().max() / scale
    assert err <= RTOL, f'{what}: relative error {err:.3g} > {RTOL}'


def micro_cfg(neck: str) -> Config:
    cfg = Config.fromfile(CONFIG)
    cfg.model.neck.type = NECKS[neck]
    return cfg


def converted_model(neck: str):
    cfg = micro_cfg(neck)
    path = osp.join(DATA, f'seqrank_micro_{neck}_d2.pth')
    state = extract_model_state(load_torch_file(path), path)
    converted = convert_seqrank(
        state, expected=model_state_shapes(cfg.model), source=path)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    missing, unexpected = model.load_state_dict(converted, strict=True)
    assert not missing and not unexpected
    return model.eval(), state


@pytest.fixture(scope='module', params=sorted(NECKS))
def parity(request):
    """(model, fixture, inputs, data samples) for one neck variant."""
    neck = request.param
    model, _ = converted_model(neck)
    fixture = torch.load(
        osp.join(DATA, f'seqrank_micro_{neck}_outputs.pth'), weights_only=True)
    images = fixture['images']
    size = tuple(images.shape[-2:])
    samples = [
        DetDataSample(
            metainfo=dict(
                img_shape=size,
                ori_shape=tuple(hw.tolist()),
                scale_factor=(1.0, 1.0))) for hw in fixture['original_sizes']
    ]
    # the reference reads RGB; the pipeline delivers BGR
    data = model.data_preprocessor(
        dict(inputs=[img.flip(0) for img in images], data_samples=samples),
        training=False)
    return model, fixture, data['inputs'], data['data_samples']


def test_features_and_instances(parity):
    model, fixture, inputs, _ = parity
    with torch.no_grad():
        backbone = model.backbone(inputs)
        instance_out, ranker_inputs = model._decode(inputs)
        neck = model.extract_feat(inputs)
    for key, feat in zip(LEVELS, backbone):
        assert_rel_close(feat, fixture['backbone'][key], f'backbone {key}')
    for key in LEVELS:
        assert_rel_close(neck[key], fixture['neck'][key], f'neck {key}')
    ref = fixture['instance']
    for key in ('masks', 'scores', 'bboxes'):
        assert_rel_close(instance_out[key], ref[key], f'decoder {key}')
    assert_rel_close(ranker_inputs['query'], ref['query'], 'queries')
    first = model.ranker(
        visited=torch.zeros_like(instance_out['scores']), **ranker_inputs)
    assert_rel_close(first, fixture['first_rank_logits'], 'ranking step 1')


def test_final_outputs(parity):
    model, fixture, inputs, samples = parity
    with torch.no_grad():
        preds = model.predict(inputs, samples)
    for pred, ref in zip(preds, fixture['results']):
        inst = pred.pred_instances
        assert len(inst) == ref['num']
        assert inst.ranks.tolist() == list(range(1, ref['num'] + 1))
        assert_rel_close(inst.scores, ref['scores'], 'objectness')
        assert_rel_close(inst.rank_scores, ref['saliency'], 'saliency')
        assert_rel_close(inst.bboxes, ref['bboxes'], 'boxes')
        assert inst.masks.shape == ref['masks'].shape
        # binary masks agree except where a logit is at the threshold
        differ = (inst.masks != ref['masks']).sum()
        assert differ <= 1e-3 * ref['masks'].numel(), differ


def test_converter_error_cases(tmp_path):
    cfg = micro_cfg('frcpn')
    shapes = model_state_shapes(cfg.model)
    state = extract_model_state(
        load_torch_file(osp.join(DATA, 'seqrank_micro_frcpn_d2.pth')), 'ckpt')
    assert len(convert_seqrank(state, shapes)) == len(shapes)

    extra = dict(state, **{'gaze_shift.blocks.0.extra.weight': torch.ones(1)})
    with pytest.raises(CheckpointConversionError, match='no conversion rule'):
        convert_seqrank(extra, shapes)
    unknown = dict(state, **{'sem_head.weight': torch.ones(1)})
    with pytest.raises(CheckpointConversionError, match='outside the known'):
        convert_seqrank(unknown, shapes)
    missing = {k: v for k, v in state.items() if not k.startswith('pe_layer')}
    with pytest.raises(CheckpointConversionError, match='missing'):
        convert_seqrank(missing, shapes)
    # a FrcPN checkpoint does not fit the FPN variant (and vice versa)
    with pytest.raises(CheckpointConversionError, match='not in the model'):
        convert_seqrank(state, model_state_shapes(micro_cfg('fpn').model))
    wide = dict(state)
    wide['instance_seg.q'] = torch.zeros(1, 10, 48)
    with pytest.raises(CheckpointConversionError, match='shape mismatch'):
        convert_seqrank(wide, shapes)

    bad = tmp_path / 'truncated.pth'
    torch.save({'model': state}, str(bad))
    bad.write_bytes(bad.read_bytes()[:1000])
    with pytest.raises(CheckpointConversionError, match='truncated.pth'):
        load_torch_file(str(bad))
    torch.save({'state_dict': {}}, str(tmp_path / 'mm.pth'))
    with pytest.raises(CheckpointConversionError, match='"model"'):
        extract_model_state(
            load_torch_file(str(tmp_path / 'mm.pth')), 'mm.pth')


def test_converter_cli(tmp_path, load_script):
    cli = load_script('projects/seqrank/tools/seqrank_to_mmdet.py')
    dst = tmp_path / 'out.pth'
    # the micro config's neck is FrcPN: the FPN checkpoint is refused
    with pytest.raises(CheckpointConversionError, match='not in the model'):
        cli.main([
            osp.join(DATA, 'seqrank_micro_fpn_d2.pth'),
            str(dst), '--config', CONFIG
        ])
    assert not dst.exists()
    assert cli.main([
        osp.join(DATA, 'seqrank_micro_frcpn_d2.pth'),
        str(dst), '--config', CONFIG
    ]) == 0
    converted = torch.load(str(dst), weights_only=True)['state_dict']
    assert set(converted) == set(model_state_shapes(micro_cfg('frcpn').model))


def test_visits_split_into_visited_and_fixated():
    visited = torch.tensor([[[0.], [2.], [1.], [0.]], [[0.], [0.], [0.],
                                                       [0.]]])
    seen, fixated = SequentialRanker.split_visits(visited)
    assert seen[..., 0].tolist() == [[0, 1, 1, 0], [0, 0, 0, 0]]
    assert fixated[..., 0].tolist() == [[0, 1, 0, 0], [0, 0, 0, 0]]


def test_boxes_from_masks_by_hand():
    masks = torch.zeros(2, 4, 8)
    masks[0, 1:3, 2:6] = 1
    boxes = boxes_from_masks(masks)
    # last foreground column/row (5, 2), divided by the grid (8, 4)
    assert torch.allclose(boxes[0], torch.tensor([2 / 8, 1 / 4, 5 / 8, 2 / 4]))
    assert boxes[1].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_tiny_config_trains_and_tests(synthetic_dataset, tmp_path,
                                      train_and_test):
    out = train_and_test(TINY, synthetic_dataset, str(tmp_path / 'seqrank'))
    assert len(out['losses']) == 2
    assert all(math.isfinite(v) and v > 0 for v in out['losses'])
    for key in ('sor/sa_sor', 'sor/sor', 'sor/mae'):
        assert math.isfinite(out['metrics'][key]), out['metrics']
    assert 0.0 <= out['metrics']['sor/mae'] <= 1.0
    logged = out['runner'].message_hub.log_scalars
    assert 'train/loss_rank' in logged and 'train/loss_obj' in logged
