# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
import copy
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

# yapf: disable
from posesor.datasets.sor_parsing import (SORAnnotationError, SORDataWarning,
                                          SORRepairs, bbox_xyxy,
                                          decode_rle_strings,
                                          decode_segmentation, get_rank,
                                          group_by_image, image_name,
                                          keypoints_array, load_sor_gt,
                                          load_sor_json, rle_string_counts,
                                          segmentation_area, sort_by_rank,
                                          validate_sor_dict)

# yapf: enable

H, W = 20, 30
SQUARE = [[2, 2, 12, 2, 12, 12, 2, 12]]  # 10 x 10 square


def _ann(ann_id, rank, image_id=1, **kw):
    ann = dict(
        id=ann_id,
        image_id=image_id,
        category_id=rank,
        visiting_order=rank,
        class_id=1,
        segmentation=copy.deepcopy(SQUARE),
        bbox=[2, 2, 10, 10],
        keypoints=[0] * 51,
        iscrowd=0)
    ann.update(kw)
    return ann


def _data(anns=None):
    return dict(
        images=[
            dict(id=1, file_name='a.jpg', height=H, width=W),
            dict(id=2, file_name='b.jpg', height=H, width=W)
        ],
        annotations=anns if anns is not None else
        [_ann(10, 2), _ann(11, 1),
         _ann(12, 3, image_id=2)])


def _write(tmp_path, data, name='ann.json'):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_load_valid_and_group_sorted(tmp_path):
    path = _write(tmp_path, _data())
    data = load_sor_json(path)
    assert len(data['images']) == 2
    groups = load_sor_gt(path)
    assert list(groups) == [1, 2]
    # JSON order was rank 2 then rank 1: sorted by rank
    assert [a['id'] for a in groups[1]['annotations']] == [11, 10]
    assert [a['id'] for a in groups[2]['annotations']] == [12]
    assert groups[1]['duplicate_ranks'] is False


def test_visiting_order_rank_key(tmp_path):
    anns = [
        _ann(1, 1, visiting_order=2),
        _ann(2, 2, visiting_order=1),
    ]
    path = _write(tmp_path, _data(anns))
    by_cat = load_sor_gt(path, rank_key='category_id')
    by_visit = load_sor_gt(path, rank_key='visiting_order')
    assert [a['id'] for a in by_cat[1]['annotations']] == [1, 2]
    assert [a['id'] for a in by_visit[1]['annotations']] == [2, 1]
    with pytest.raises(SORAnnotationError, match='rank_key'):
        load_sor_json(path, rank_key='score')


def test_missing_file(tmp_path):
    with pytest.raises(SORAnnotationError, match='does not exist'):
        load_sor_json(str(tmp_path / 'nope.json'))


def test_invalid_json(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text('{"images": [')
    with pytest.raises(SORAnnotationError, match='not valid JSON') as e:
        load_sor_json(str(path))
    assert 'bad.json' in str(e.value)


def test_top_level_not_object(tmp_path):
    with pytest.raises(SORAnnotationError, match='JSON object'):
        load_sor_json(_write(tmp_path, [1, 2]))


@pytest.mark.parametrize('key', ['images', 'annotations'])
def test_missing_top_level_key(tmp_path, key):
    data = _data()
    del data[key]
    with pytest.raises(
            SORAnnotationError, match=f"missing top-level key "
            f"'{key}'"):
        load_sor_json(_write(tmp_path, data))


@pytest.mark.parametrize('key', ['id', 'file_name', 'height', 'width'])
def test_missing_image_key(tmp_path, key):
    data = _data()
    del data['images'][1][key]
    with pytest.raises(SORAnnotationError, match=f"misses key '{key}'"):
        load_sor_json(_write(tmp_path, data))


@pytest.mark.parametrize('key', ['id', 'image_id', 'segmentation'])
def test_missing_annotation_key(tmp_path, key):
    data = _data()
    del data['annotations'][0][key]
    with pytest.raises(SORAnnotationError, match=f"misses key '{key}'"):
        load_sor_json(_write(tmp_path, data))


def test_duplicate_ids(tmp_path):
    data = _data()
    data['images'][1]['id'] = 1
    with pytest.raises(SORAnnotationError, match='duplicate image id'):
        load_sor_json(_write(tmp_path, data))
    data = _data([_ann(5, 1), _ann(5, 2)])
    with pytest.raises(SORAnnotationError, match='duplicate annotation id'):
        load_sor_json(_write(tmp_path, data))


def test_bad_image_size(tmp_path):
    data = _data()
    data['images'][0]['height'] = 0
    with pytest.raises(SORAnnotationError, match="image id 1.*'height'"):
        load_sor_json(_write(tmp_path, data))


def test_unknown_image(tmp_path):
    data = _data([_ann(7, 1, image_id=99)])
    with pytest.raises(SORAnnotationError) as e:
        load_sor_json(_write(tmp_path, data))
    msg = str(e.value)
    assert 'unknown image' in msg and '99' in msg and '7' in msg
    assert 'ann.json' in msg


@pytest.mark.parametrize('kpts', [[0] * 50, [0] * 54, 'abc', [None] * 51])
def test_wrong_keypoints(tmp_path, kpts):
    data = _data([_ann(3, 1, keypoints=kpts)])
    with pytest.raises(SORAnnotationError, match='annotation id 3') as e:
        load_sor_json(_write(tmp_path, data))
    assert 'keypoints' in str(e.value)


def test_missing_keypoints_are_zeros(tmp_path):
    ann = _ann(3, 1)
    del ann['keypoints']
    load_sor_json(_write(tmp_path, _data([ann])))
    assert np.array_equal(keypoints_array(ann), np.zeros((17, 3)))
    ann['keypoints'] = list(range(51))
    kp = keypoints_array(ann)
    assert kp.shape == (17, 3) and kp.dtype == np.float32
    assert kp[1].tolist() == [3, 4, 5]


@pytest.mark.parametrize('segm, match',
                         [([[1, 1, 5, 5]], 'no polygon has at least 3'),
                          ([[1, 1, 5, 5, 6]], 'odd number'), ([], 'non-empty'),
                          ({
                              'counts': 'abc'
                          }, 'size'), ([5], 'flat list')])
def test_bad_segmentation(tmp_path, segm, match):
    data = _data([_ann(4, 1, segmentation=segm)])
    with pytest.raises(SORAnnotationError, match=match) as e:
        load_sor_json(_write(tmp_path, data))
    assert 'annotation id 4' in str(e.value)


@pytest.mark.parametrize('rank', [-1, 1.5, 'first', True])
def test_bad_rank(tmp_path, rank):
    data = _data([_ann(4, rank)])
    with pytest.raises(SORAnnotationError, match="'category_id' must be"):
        load_sor_json(_write(tmp_path, data))


def test_bad_bbox(tmp_path):
    data = _data([_ann(4, 1, bbox=[1, 2, 3])])
    with pytest.raises(SORAnnotationError, match='bbox'):
        load_sor_json(_write(tmp_path, data))


def test_get_rank_missing_and_float():
    assert get_rank(dict(id=1)) == 0
    assert get_rank(dict(id=1, category_id=None)) == 0
    assert get_rank(dict(id=1, category_id=3.0)) == 3


def test_unranked_dropped_or_kept(tmp_path):
    anns = [_ann(1, 0), _ann(2, 2), _ann(3, None), _ann(4, 1)]
    del anns[2]['category_id']
    path = _write(tmp_path, _data(anns))
    with pytest.warns(SORDataWarning, match='2 unranked object.*dropped'):
        groups = load_sor_gt(path)
    assert [a['id'] for a in groups[1]['annotations']] == [4, 2]
    assert groups[1]['num_unranked'] == 2
    with pytest.warns(SORDataWarning, match='kept after'):
        groups = load_sor_gt(path, keep_unranked=True)
    assert [a['id'] for a in groups[1]['annotations']] == [4, 2, 1, 3]


def test_duplicate_ranks_warn_and_tie_break(tmp_path):
    anns = [_ann(9, 1), _ann(3, 2), _ann(5, 1), _ann(7, 1)]
    path = _write(tmp_path, _data(anns))
    with pytest.warns(SORDataWarning, match=r'duplicate .* \(image ids 1\)'):
        groups = load_sor_gt(path)
    assert groups[1]['duplicate_ranks'] is True
    assert [a['id'] for a in groups[1]['annotations']] == [5, 7, 9, 3]
    # the tie-break does not depend on the input order
    for perm in ([3, 2, 1, 0], [1, 3, 0, 2]):
        shuffled, dup = sort_by_rank([anns[i] for i in perm])
        assert dup and [a['id'] for a in shuffled] == [5, 7, 9, 3]


def test_group_by_image_silent(tmp_path, recwarn):
    data = _data([_ann(1, 1), _ann(2, 1)])
    group_by_image(data, warn=False)
    assert not [w for w in recwarn if w.category is SORDataWarning]


def test_decode_polygon_rle_and_backends():
    poly = decode_segmentation(SQUARE, H, W)
    assert poly.shape == (H, W) and poly.dtype == np.uint8
    assert set(np.unique(poly)) == {0, 1}
    # pycocotools and cv2 polygon filling agree up to the border pixels
    cv = decode_segmentation(SQUARE, H, W, polygon_backend='cv2')
    assert cv.shape == (H, W)
    assert np.logical_xor(cv, poly).sum() <= 2 * 11 + 2 * 10
    assert cv[5:10, 5:10].all() and poly[5:10, 5:10].all()
    assert not cv[15:, 15:].any()
    # compressed RLE (str and bytes counts) and uncompressed RLE
    rle = mask_utils.encode(np.asfortranarray(poly))
    as_str = dict(size=rle['size'], counts=rle['counts'].decode('ascii'))
    assert np.array_equal(decode_segmentation(as_str, H, W), poly)
    assert np.array_equal(decode_segmentation(dict(rle), H, W), poly)
    flat = poly.flatten(order='F')
    counts, cur, run = [], 0, 0
    for v in flat:
        if v != cur:
            counts.append(run)
            cur, run = v, 0
        run += 1
    counts.append(run)
    uncompressed = dict(size=[H, W], counts=counts)
    assert np.array_equal(decode_segmentation(uncompressed, H, W), poly)
    assert segmentation_area(SQUARE, H, W) == int(poly.sum())
    with pytest.raises(SORAnnotationError, match='RLE size'):
        decode_segmentation(as_str, H + 1, W)
    with pytest.raises(ValueError, match='polygon_backend'):
        decode_segmentation(SQUARE, H, W, polygon_backend='pil')


def test_multi_polygon_and_bbox():
    segm = SQUARE + [[20, 2, 28, 2, 28, 8, 20, 8]]
    mask = decode_segmentation(segm, H, W)
    assert mask[5, 5] and mask[5, 24] and not mask[5, 16]
    ann = dict(id=1, segmentation=segm)
    box = bbox_xyxy(ann, H, W)
    assert box.dtype == np.float32
    assert box[0] <= 2.5 and box[2] >= 27.5 and box[1] <= 2.5
    ann['bbox'] = [1.5, 2.0, 3.0, 4.0]
    assert bbox_xyxy(ann, H, W).tolist() == [1.5, 2.0, 4.5, 6.0]


def test_image_name():
    assert image_name('COCO_val2014_000000000192.jpg') == \
        'COCO_val2014_000000000192'
    assert image_name('images/test/x.y.png') == 'x.y'


def _raises_named(tmp_path, data, *fragments):
    """Loading ``data`` fails naming the file, the ids and ``fragments``."""
    with pytest.raises(SORAnnotationError) as e:
        load_sor_json(_write(tmp_path, data))
    msg = str(e.value)
    for fragment in ('ann.json', ) + fragments:
        assert fragment in msg, msg
    return msg


def _rle(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=rle['size'], counts=rle['counts'].decode('ascii'))


# issue 14, case 1: NaN / inf anywhere in an annotation
@pytest.mark.parametrize('field, value, path', [
    ('keypoints', [float('nan'), float('nan'), 2] * 17, 'keypoints[0]'),
    ('keypoints', [float('nan')] * 51, 'keypoints[0]'),
    ('keypoints', [1.0, 2.0, 2] * 16 + [1.0, float('inf'), 2],
     'keypoints[49]'),
    ('bbox', [2, 2, float('inf'), 10], 'bbox[2]'),
    ('segmentation', [[2, 2, 12, 2, float('nan'), 12, 2, 12]
                      ], 'segmentation[0][4]'),
    ('area', float('-inf'), 'area'),
    ('extra', dict(score=[0.5, float('nan')]), 'extra.score[1]'),
])
def test_non_finite_numbers_refused(tmp_path, field, value, path):
    data = _data([_ann(4, 1), _ann(5, 2, **{field: value})])
    msg = _raises_named(tmp_path, data, 'image id 1', 'annotation id 5', path)
    assert 'finite' in msg
    # the writer really produced the non-standard literal json.load accepts
    assert 'NaN' in json.dumps(data) or 'Infinity' in json.dumps(data)


def test_overflowing_number_refused(tmp_path):
    """``1e999`` parses to inf without any NaN/Infinity literal."""
    text = json.dumps(_data([_ann(4, 1, area=12345.5)]))
    path = tmp_path / 'ann.json'
    path.write_text(text.replace('12345.5', '1e999'))
    with pytest.raises(SORAnnotationError, match='annotation id 4: area is'):
        load_sor_json(str(path))


def test_validate_dict_checks_finite_by_default():
    data = _data([_ann(4, 1, bbox=[2, 2, float('nan'), 3])])
    with pytest.raises(SORAnnotationError, match=r'bbox\[2\] is nan'):
        validate_sor_dict(data, ann_file='given.json')


def test_non_finite_number_in_image_entry(tmp_path):
    data = _data()
    data['images'][1]['scale'] = float('nan')
    _raises_named(tmp_path, data, 'image id 2', 'scale')


# issue 14, case 2: boxes outside the image or with a negative size
@pytest.mark.parametrize('bbox, what', [
    ([500, 500, 50, 50], 'not inside'),
    ([25, 2, 10, 10], 'not inside'),
    ([-3, 2, 10, 10], 'not inside'),
    ([2, 2, -4, 10], 'negative size'),
    ([2, 2, 10, -0.5], 'negative size'),
    ([2, 2, True, 10], '4 numbers'),
])
def test_bad_bbox_geometry_refused(tmp_path, bbox, what):
    data = _data([_ann(4, 1), _ann(7, 2, image_id=2, bbox=bbox)])
    _raises_named(tmp_path, data, 'image id 2', 'annotation id 7', what)


def test_bbox_on_the_border_accepted(tmp_path):
    # the whole image, and a sub-pixel overhang as polygons produce
    anns = [
        _ann(4, 1, bbox=[0, 0, W, H]),
        _ann(5, 2, bbox=[-0.4, -0.4, W + 0.8, H + 0.8]),
        _ann(6, 3, bbox=[3, 3, 0, 0]),
    ]
    assert len(load_sor_json(_write(tmp_path, _data(anns)))['annotations']) \
        == 3


# issue 14, case 12: RLE size differing from the image
@pytest.mark.parametrize('size', [[H + 1, W], [W, H], [H], 'HxW'])
def test_rle_size_differs_from_image(tmp_path, size):
    segm = _rle(np.ones((H, W)))
    segm['size'] = size
    data = _data([_ann(4, 1, segmentation=segm)])
    _raises_named(tmp_path, data, 'image id 1', 'annotation id 4', 'RLE size',
                  f'{[H, W]}')


# issue 14, case 13: RLE counts longer (or shorter) than H * W
def test_rle_counts_not_covering_the_image(tmp_path):
    mask = np.zeros((H + 5, W), dtype=np.uint8)
    mask[3:9, 4:8] = 1
    longer = _rle(mask)
    longer['size'] = [H, W]
    data = _data([_ann(4, 1, segmentation=longer)])
    _raises_named(tmp_path, data, 'annotation id 4',
                  f'cover {(H + 5) * W} pixels', f'has {H * W}')
    # ... which pycocotools would refuse without naming anything
    with pytest.raises(ValueError):
        mask_utils.decode(dict(size=[H, W], counts=longer['counts']))
    for counts in ([H * W - 10, 5, 6], [H * W - 10, 5]):
        data = _data(
            [_ann(4, 1, segmentation=dict(size=[H, W], counts=counts))])
        _raises_named(tmp_path, data, 'annotation id 4',
                      f'cover {sum(counts)} pixels')
    data = _data([_ann(4, 1, segmentation=dict(size=[H, W], counts=[-1, 5]))])
    _raises_named(tmp_path, data, 'annotation id 4', 'non-negative')
    truncated = dict(size=[H, W], counts=_rle(mask[:H])['counts'] + 'o')
    data = _data([_ann(4, 1, segmentation=truncated)])
    _raises_named(tmp_path, data, 'annotation id 4', 'ends inside a run')


def test_rle_string_counts_matches_pycocotools():
    rng = np.random.default_rng(0)
    for density in (0.0, 0.05, 0.5, 0.95, 1.0):
        mask = (rng.random((H, W)) < density).astype(np.uint8)
        mask[:H // 2, :W // 3] = 1  # long runs: multi-character codes
        rle = _rle(mask)
        runs = rle_string_counts(rle['counts'])
        assert sum(runs) == H * W and min(runs) >= 0
        assert sum(runs[1::2]) == int(mask.sum())
        # re-encoding the runs gives pycocotools' own string back
        again = mask_utils.frPyObjects(dict(size=[H, W], counts=runs), H, W)
        assert again['counts'].decode('ascii') == rle['counts']


def test_unreadable_annotation_file(tmp_path):
    (tmp_path / 'ann.json').mkdir()
    with pytest.raises(SORAnnotationError, match='ann.json.*cannot be read'):
        load_sor_json(str(tmp_path / 'ann.json'))


def test_rle_strings_of_a_file_checked_together(tmp_path):
    """All compressed RLEs of a file are decoded in one pass; the error
    still names the annotation whose counts are wrong."""
    rng = np.random.default_rng(1)
    masks = [(rng.random((H, W)) < d).astype(np.uint8) for d in (.2, .6, 0)]
    anns = [
        _ann(20 + i, i + 1, segmentation=_rle(m)) for i, m in enumerate(masks)
    ]
    assert len(load_sor_json(_write(tmp_path, _data(anns)))['annotations']) \
        == 3
    runs, owner = decode_rle_strings(
        [a['segmentation']['counts'] for a in anns] + [''])
    for i, mask in enumerate(masks):
        assert runs[owner == i].sum() == H * W
        assert runs[owner == i][1::2].sum() == mask.sum()
    assert not (owner == 3).any()
    for bad, fragment in (('', 'cover 0 pixels'), ('0é', 'not ASCII'),
                          (_rle(masks[0])['counts'] + '0',
                           f'the image has {H * W}')):
        wrong = copy.deepcopy(anns)
        wrong[1]['segmentation']['counts'] = bad
        msg = _raises_named(tmp_path, _data(wrong), 'annotation id 21',
                            fragment)
        assert 'annotation id 20' not in msg


def test_the_validations_run_lengths_are_returned(tmp_path):
    """load_sor_json / load_sor_gt hand back the run lengths of every
    compressed RLE (what metrics need), indexed by annotation id; polygons
    and uncompressed counts are not decoded there."""
    rng = np.random.default_rng(2)
    masks = [(rng.random((H, W)) < d).astype(np.uint8) for d in (.3, 0, 1)]
    anns = [
        _ann(30 + i, i + 1, segmentation=_rle(m)) for i, m in enumerate(masks)
    ]
    anns.append(
        _ann(40, 4, segmentation=[[0, 0, 5, 0, 5, 5, 0, 5]], image_id=2))
    anns.append(_ann(41, 5, segmentation=dict(size=[H, W], counts=[H * W])))
    path = _write(tmp_path, _data(anns))
    data, lengths = load_sor_json(path, return_run_lengths=True)
    assert data == load_sor_json(path)
    assert sorted(lengths.index) == [30, 31, 32]
    for i, mask in zip((30, 31, 32), masks):
        k = lengths.index[i]
        runs = lengths.runs[lengths.offsets[k]:lengths.offsets[k + 1]]
        assert np.array_equal(runs, rle_string_counts(_rle(mask)['counts']))
    groups, again = load_sor_gt(path, return_run_lengths=True)
    assert list(groups) == [1, 2] and again.index == lengths.index
    assert np.array_equal(again.runs, lengths.runs)


# issue 24: what real annotation files contain loads, each repair counted
# and reported in one warning per file
def _load_warned(path, **kw):
    """Load ``path``; return the data, the repairs and the repair warning
    messages (exactly one warning is expected when anything was repaired).
    """
    repairs = SORRepairs()
    with pytest.warns(SORDataWarning) as record:
        data = load_sor_json(path, repairs=repairs, **kw)
    msgs = [str(w.message) for w in record if 'loaded with' in str(w.message)]
    assert len(msgs) == 1, msgs
    return data, repairs, msgs[0]


def _square_image(size, anns):
    return dict(
        images=[dict(id=1, file_name='a.jpg', height=size, width=size)],
        annotations=anns)


def test_box_a_few_pixels_past_the_border_clamped(tmp_path):
    # the case: 3 px past a 128x128 image (and past two borders)
    anns = [
        _ann(4, 1, bbox=[100, 100, 31, 20]),
        _ann(5, 2, bbox=[-3, -2.5, 50, 40]),
        _ann(6, 3, bbox=[10, 10, 20, 20]),
    ]
    data, repairs, msg = _load_warned(
        _write(tmp_path, _square_image(128, anns)))
    boxes = {a['id']: a['bbox'] for a in data['annotations']}
    assert boxes[4] == [100, 100, 28, 20]
    assert boxes[5] == [0, 0, 47, 37.5]
    assert boxes[6] == [10, 10, 20, 20]  # inside: untouched
    assert repairs['bbox_clamped'] == 2
    assert '2 box(es) reaching past the image border clamped' in msg
    assert 'annotation ids 4, 5' in msg and 'ann.json' in msg
    # bbox_xyxy (what the dataset trains on) gives the clamped box
    assert bbox_xyxy(data['annotations'][0], 128, 128).tolist() == \
        [100, 100, 128, 120]


@pytest.mark.parametrize('bbox', [[-8, 10, 20, 20], [10, 100, 20, 37]])
def test_box_wildly_outside_still_refused(tmp_path, bbox):
    # 5 % of 128 = 6.4 px are clamped; 8 and 9 px past are errors
    data = _square_image(128, [_ann(4, 1), _ann(9, 2, bbox=bbox)])
    msg = _raises_named(tmp_path, data, 'image id 1', 'annotation id 9',
                        'not inside', 'clamped')
    assert '6.4' in msg


def test_polygon_parts_with_fewer_than_3_points_dropped(tmp_path):
    part = [20, 2, 26, 2, 26, 8]
    anns = [
        _ann(4, 1, segmentation=[SQUARE[0], [1, 1, 5, 5], part, [7, 7]]),
        _ann(5, 2),
    ]
    data, repairs, msg = _load_warned(_write(tmp_path, _data(anns)))
    ann = data['annotations'][0]
    assert ann['segmentation'] == [SQUARE[0], part]  # the valid parts kept
    assert data['annotations'][1]['segmentation'] == SQUARE
    assert repairs['polygon_parts_dropped'] == 2
    assert '2 polygon part(s) with fewer than 3 points dropped' in msg
    assert 'annotation ids 4)' in msg
    area = segmentation_area(ann['segmentation'], H, W)
    assert area == segmentation_area(SQUARE, H, W) + \
        segmentation_area([part], H, W)


def test_object_without_a_valid_polygon_part_refused(tmp_path):
    data = _data([_ann(4, 1), _ann(8, 2, segmentation=[[1, 1, 5, 5], [7, 7]])])
    _raises_named(tmp_path, data, 'image id 1', 'annotation id 8',
                  'no polygon has at least 3 points',
                  'points per polygon: 2, 1')


def test_empty_keypoints_on_a_non_person_read_as_absent(tmp_path):
    anns = [
        _ann(4, 1, class_id=3, keypoints=[]),
        _ann(5, 2, class_id=7, keypoints=[]),
        _ann(6, 3),
    ]
    data, repairs, msg = _load_warned(_write(tmp_path, _data(anns)))
    assert 'keypoints' not in data['annotations'][0]
    assert keypoints_array(data['annotations'][0]).tolist() == \
        np.zeros((17, 3)).tolist()
    assert repairs['empty_keypoints'] == 2
    assert repairs['persons_without_keypoints'] == 0
    assert '2 empty "keypoints" list(s) read as absent' in msg


def test_persons_without_keypoints_counted(tmp_path):
    missing = _ann(4, 1)
    del missing['keypoints']
    anns = [missing, _ann(5, 2, keypoints=[]), _ann(6, 3, class_id=2)]
    del anns[2]['keypoints']  # a non-person: not counted
    _, repairs, msg = _load_warned(_write(tmp_path, _data(anns)))
    assert repairs['persons_without_keypoints'] == 2
    assert repairs['empty_keypoints'] == 1
    assert '2 person(s) (class_id 1) without keypoints' in msg
    assert 'ignore_unlabelled_poses' in msg


def test_utf8_bom_skipped(tmp_path):
    path = tmp_path / 'ann.json'
    path.write_bytes(b'\xef\xbb\xbf' + json.dumps(_data()).encode('utf-8'))
    data, repairs, msg = _load_warned(str(path))
    assert len(data['annotations']) == 3
    assert repairs['bom'] == 1 and 'byte-order mark' in msg


def test_all_repairs_of_a_file_in_one_warning(tmp_path, recwarn):
    anns = [
        _ann(4, 1, bbox=[-1, 0, 10, 10]),
        _ann(5, 2, segmentation=[SQUARE[0], [1, 1]], class_id=2, keypoints=[]),
    ]
    path = tmp_path / 'ann.json'
    path.write_bytes(b'\xef\xbb\xbf' + json.dumps(_data(anns)).encode())
    load_sor_gt(str(path))
    msgs = [
        str(w.message) for w in recwarn.list
        if issubclass(w.category, SORDataWarning)
    ]
    assert len(msgs) == 1
    for part in ('1 UTF-8 byte-order mark', '1 box(es)', '1 polygon part',
                 '1 empty "keypoints"'):
        assert part in msgs[0], msgs[0]


def test_a_clean_file_warns_nothing(tmp_path, recwarn):
    load_sor_gt(_write(tmp_path, _data()))
    assert not [
        w for w in recwarn.list if issubclass(w.category, SORDataWarning)
    ]
