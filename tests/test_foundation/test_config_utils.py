# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Config loading and command-line checks (posesor.utils.config)."""
import argparse
import os.path as osp

import pytest
from mmengine.config import Config

from posesor.utils.config import (CfgOptionsAction, ConfigError,
                                  check_cfg_options, int_in_range, load_config,
                                  non_negative_float, positive_int,
                                  set_data_root, unit_float)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = osp.join(REPO, 'configs', 'posesor_tiny_synthetic.py')


def test_syntax_errors_name_the_file(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('model = dict(\n    type="X",\n    oops oops)\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(bad))
    assert str(bad) in str(info.value) and 'line 3' in str(info.value)
    # a syntax error in a base file names the base file
    child = tmp_path / 'child.py'
    child.write_text(f'_base_ = [{str(bad)!r}]\n')
    with pytest.raises(ConfigError, match='bad.py'):
        load_config(str(child))
    # errors while executing a config name it too
    name_error = tmp_path / 'undefined.py'
    name_error.write_text('x = undefined_name\n')
    with pytest.raises(ConfigError, match='undefined.py.*NameError'):
        load_config(str(name_error))
    with pytest.raises(FileNotFoundError, match='nope.py'):
        load_config(str(tmp_path / 'nope.py'))


def _parser():
    parser = argparse.ArgumentParser(prog='tool')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    return parser


def test_cfg_options_without_equals(capsys):
    args = _parser().parse_args(['--cfg-options', 'a.b=1', 'c=[1,2]'])
    assert args.cfg_options == {'a.b': 1, 'c': [1, 2]}
    with pytest.raises(SystemExit) as info:
        _parser().parse_args(['--cfg-options', 'train_cfg.max_iters'])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "'train_cfg.max_iters' is not KEY=VALUE" in err


def test_overriding_a_variable_is_refused():
    cfg = Config.fromfile(TINY)
    with pytest.raises(ConfigError) as info:
        check_cfg_options(cfg, {'max_iters': 2})
    message = str(info.value)
    assert 'max_iters' in message and 'changes nothing' in message
    assert 'train_cfg.max_iters' in message  # the keys it fed
    with pytest.raises(ConfigError, match='use --data-root'):
        check_cfg_options(
            cfg, {'data_root': '/x/'}, hints=dict(data_root='use --data-root'))
    with pytest.raises(ConfigError, match='vis_backends'):
        check_cfg_options(cfg, {'vis_backends.0.type': 'X'})
    # keys the runner reads, and new keys, are fine
    check_cfg_options(
        cfg, {
            'train_cfg.max_iters': 2,
            'randomness.seed': 1,
            'pose_estimator.visible_thr': 0.0,
            'brand_new_key': 1
        })
    check_cfg_options(cfg, None)


def test_set_data_root_sets_every_loader_and_evaluator():
    cfg = Config.fromfile(TINY)
    changed = set_data_root(cfg, '/data/other/')
    for split in ('train', 'val', 'test'):
        assert cfg[f'{split}_dataloader'].dataset.data_root == '/data/other/'
    for split in ('val', 'test'):
        assert cfg[f'{split}_evaluator'].ann_file == \
            '/data/other/synthetic_test.json'
    assert 'test_evaluator.ann_file' in changed
    # wrapped datasets and evaluator lists
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='ConcatDataset',
                    datasets=[
                        dict(ann_file='a.json', data_root='x'),
                        dict(
                            type='RepeatDataset',
                            dataset=dict(ann_file='b.json', data_root='y'))
                    ])),
            test_dataloader=dict(dataset=dict(ann_file='t.json')),
            test_evaluator=[dict(ann_file='x/t.json'),
                            dict(type='Dump')]))
    set_data_root(cfg, 'r')
    datasets = cfg.train_dataloader.dataset.datasets
    assert datasets[0].data_root == 'r'
    assert datasets[1].dataset.data_root == 'r'
    assert cfg.test_evaluator[0].ann_file == osp.join('r', 't.json')
    bad = Config(
        dict(
            test_dataloader=dict(dataset=dict()),
            test_evaluator=dict(ann_file='x/t.json')))
    with pytest.raises(ConfigError, match='test_evaluator.ann_file'):
        set_data_root(bad, 'r')


@pytest.mark.parametrize('parse, good, bad', [
    (positive_int, ['1', '64'], ['0', '-1', '1.5', 'x']),
    (non_negative_float, ['0', '2.5'], ['-0.1', 'nan', 'inf', 'x']),
    (unit_float, ['0', '0.5', '1'], ['1.01', '-1', 'nan']),
    (int_in_range(1, 17), ['1', '17'], ['0', '18']),
])
def test_numeric_option_types(parse, good, bad):
    for text in good:
        parse(text)
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
            parse(text)


def test_key_below_a_list_needs_its_index():
    """Issue 24: ``val_evaluator.ann_file`` on a list evaluator was
    mmengine's raw ``TypeError: list indices must be integers``."""
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'posesor_tiny_synthetic_pose_order.py'))
    assert isinstance(cfg.val_evaluator, list)
    with pytest.raises(TypeError, match='list indices'):
        Config.fromfile(
            osp.join(REPO, 'configs',
                     'posesor_tiny_synthetic_pose_order.py')).merge_from_dict(
                         {'val_evaluator.ann_file': '/x.json'})
    with pytest.raises(ConfigError) as info:
        check_cfg_options(cfg, {'val_evaluator.ann_file': '/x.json'})
    msg = str(info.value)
    assert 'val_evaluator.ann_file' in msg and 'is a list of 2' in msg
    assert 'val_evaluator.0 (SORMetric)' in msg
    assert 'e.g. val_evaluator.0.ann_file' in msg and '--data-root' in msg
    # deeper keys and other fields too
    with pytest.raises(ConfigError, match=r'e\.g\. test_evaluator\.0\.metric'):
        check_cfg_options(cfg, {'test_evaluator.metric': ['sor']})
    with pytest.raises(ConfigError, match='needs the index'):
        check_cfg_options(cfg, {'test_evaluator.5.metric': ['sor']})
    # the index form is accepted, and merges
    options = {'val_evaluator.0.ann_file': '/x.json'}
    check_cfg_options(cfg, options)
    cfg.merge_from_dict(options)
    assert cfg.val_evaluator[0].ann_file == '/x.json'
