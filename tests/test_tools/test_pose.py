# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The optional mmpose top-down pose estimator (random-weight tiny model)."""
import json
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from conftest import load_tool, run_tool
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

pytest.importorskip('mmpose')


@pytest.fixture(scope='module')
def refiner(tiny_pose_model):
    from posesor.apis import build_pose_refiner
    config, checkpoint = tiny_pose_model
    return build_pose_refiner(
        dict(
            config=config,
            checkpoint=checkpoint,
            visible_thr=0.5,
            min_visible_keypoints=3))


def _direct_mmpose(config, checkpoint, image, bboxes):
    """Keypoints straight from mmpose's own API, for comparison."""
    from mmpose.apis import inference_topdown, init_model
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = init_model(config, checkpoint, device='cpu')
        samples = inference_topdown(model, image, bboxes, bbox_format='xyxy')
    return np.concatenate([s.pred_instances.keypoints for s in samples])


def test_person_rule_sources_and_scope(refiner, tiny_pose_model):
    from mmdet.registry import MODELS
    config, checkpoint = tiny_pose_model
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    scores = torch.zeros(5, 17)
    scores[0] = 0.9  # all joints visible: person
    scores[1, :2] = 0.9  # two visible joints < min_visible_keypoints
    scores[2, :3] = 0.5  # exactly three at the threshold: person
    scores[3] = 0.49  # just below the threshold everywhere
    scores[4] = 0.9  # a person, but its box is degenerate
    bboxes = torch.tensor([[10., 10., 60., 100.], [50., 20., 150., 110.],
                           [30., 5., 90., 115.], [0., 0., 40., 40.],
                           [5., 5., 5.5, 30.]])
    keypoints = torch.full((5, 17, 2), -7.0)
    pred = InstanceData(
        bboxes=bboxes, keypoints=keypoints.clone(), keypoint_scores=scores)
    with DefaultScope.overwrite_default_scope('mmdet'):
        refiner.refine_instances(image, pred)
        # the caller's scope is intact: mmdet names resolve in mmdet
        assert DefaultScope.get_current_instance().scope_name == 'mmdet'
        resnet = MODELS.build(dict(type='ResNet', depth=18))
        assert type(resnet).__module__.startswith('mmdet.')
    assert pred.keypoint_source == [
        'mmpose', 'posesor', 'mmpose', 'posesor', 'posesor'
    ]
    for i in (1, 3, 4):  # untouched
        assert (pred.keypoints[i] == -7.0).all()
        assert torch.equal(pred.keypoint_scores[i], scores[i])
    expected = _direct_mmpose(config, checkpoint, image, bboxes[[0,
                                                                 2]].numpy())
    np.testing.assert_allclose(
        pred.keypoints[[0, 2]].numpy(), expected, rtol=1e-5, atol=1e-3)


def test_inferencer_with_pose_estimator(trained, tiny_pose_model,
                                        synthetic_dataset):
    from posesor.apis import SORInferencer
    config, checkpoint = tiny_pose_model
    image = osp.join(synthetic_dataset, 'images', 'test', '000002.jpg')
    plain = SORInferencer(
        trained['config'], trained['checkpoint'], show_progress=False)
    (base, ) = plain(image)['predictions']
    pose = dict(config=config, checkpoint=checkpoint, visible_thr=0.5)
    with_pose = SORInferencer(
        trained['config'],
        trained['checkpoint'],
        pose_estimator=pose,
        show_progress=False)
    (pred, ) = with_pose(image)['predictions']
    # documented rule: >= 1 PoseSOR keypoint score >= 0.5 means a person
    person = [(np.asarray(s) >= 0.5).sum() >= 1
              for s in base['keypoint_scores']]
    assert pred['keypoint_source'] == [
        'mmpose' if p else 'posesor' for p in person
    ]
    np.testing.assert_allclose(pred['rank_scores'], base['rank_scores'])
    for i, is_person in enumerate(person):
        if not is_person:
            np.testing.assert_allclose(pred['keypoints'][i],
                                       base['keypoints'][i])

    # every instance a person: all keypoints from mmpose on the boxes
    pose['visible_thr'] = 0.0
    all_pose = SORInferencer(
        trained['config'],
        trained['checkpoint'],
        pose_estimator=pose,
        show_progress=False)
    (pred, ) = all_pose(image)['predictions']
    boxes = np.asarray(base['bboxes'], np.float32)
    big = ((boxes[:, 2:] - boxes[:, :2]) >= 1).all(axis=1)
    assert big.any()
    assert pred['keypoint_source'] == [
        'mmpose' if ok else 'posesor' for ok in big
    ]
    import mmcv
    expected = _direct_mmpose(config, checkpoint, mmcv.imread(image),
                              boxes[big])
    np.testing.assert_allclose(
        np.asarray(pred['keypoints'])[big], expected, rtol=1e-5, atol=1e-3)


def test_demo_and_test_script_with_pose(trained, tiny_pose_model,
                                        synthetic_dataset, tmp_path):
    config, checkpoint = tiny_pose_model
    folder = osp.join(synthetic_dataset, 'images', 'test')
    load_tool('image_demo.py').main([
        osp.join(folder, '000001.jpg'), trained['config'],
        trained['checkpoint'], '--out-dir',
        str(tmp_path / 'demo'), '--pose-config', config, '--pose-checkpoint',
        checkpoint, '--pose-visible-thr', '0'
    ])
    with open(tmp_path / 'demo' / '000001.json') as f:
        pred = json.load(f)
    assert 'mmpose' in pred['keypoint_source']
    assert set(pred['keypoint_source']) <= {'mmpose', 'posesor'}

    out = str(tmp_path / 'results.pkl')
    work_dir = str(tmp_path / 'work_dir')
    run_tool('test.py', [
        trained['config'], trained['checkpoint'], '--work-dir', work_dir,
        '--out', out, '--pose-config', config, '--pose-checkpoint', checkpoint,
        '--cfg-options', 'pose_estimator.visible_thr=0.0',
        'test_evaluator.metric=[sa_sor,sor,mae,jae]'
    ])
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 4
    for res in results:
        inst = res['pred_instances']
        # every instance is a person; boxes under one pixel are not sent
        wh = inst['bboxes'][:, 2:] - inst['bboxes'][:, :2]
        expected = [
            'mmpose' if ok else 'posesor'
            for ok in (wh >= 1).all(dim=1).tolist()
        ]
        assert inst['keypoint_source'] == expected
        assert 'mmpose' in expected
    (metrics_file, ) = [
        p for p in map(str, (tmp_path / 'work_dir').glob('*/*.json'))
    ]
    with open(metrics_file) as f:
        metrics = json.load(f)
    assert 'sor/jae' in metrics


class _System:
    """Pickles as a call of ``os.system`` (blocked by torch)."""

    def __reduce__(self):
        import os
        return os.system, ('true', )


def test_pose_checkpoint_goes_through_the_safe_loader(tiny_pose_model,
                                                      tmp_path, monkeypatch):
    """Issue 24: an mmpose checkpoint holding a blocked callable ended in
    torch's raw ``UnpicklingError`` trace; it is refused by name."""
    from posesor.apis import build_pose_refiner
    from posesor.utils.checkpoint import (CheckpointReadError,
                                          UnsafeCheckpointError)
    monkeypatch.delenv('POSESOR_TRUST_CHECKPOINTS', raising=False)
    config, checkpoint = tiny_pose_model
    evil = dict(torch.load(checkpoint, weights_only=True))
    evil['meta'] = dict(evil.get('meta') or {}, x=_System())
    path = str(tmp_path / 'evil_pose.pth')
    torch.save(evil, path)
    with pytest.raises(
            UnsafeCheckpointError,
            match='Refusing to load checkpoint.*posix.system'):
        build_pose_refiner(dict(config=config, checkpoint=path))
    text = tmp_path / 'text.pth'
    text.write_text('not a checkpoint')
    with pytest.raises(CheckpointReadError, match='Cannot read checkpoint'):
        build_pose_refiner(dict(config=config, checkpoint=str(text)))
