# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""The pose-source switch in the entry points: tools/test.py, the image
demo (SORInferencer) and the web page."""
import json
import os.path as osp
import pickle

import numpy as np
import pytest
from conftest import load_tool, run_tool


def test_test_script_gt_oracle(trained, tmp_path):
    out = str(tmp_path / 'results.pkl')
    run_tool('test.py', [
        trained['config'], trained['checkpoint'], '--work-dir',
        str(tmp_path / 'work_dir'), '--out', out, '--pose-source', 'gt'
    ])
    with open(out, 'rb') as f:
        results = pickle.load(f)
    assert len(results) == 4
    assert [r['pose_source'] for r in results] == ['gt'] * 4


def test_external_needs_a_pose_model(trained):
    test_script = load_tool('test.py')
    with pytest.raises(SystemExit):
        test_script.parse_args([
            trained['config'], trained['checkpoint'], '--pose-source',
            'external'
        ])
    from posesor.apis import SORInferencer
    with pytest.raises(ValueError, match='external'):
        SORInferencer(
            trained['config'],
            trained['checkpoint'],
            pose_source='external',
            show_progress=False)
    with pytest.raises(ValueError, match='annotated'):
        SORInferencer(
            trained['config'],
            trained['checkpoint'],
            pose_source='gt',
            show_progress=False)


def test_image_demo_ranks_from_mmpose(trained, tiny_pose_model,
                                      synthetic_dataset, tmp_path):
    config, checkpoint = tiny_pose_model
    image = osp.join(synthetic_dataset, 'images', 'test', '000001.jpg')
    demo = load_tool('image_demo.py')
    preds = {}
    for source in ('predicted', 'external'):
        demo.main([
            image, trained['config'], trained['checkpoint'], '--out-dir',
            str(tmp_path / source), '--pose-config', config,
            '--pose-checkpoint', checkpoint, '--pose-visible-thr', '0',
            '--pose-keypoint-thr', '0', '--pose-source', source
        ])
        with open(tmp_path / source / '000001.json') as f:
            preds[source] = json.load(f)
    assert preds['predicted']['pose_source'] == 'predicted'
    assert preds['external']['pose_source'] == 'external'
    # every instance is a person here: mmpose keypoints in both outputs,
    # but only the external run ranked from them
    assert 'mmpose' in preds['external']['keypoint_source']
    assert sorted(preds['predicted']['rank_scores']) != \
        sorted(preds['external']['rank_scores'])
    # the same instances (boxes), the same mmpose keypoints
    by_box = {
        tuple(np.round(b, 3)): k
        for b, k in zip(preds['predicted']['bboxes'], preds['predicted']
                        ['keypoints'])
    }
    for box, kpts in zip(preds['external']['bboxes'],
                         preds['external']['keypoints']):
        np.testing.assert_allclose(kpts, by_box[tuple(np.round(box, 3))])


def test_web_page_pose_source(trained, tiny_pose_model, synthetic_dataset):
    pytest.importorskip('gradio')
    import mmcv
    web_demo = load_tool('web_demo.py')
    config, checkpoint = tiny_pose_model
    image = mmcv.imread(
        osp.join(synthetic_dataset, 'images', 'test', '000001.jpg'))
    plain = web_demo.SORPredictor(trained['config'], trained['checkpoint'])
    assert plain.pose_sources == ['predicted']
    with pytest.raises(ValueError, match='needs --pose-config'):
        plain(image, pose_source='external')
    predictor = web_demo.SORPredictor(
        trained['config'],
        trained['checkpoint'],
        pose_estimator=dict(
            config=config,
            checkpoint=checkpoint,
            visible_thr=0.0,
            keypoint_thr=0.0))
    assert predictor.pose_sources == ['predicted', 'external']
    first = predictor(image, pose_source='predicted')
    second = predictor(image, pose_source='external')
    assert first.pose_source == 'predicted'
    assert second.pose_source == 'external'
    arrays = web_demo.prediction_arrays(second)
    record = web_demo.prediction_json(arrays, 'x.jpg', {}, second.pose_source)
    assert record['pose_source'] == 'external'
    assert not np.allclose(
        np.sort(first.pred_instances.rank_scores.numpy()),
        np.sort(second.pred_instances.rank_scores.numpy()))


def test_pose_ablation_pose_source_variants(tmp_path):
    from test_demo import ABLATION, FAST, _load_ablation, _run
    ablation = _load_ablation()
    with pytest.raises(SystemExit):  # a test-only variant needs its source
        ablation.parse_args(
            ['--variants', 'with_pose', 'gt_pose_predicted_test'])
    out_dir = str(tmp_path / 'ablation')
    _run([
        ABLATION, '--seeds', '0', '--max-iters', '2', '--jobs', '1',
        '--data-root',
        str(tmp_path / 'data'), '--num-train', '4', '--num-test', '2',
        '--out-dir', out_dir, '--variants', 'with_pose', 'gt_pose',
        'gt_pose_predicted_test', '--cfg-options', *FAST
    ])
    with open(osp.join(out_dir, 'ablation.json')) as f:
        runs = json.load(f)['budgets']['2']['runs']
    assert set(runs) == {
        'with_pose/seed0', 'gt_pose/seed0', 'gt_pose_predicted_test/seed0'
    }

    def run_dir(variant):
        return osp.join(out_dir, 'iters2', variant, 'seed0')

    with open(
            osp.join(run_dir('gt_pose_predicted_test'),
                     'demo_summary.json')) as f:
        scored = json.load(f)
    # trains nothing: scores gt_pose's checkpoint
    assert scored['checkpoint'] == osp.join(run_dir('gt_pose'), 'iter_2.pth')
    assert scored['train_minutes'] == 0.0
    assert not osp.isfile(
        osp.join(run_dir('gt_pose_predicted_test'), 'iter_2.pth'))
    with open(osp.join(run_dir('gt_pose'), 'run.log')) as f:
        log = f.read()
    assert "train_pose_source='gt'" in log


def test_next_target_hit_hand_made():
    from test_demo import _load_ablation
    hit = _load_ablation().next_target_hit
    masks = np.zeros((4, 4, 4), bool)
    masks[0, 0, 0] = True  # a person
    masks[1, :2, 2:] = True
    masks[2, 2:, :2] = True
    masks[3, 2:, 2:] = True
    partition = np.zeros((4, 4))
    partition[2:, :2] = 0.9  # the map points at object 2
    assert hit(partition, masks, [1, 2, 3], 2)
    assert not hit(partition, masks, [1, 2, 3], 3)
    masks[2] = False  # an empty GT mask never wins
    assert not hit(partition, masks, [1, 2, 3], 2)
