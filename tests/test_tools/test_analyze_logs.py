# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""``analyze_logs.py`` (mmdet's plot_curve / cal_train_time interface)."""
import json

import cv2
import pytest
from conftest import load_tool


def _write_log(path, train_steps, val_steps):
    """A scalars.json with 3 decoder layers of 4 loss terms and metrics."""
    lines = []
    for step in train_steps:
        record = dict(lr=1e-4, time=0.5 + 0.1 * (step == 1), step=step)
        total = 0.0
        for kind, scale in (('loss_mask', 1.0), ('loss_dice', 1.0),
                            ('loss_rank', 0.01), ('loss_other', 0.1)):
            for prefix in ('', 'd0.', 'd1.'):
                record[prefix + kind] = scale / step
                total += scale / step
        record['loss'] = total
        lines.append(record)
    for step in val_steps:
        lines.append({
            'sor/sa_sor': 0.1 * step,
            'sor/mae': 0.5 / step,
            'sor/sa_sor_count': 4,
            'sor/num_images': 4,
            'step': step
        })
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('\n'.join(json.dumps(r) for r in lines) + '\n')
    return str(path)


def test_default_picture(tmp_path):
    tool = load_tool('analysis_tools/analyze_logs.py')
    log = _write_log(
        tmp_path / 'run' / '20240101_000000' / 'vis_data' / 'scalars.json',
        range(1, 11), [5, 10])
    out = str(tmp_path / 'curves.png')
    drawn = tool.main(['plot_curve', log, '--out', out])
    # total loss, the groups summed over decoder layers, one per metric;
    # counts are left out
    mask = 'mask'
    assert drawn == [
        'loss', 'loss_other', mask, 'rank', 'sor/mae', 'sor/sa_sor'
    ]
    train, val = tool.load_curves([log])
    groups = tool.loss_groups(train)
    # mask + dice, each over 3 decoder layers, at iteration 2
    assert groups[mask][2] == pytest.approx(6 * 0.5)
    assert groups['rank'][2] == pytest.approx(3 * 0.005)
    assert sorted(val['sor/sa_sor']) == [5, 10]  # against iterations
    image = cv2.imread(out)
    assert image.shape[0] > 300 and image.shape[1] > 1000
    # the short form (no subcommand) and a work dir
    assert tool.main([str(tmp_path / 'run'), '--out', out]) == drawn
    with pytest.raises(KeyError, match='available'):
        tool.main([log, '--keys', 'nope', '--out', out])
    assert tool.main([log, '--keys', 'sor/num_images', '--out',
                      out]) == ['sor/num_images']


def test_several_runs_with_legend(tmp_path):
    tool = load_tool('analysis_tools/analyze_logs.py')
    a = _write_log(tmp_path / 'a.json', range(1, 6), [5])
    b = _write_log(tmp_path / 'b.json', range(1, 6), [5])
    out = str(tmp_path / 'two.png')
    tool.main(['plot_curve', a, b, '--legend', 'A', 'B', '--out', out])
    assert cv2.imread(out) is not None
    with pytest.raises(ValueError, match='legend'):
        tool.main(['plot_curve', a, b, '--legend', 'A', '--out', out])


def test_cal_train_time(tmp_path, capsys):
    tool = load_tool('analysis_tools/analyze_logs.py')
    log = _write_log(tmp_path / 'a.json', range(1, 6), [])
    (stats, ) = tool.main(['cal_train_time', log])
    assert stats['mean'] == pytest.approx(0.5)  # first window left out
    (stats, ) = tool.main(['cal_train_time', log, '--include-outliers'])
    assert stats['mean'] == pytest.approx((0.6 + 4 * 0.5) / 5)
    assert stats['slowest'] == (1, pytest.approx(0.6))
    assert 'average iter time' in capsys.readouterr().out
