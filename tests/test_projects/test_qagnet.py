# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""projects/qagnet: parity with the authors' code, the rank loss, the
inference selection, the converter and the tiny config end to end.

``tests/data/qagnet`` holds micro random-weight QAGNet checkpoints in the
reference's detectron2 format (a ResNet-50 and a Swin variant), the
reference's outputs on a fixed batch of two images, random cases of its rank
loss and the key sets of its released R50 / Swin-B / Swin-L models (made by
``projects/qagnet/tools/make_parity_fixtures.py`` from
``github:EricDengbowen/QAGNet``). The checkpoints are converted, loaded
into mmdet's ``Mask2Former`` with ``strict=True`` and every stage compared
at 1e-4 relative tolerance.
"""
import copy
import json
import math
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from posesor.datasets import SORDataset
from posesor.datasets.sor_parsing import SORAnnotationError
from posesor.utils.ckpt_convert import (CheckpointConversionError,
                                        extract_model_state, load_torch_file,
                                        model_state_shapes)
from projects.qagnet.qagnet import (MaxInstancesSORDataset, PairwiseRankLoss,
                                    QAGNetFusionHead, QAGNetHead,
                                    pairwise_rank_loss)
from projects.qagnet.qagnet.ckpt_convert import convert_qagnet

ROOT = osp.join(osp.dirname(__file__), '..', '..')
DATA = osp.join(ROOT, 'tests', 'data', 'qagnet')
CONFIG = osp.join(DATA, 'qagnet_micro_config.py')
TINY = 'projects/qagnet/configs/qagnet_tiny_synthetic.py'
RELEASED = {
    'r50': 'projects/qagnet/configs/qagnet_r50_1024_assr.py',
    'swinb': 'projects/qagnet/configs/qagnet_swinb_1024_irsr.py',
    'swinl': 'projects/qagnet/configs/qagnet_swinl_1024_assr.py',
}
RTOL = 1e-4
LEVELS = ('res2', 'res3', 'res4', 'res5')
GRAPH_LAYERS = {'r50': 2, 'swin': 3}


def assert_rel_close(actual, expected, what):
    """Max abs error <= RTOL * max |expected|."""
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    if expected.numel() == 0:
        return
    scale = expected.abs().max().clamp(min=1e-12)
    err = (actual.float() - expected.float()).abs().max() / scale
    assert err <= RTOL, f'{what}: relative error {err:.3g} > {RTOL}'


def micro_cfg(variant: str) -> Config:
    cfg = Config.fromfile(CONFIG)
    if variant == 'swin':
        cfg.model.backbone = cfg.swin_backbone
        cfg.model.panoptic_head.in_channels = [8, 16, 32, 64]
    cfg.model.panoptic_head.graph.num_layers = GRAPH_LAYERS[variant]
    return cfg


def converted_model(variant: str):
    cfg = micro_cfg(variant)
    path = osp.join(DATA, f'qagnet_micro_{variant}_d2.pth')
    state = extract_model_state(load_torch_file(path), path)
    converted = convert_qagnet(
        state, expected=model_state_shapes(cfg.model), source=path)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    missing, unexpected = model.load_state_dict(converted, strict=True)
    assert not missing and not unexpected
    return model.eval()


@pytest.fixture(scope='module', params=sorted(GRAPH_LAYERS))
def parity(request):
    """(model, fixture, inputs, data samples) for one micro variant."""
    model = converted_model(request.param)
    fixture = torch.load(
        osp.join(DATA, f'qagnet_micro_{request.param}_outputs.pth'),
        weights_only=True)
    samples = [
        DetDataSample(
            metainfo=dict(
                img_shape=tuple(img.shape[-2:]),
                ori_shape=tuple(hw.tolist()),
                scale_factor=(1.0, 1.0)))
        for img, hw in zip(fixture['images'], fixture['original_sizes'])
    ]
    # the reference reads RGB; the pipeline delivers BGR
    data = model.data_preprocessor(
        dict(
            inputs=[img.flip(0) for img in fixture['images']],
            data_samples=samples),
        training=False)
    return model, fixture, data['inputs'], data['data_samples']


def test_features_queries_and_scores(parity):
    model, fixture, inputs, samples = parity
    head = model.panoptic_head
    queries = []
    hooks = [
        layer.register_forward_hook(lambda m, i, o: queries.append(o))
        for layer in head.transformer_decoder.layers
    ]
    try:
        with torch.no_grad():
            feats = model.extract_feat(inputs)
            mask_features, multi_scale = head.pixel_decoder(feats)
            cls_preds, mask_preds, ranks, side = head(feats, samples)
    finally:
        for hook in hooks:
            hook.remove()
    for key, feat in zip(LEVELS, feats):
        assert_rel_close(feat, fixture['backbone'][key], f'backbone {key}')
    assert_rel_close(mask_features, fixture['mask_features'], 'mask features')
    for i, (ours, ref) in enumerate(
            zip(multi_scale, fixture['multi_scale_features'])):
        assert_rel_close(ours, ref, f'pixel decoder level {i}')
    assert len(queries) == len(fixture['queries']) == 9
    for i, (ours, ref) in enumerate(zip(queries, fixture['queries'])):
        assert_rel_close(ours, ref, f'decoder layer {i} queries')
    for i, (ours, ref) in enumerate(zip(cls_preds, fixture['pred_logits'])):
        assert_rel_close(ours, ref, f'class logits {i}')
    assert_rel_close(mask_preds[-1], fixture['pred_masks'], 'mask logits')
    assert_rel_close(ranks, fixture['rank_scores'], 'saliency scores')
    assert len(side) == len(fixture['side_rank_scores'])
    for k, (ours, ref) in enumerate(zip(side, fixture['side_rank_scores'])):
        assert_rel_close(ours, ref, f'side scores {k}')


def test_final_instances(parity):
    model, fixture, inputs, samples = parity
    model.panoptic_fusion_head.test_cfg.score_thr = -1.0  # keep the top 5
    try:
        with torch.no_grad():
            preds = model.predict(inputs, copy.deepcopy(samples))
    finally:
        model.panoptic_fusion_head.test_cfg.score_thr = 0.7
    for pred, ref in zip(preds, fixture['results']):
        inst = pred.pred_instances
        order = ref['rank_scores'].argsort(descending=True)
        assert len(inst) == len(order) == 5
        assert inst.ranks.tolist() == [1, 2, 3, 4, 5]
        assert_rel_close(inst.rank_scores, ref['rank_scores'][order],
                         'rank scores')
        assert_rel_close(inst.scores, ref['scores'][order], 'scores')
        ref_masks = ref['mask_probs'][order] > 0.5
        assert inst.masks.shape == ref_masks.shape
        # binary masks agree except where a probability is at 0.5
        differ = (inst.masks != ref_masks).sum()
        assert differ <= 1e-3 * ref_masks.numel(), differ


def test_rank_loss_equals_the_reference():
    cases = torch.load(
        osp.join(DATA, 'qagnet_rank_loss_cases.pth'), weights_only=True)
    for case in cases['pairs']:
        ours = pairwise_rank_loss(case['scores'][:, 0], case['ranks'])
        assert torch.allclose(ours, case['loss'], rtol=RTOL, atol=1e-6)
    loss = PairwiseRankLoss(loss_weight=1.0)
    for batch in cases['batches']:
        scores = [
            s[q, 0] for s, (q, _) in zip(batch['scores'], batch['indices'])
        ]
        levels = [r[g] for r, (_, g) in zip(batch['ranks'], batch['indices'])]
        assert torch.allclose(
            loss(scores, levels), batch['loss'], rtol=RTOL, atol=1e-6)


def test_rank_loss_by_hand():
    # two objects, the more salient (level 1) scored lower: one pair, gap 1,
    # W = 1 * 1
    scores = torch.tensor([0.5, 2.0])
    levels = torch.tensor([1, 0])
    expected = math.log(1 + math.exp(2.0 - 0.5))
    assert pairwise_rank_loss(scores, levels).item() == pytest.approx(
        expected, rel=1e-6)
    # three objects, levels 2 > 1 > 0, equal scores: pairs weigh 1, 2, 1 and
    # W = 1 * 2 + 2 * 1 = 4
    three = pairwise_rank_loss(torch.zeros(3), torch.tensor([2, 1, 0]))
    assert three.item() == pytest.approx(4 * math.log(2) / 4, rel=1e-6)
    # ties add nothing; one object (the reference's 0 / 0) gives 0
    assert pairwise_rank_loss(torch.ones(2), torch.tensor([3, 3])) == 0
    single = torch.tensor([1.5], requires_grad=True)
    out = pairwise_rank_loss(single, torch.tensor([4]))
    assert out.item() == 0.0
    out.backward()
    assert single.grad.tolist() == [0.0]
    # the batch average counts every image; the weight scales it
    loss = PairwiseRankLoss(loss_weight=5.0)
    batch = loss([scores, single.detach()], [levels, torch.tensor([4])])
    assert batch.item() == pytest.approx(5.0 * expected / 2, rel=1e-6)
    with pytest.raises(ValueError, match='empty batch'):
        loss([], [])


def test_fusion_head_selection_by_hand():
    head = QAGNetFusionHead(
        num_things_classes=1,
        num_stuff_classes=0,
        test_cfg=dict(max_per_image=3, score_thr=0.7, mask_thr=0.5))
    # 4 queries: class logits (salient, no-object) and the saliency score
    cls = torch.tensor([[4.0, 0.0], [3.0, 0.0], [-2.0, 0.0], [5.0, 0.0]])
    saliency = torch.tensor([0.1, 0.9, 2.0, -0.3])
    masks = torch.full((4, 6, 8), -10.0)
    masks[0, :3] = 10.0  # confident mask
    masks[1, 3:] = 10.0
    masks[2, :, :4] = 10.0
    masks[3, :2, :2] = 0.05  # barely inside: mean probability ~0.51
    out = head.instance_postprocess(
        torch.cat([cls, saliency[:, None]], dim=1), masks)
    probs = cls.softmax(-1)[:, 0]
    # top 3 by class probability: queries 3, 0, 1 (2 is dropped); query 3's
    # mean mask probability keeps its score below 0.7
    assert out.query_indices.tolist() == [1, 0]  # by saliency, descending
    assert out.ranks.tolist() == [1, 2]
    assert out.rank_scores.tolist() == pytest.approx([0.9, 0.1])
    mean_prob = torch.sigmoid(torch.tensor(10.0))
    assert out.scores.tolist() == pytest.approx([(probs[1] * mean_prob).item(),
                                                 (probs[0] * mean_prob).item()
                                                 ])
    assert out.masks.dtype == torch.bool
    assert out.masks[1].sum() == 3 * 8 and out.labels.tolist() == [0, 0]
    assert out.bboxes[1].tolist() == [0.0, 0.0, 8.0, 3.0]


def test_ranked_ground_truth():
    sample = DetDataSample(metainfo=dict(img_id=7))
    sample.gt_instances = InstanceData(
        ranks=torch.tensor([2, 0, 1]),
        labels=torch.tensor([5, 5, 5]),
        masks=torch.zeros(3, 4, 4))
    ranked = QAGNetHead.ranked_gt(sample)
    assert ranked.ranks.tolist() == [2, 1]
    assert ranked.labels.tolist() == [0, 0]
    sample.gt_instances = InstanceData(labels=torch.tensor([0]))
    with pytest.raises(KeyError, match='image id 7'):
        QAGNetHead.ranked_gt(sample)
    sample.gt_instances = InstanceData(ranks=torch.tensor([-1]))
    with pytest.raises(ValueError, match='negative rank'):
        QAGNetHead.ranked_gt(sample)


def test_rank_losses_use_the_last_stage_assignment():
    cfg = micro_cfg('r50')
    cfg.model.train_cfg.num_points = 64
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    head = model.panoptic_head
    samples = []
    for ranks in ([2, 0, 1, 3], [1, 2]):
        masks = torch.zeros(len(ranks), 64, 64, dtype=torch.uint8)
        for i in range(len(ranks)):
            masks[i, 8 * i:8 * i + 20, 4 * i:4 * i + 30] = 1
        sample = DetDataSample(
            metainfo=dict(img_shape=(64, 64), batch_input_shape=(64, 64)))
        sample.gt_instances = InstanceData(
            ranks=torch.tensor(ranks),
            labels=torch.zeros(len(ranks), dtype=torch.long),
            masks=BitmapMasks(masks.numpy(), 64, 64))
        samples.append(sample)
    # record every Hungarian assignment, the rank loss's inputs and the
    # graph's scores of the one training forward
    assigned, calls, outputs = [], [], []
    assign, rank_loss, graph = (head.assigner.assign, head.loss_rank.forward,
                                head.graph.forward)

    def record_assign(**kwargs):
        assigned.append(assign(**kwargs))
        return assigned[-1]

    def record_loss(scores, levels):
        calls.append((scores, levels))
        return rank_loss(scores, levels)

    def record_graph(queries):
        outputs.append(graph(queries))
        return outputs[-1]

    head.assigner.assign = record_assign
    head.loss_rank.forward = record_loss
    head.graph.forward = record_graph
    losses = model.loss(torch.randn(2, 3, 64, 64), samples)
    num_stages = len(head.transformer_decoder.layers) + 1
    assert len(assigned) == 2 * num_stages
    (matched, levels), = calls
    (scores, _), = outputs
    for image, (result,
                ranks) in enumerate(zip(assigned[-2:], ([2, 1, 3], [1, 2]))):
        gt_inds = result.gt_inds  # 1-based, 0 = unassigned
        queries = torch.nonzero(gt_inds > 0).flatten()
        # unranked objects are background; saliency = -rank
        assert sorted(levels[image].tolist()) == sorted(-r for r in ranks)
        expected = [-ranks[int(gt_inds[q]) - 1] for q in queries]
        assert levels[image].tolist() == expected
        assert torch.equal(matched[image], scores[image, queries])
    assert set(losses) >= {'loss_rank', 's0.loss_rank', 's1.loss_rank'}
    assert torch.isfinite(losses['loss_rank'])


def test_crowded_training_images_are_skipped(synthetic_dataset):
    common = dict(
        data_root=synthetic_dataset,
        ann_file='synthetic_train.json',
        data_prefix=dict(img='images/train/'),
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=[])
    full = SORDataset(**common)
    counts = [
        len(full.get_data_info(i)['instances']) for i in range(len(full))
    ]
    limit = sorted(counts)[len(counts) // 2]
    dataset = MaxInstancesSORDataset(max_instances=limit, **common)
    assert dataset.num_crowded_images == sum(n > limit for n in counts) > 0
    assert len(dataset) == sum(n <= limit for n in counts)
    assert all(
        len(dataset.get_data_info(i)['instances']) <= limit
        for i in range(len(dataset)))
    test = MaxInstancesSORDataset(
        max_instances=limit, **dict(common, test_mode=True))
    assert len(test) == len(counts) and test.num_crowded_images == 0
    with pytest.raises(
            SORAnnotationError, match=f'more than {min(counts) - 1}'):
        MaxInstancesSORDataset(max_instances=min(counts) - 1, **common)
    with pytest.raises(ValueError, match='max_instances must be >= 1'):
        MaxInstancesSORDataset(max_instances=0, **common)


@pytest.mark.parametrize('name', sorted(RELEASED))
def test_converter_maps_the_released_key_sets(name):
    """A checkpoint with the released model's keys and shapes (meta tensors)
    converts exactly into the model the config builds."""
    with open(osp.join(DATA, f'qagnet_{name}_state_dict_shapes.json')) as f:
        shapes = json.load(f)
    state = {k: torch.empty(v, device='meta') for k, v in shapes.items()}
    expected = model_state_shapes(
        Config.fromfile(osp.join(ROOT, RELEASED[name])).model)
    converted = convert_qagnet(state, expected, source=name)
    assert set(converted) == set(expected)


def test_converter_error_cases(tmp_path):
    cfg = micro_cfg('r50')
    shapes = model_state_shapes(cfg.model)
    path = osp.join(DATA, 'qagnet_micro_r50_d2.pth')
    state = extract_model_state(load_torch_file(path), path)
    assert len(convert_qagnet(state, shapes)) == len(shapes)

    extra = dict(state,
                 **{'sem_seg_head.predictor.extra.weight': torch.ones(1)})
    with pytest.raises(CheckpointConversionError, match='no conversion rule'):
        convert_qagnet(extra, shapes)
    unknown = dict(state, **{'relation_head.fc.weight': torch.ones(1)})
    with pytest.raises(CheckpointConversionError, match='outside the known'):
        convert_qagnet(unknown, shapes)
    missing = {k: v for k, v in state.items() if 'mig_units_final2' not in k}
    with pytest.raises(CheckpointConversionError, match='missing'):
        convert_qagnet(missing, shapes)
    # a 2-layer graph does not fit the 3-layer Swin variant's head
    with pytest.raises(CheckpointConversionError, match='not in the model'):
        convert_qagnet(state, model_state_shapes(micro_cfg('swin').model))
    wide = dict(state)
    wide['sem_seg_head.predictor.query_feat.weight'] = torch.zeros(9, 32)
    with pytest.raises(CheckpointConversionError, match='shape mismatch'):
        convert_qagnet(wide, shapes)

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
    cli = load_script('projects/qagnet/tools/qagnet_to_mmdet.py')
    dst = tmp_path / 'out.pth'
    # the micro config is the R50 variant: the Swin checkpoint is refused
    with pytest.raises(CheckpointConversionError, match='not in the model'):
        cli.main([
            osp.join(DATA, 'qagnet_micro_swin_d2.pth'),
            str(dst), '--config', CONFIG
        ])
    assert not dst.exists()
    assert cli.main([
        osp.join(DATA, 'qagnet_micro_r50_d2.pth'),
        str(dst), '--config', CONFIG
    ]) == 0
    converted = torch.load(str(dst), weights_only=True)['state_dict']
    assert set(converted) == set(model_state_shapes(micro_cfg('r50').model))


def test_graph_backpropagates_to_every_query():
    cfg = micro_cfg('r50')
    with DefaultScope.overwrite_default_scope('mmdet'):
        graph = MODELS.build(
            dict(cfg.model.panoptic_head.graph, embed_dims=32, num_scales=3))
    graph.init_weights()
    queries = [torch.randn(2, 8, 32, requires_grad=True) for _ in range(9)]
    scores, side = graph(queries)
    assert scores.shape == (2, 8) and [s.shape for s in side] == [(2, 8)] * 2
    (scores.sum() + sum(s.sum() for s in side)).backward()
    assert all(q.grad is not None and q.grad.abs().sum() > 0 for q in queries)
    with pytest.raises(ValueError, match='do not split evenly'):
        graph(queries[:8])
    # mixed precision (AMP trains the released models): absent edges still
    # get no weight
    graph.eval()
    with torch.no_grad():
        full, _ = graph([q.detach() for q in queries])
        with torch.autocast('cpu', dtype=torch.bfloat16):
            half, _ = graph([q.detach() for q in queries])
    assert torch.isfinite(half).all()
    assert torch.allclose(half.float(), full, rtol=0.05, atol=0.05)
    gat = graph.final_instance_graphs[0]
    nodes = torch.randn(4, 32).half()
    adjacency = torch.eye(4, dtype=torch.bool)
    gat.half()
    assert torch.equal(
        gat(nodes, adjacency), torch.nn.functional.elu(gat.node_proj(nodes)))


def test_tiny_config_trains_and_tests(synthetic_dataset, tmp_path,
                                      train_and_test):
    out = train_and_test(TINY, synthetic_dataset, str(tmp_path / 'qagnet'))
    assert len(out['losses']) == 2
    assert all(math.isfinite(v) and v > 0 for v in out['losses'])
    for key in ('sor/sa_sor', 'sor/sor', 'sor/mae'):
        assert math.isfinite(out['metrics'][key]), out['metrics']
    assert 0.0 <= out['metrics']['sor/mae'] <= 1.0
    logged = out['runner'].message_hub.log_scalars
    for key in ('loss_rank', 's0.loss_rank', 's1.loss_rank', 'loss_cls',
                'd8.loss_mask'):
        assert f'train/{key}' in logged, sorted(logged)
