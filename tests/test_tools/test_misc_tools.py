# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""``publish_model.py``, ``print_config.py`` and the mim model index."""
import hashlib
import os.path as osp

import pytest
import torch
import yaml
from conftest import REPO, load_tool

from posesor.utils.checkpoint import CheckpointReadError


def test_publish_model(trained, tmp_path):
    tool = load_tool('model_converters/publish_model.py')
    final = tool.main([trained['checkpoint'], str(tmp_path / 'tiny.pth')])
    with open(final, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    assert osp.basename(final) == f'tiny-{sha[:8]}.pth'
    assert not osp.exists(tmp_path / 'tiny.pth')
    ckpt = torch.load(final, weights_only=True)
    assert sorted(ckpt) == ['meta', 'state_dict']
    full = torch.load(trained['checkpoint'], weights_only=True)
    for key, value in full['state_dict'].items():
        assert torch.equal(ckpt['state_dict'][key], value)
    text = tmp_path / 'text.pth'
    text.write_text('not a checkpoint')
    with pytest.raises(CheckpointReadError, match='Cannot read checkpoint'):
        tool.main([str(text), str(tmp_path / 'x.pth')])


def test_print_config(tiny_config, tmp_path, capsys):
    tool = load_tool('misc/print_config.py')
    saved = str(tmp_path / 'full.py')
    text = tool.main([
        tiny_config, '--data-root', '/data/x/', '--cfg-options',
        'train_cfg.max_iters=7', '--save-path', saved
    ])
    assert "data_root='/data/x/'" in text
    from mmengine.config import Config
    cfg = Config.fromfile(saved)
    assert cfg.train_cfg.max_iters == 7
    assert cfg.test_evaluator.ann_file == '/data/x/synthetic_test.json'
    assert 'Config saved to' in capsys.readouterr().out


def _model_index():
    """Models of model-index.yml, loaded as mim loads them."""
    try:
        from modelindex.load_model_index import load
    except ImportError:  # the same import graph by hand
        load = None
    path = osp.join(REPO, 'model-index.yml')
    if load is not None:
        index = load(path)
        return [
            dict(
                name=m.name,
                config=m.config,
                collection=m.in_collection,
                results=[(r.task, r.dataset, r.metrics) for r in m.results],
                metadata=m.metadata.data) for m in index.models
        ]
    with open(path) as f:
        imports = yaml.safe_load(f)['Import']
    models = []
    for item in imports:
        with open(osp.join(REPO, item)) as f:
            meta = yaml.safe_load(f)
        for m in meta['Models']:
            models.append(
                dict(
                    name=m['Name'],
                    config=m['Config'],
                    collection=m['In Collection'],
                    results=[(r['Task'], r['Dataset'], r['Metrics'])
                             for r in m['Results']],
                    metadata=m['Metadata']))
    return models


def test_model_index_lists_every_config():
    import glob
    models = _model_index()
    configs = sorted(
        osp.relpath(p, REPO)
        for p in glob.glob(osp.join(REPO, 'configs', '*.py')))
    assert sorted(m['config'] for m in models) == configs
    for m in models:
        assert m['name'] == osp.splitext(osp.basename(m['config']))[0]
        assert m['collection'] == 'PoseSOR'
        for task, dataset, metrics in m['results']:
            assert task == 'Salient Object Ranking'
            assert dataset in ('ASSR', 'IRSR')
            assert set(metrics) == {'SA-SOR', 'SOR', 'MAE'}
    from mmengine.config import Config
    for m in models:  # the metafile follows the configs' schedules
        cfg = Config.fromfile(osp.join(REPO, m['config']))
        assert m['metadata']['Iterations'] == cfg.train_cfg.max_iters, \
            m['name']
    by_name = {m['name']: m for m in models}
    (result, ) = by_name['posesor_swinl_assr']['results']
    assert result[2] == {'SA-SOR': 0.673, 'SOR': 0.871, 'MAE': 7.23}
    assert by_name['posesor_swinl_assr']['metadata']['Parameters'] == \
        '220.52M'
    # shipped in the package's .mim like the configs
    setup = open(osp.join(REPO, 'setup.py')).read()
    assert "'model-index.yml'" in setup
    assert 'model-index.yml' in open(osp.join(REPO, 'MANIFEST.in')).read()
