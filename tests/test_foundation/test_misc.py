# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
import pytest

from posesor.utils.misc import parse_hw, unpadded_metainfo


def test_parse_hw():
    assert parse_hw([768]) == (768, 768)
    assert parse_hw([480, 640]) == (480, 640)
    with pytest.raises(ValueError, match='--shape takes 1 or 2'):
        parse_hw([1, 2, 3])


def test_unpadded_metainfo():
    meta = unpadded_metainfo(48, 64)
    assert meta['img_shape'] == meta['batch_input_shape'] == (48, 64)
    assert meta['ori_shape'] == meta['pad_shape'] == (48, 64)
    assert meta['scale_factor'] == (1.0, 1.0)
