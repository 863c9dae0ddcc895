# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Option validation of ``make_synthetic_sor.py`` (issue 14, case 4)."""
import sys

import pytest
from conftest import load_tool


@pytest.fixture(scope='module')
def tool():
    return load_tool('dataset_converters/make_synthetic_sor.py')


@pytest.mark.parametrize('option, value, expected', [
    ('--num-train', '-3', 'must be an integer >= 1, got -3'),
    ('--num-train', '0', 'must be an integer >= 1, got 0'),
    ('--num-test', '-1', 'must be an integer >= 1, got -1'),
    ('--num-test', '2.5', "must be an integer, got '2.5'"),
    ('--size', '16', 'must be an integer >= 32, got 16'),
    ('--size', 'big', "must be an integer, got 'big'"),
    ('--seed', '-7', 'must be an integer >= 0, got -7'),
])
def test_numeric_options_validated(tool, monkeypatch, capsys, tmp_path, option,
                                   value, expected):
    out = tmp_path / 'never'
    monkeypatch.setattr(
        sys, 'argv',
        ['make_synthetic_sor.py', '--out',
         str(out), option, value])
    with pytest.raises(SystemExit) as e:
        tool.main()
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f'argument {option}: {expected}' in err
    assert not out.exists()


def test_smallest_valid_options(tool, monkeypatch):
    monkeypatch.setattr(sys, 'argv', [
        'make_synthetic_sor.py', '--num-train', '1', '--num-test', '1',
        '--size', '32', '--seed', '0'
    ])
    args = tool.parse_args()
    assert (args.num_train, args.num_test, args.size, args.seed) == \
        (1, 1, 32, 0)
