# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""End-to-end tests of SORMetric and eval_sor_results on a tiny JSON."""
import importlib.util
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import METRICS
from mmdet.structures import DetDataSample
from mmengine.fileio import BaseStorageBackend, register_backend
from mmengine.structures import InstanceData
from pycocotools import mask as mask_utils

import posesor  # noqa: F401  (registers SORMetric)
from posesor.datasets.sor_parsing import SORDataWarning
from posesor.evaluation import SORMetric

H, W = 20, 30
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def box(y0, y1, x0, x1, h=H, w=W):
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


A = box(0, 5, 0, 5)
B = box(0, 5, 10, 16)
C = box(10, 16, 0, 7)


def rle(mask):
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=list(r['size']), counts=r['counts'].decode('ascii'))


def keypoints(x, y, v=2):
    return [x, y, v] * 17


def write_annotations(path):
    """Image 1: A (rank 1), B (rank 2), C (rank 3, a polygon), listed in a
    shuffled order, plus an unranked object. Image 2: one GT (A). Image 3:
    nothing."""
    images = [
        dict(id=1, file_name='img_one.jpg', height=H, width=W),
        dict(id=2, file_name='img_two.jpg', height=H, width=W),
        dict(id=3, file_name='img_three.jpg', height=H, width=W),
    ]
    anns = [
        dict(
            id=12,
            image_id=1,
            category_id=3,
            segmentation=[[0, 10, 7, 10, 7, 16, 0, 16]],
            keypoints=keypoints(3, 12, 0)),
        dict(
            id=10,
            image_id=1,
            category_id=1,
            segmentation=rle(A),
            keypoints=keypoints(2, 2)),
        dict(
            id=13,
            image_id=1,
            category_id=0,
            segmentation=rle(box(18, 20, 25, 30)),
            keypoints=keypoints(0, 0, 0)),
        dict(
            id=11,
            image_id=1,
            category_id=2,
            segmentation=rle(B),
            keypoints=keypoints(12, 2)),
        dict(
            id=20,
            image_id=2,
            category_id=1,
            segmentation=rle(A),
            keypoints=keypoints(2, 2)),
    ]
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns), f)


@pytest.fixture
def ann_file(tmp_path):
    path = str(tmp_path / 'tiny_test.json')
    write_annotations(path)
    return path


def sample(img_id, masks, kpts=None):
    masks = torch.from_numpy(np.stack(masks)) if masks else torch.zeros(
        0, H, W, dtype=torch.bool)
    n = masks.shape[0]
    pred = dict(
        masks=masks,
        scores=torch.linspace(0.9, 0.5, n),
        rank_scores=torch.linspace(0.8, 0.2, n),
        ranks=torch.arange(1, n + 1),
        keypoints=torch.zeros(n, 17, 2) if kpts is None else kpts,
        keypoint_scores=torch.ones(n, 17),
        bboxes=torch.zeros(n, 4))
    return dict(
        img_id=img_id,
        ori_shape=(H, W),
        img_path=f'x/{img_id}.jpg',
        pred_instances=pred)


def predictions():
    kpts = torch.zeros(3, 17, 2)
    kpts[2] = torch.tensor([2.0, 2.0])  # A predicted third (reversed)
    kpts[1] = torch.tensor([12.0, 2.0])
    kpts[1, :, 0] += 3  # B: dx = 3 px = 0.1
    return [
        sample(1, [C, B, A], kpts),  # reversed ranking
        sample(2, [A]),  # single GT, found
        sample(3, [B]),  # no GT: skipped
    ]


def test_sor_metric_end_to_end(ann_file, tmp_path):
    with pytest.warns(SORDataWarning, match='1 unranked object'):
        metric = build_metric(ann_file, tmp_path)
    assert isinstance(metric, SORMetric)
    # GT is sorted by rank although the JSON is not, unranked dropped
    gt = metric.load_gt(1)
    assert gt['masks'].shape == (3, H, W)
    assert (gt['masks'][0] == A).all() and (gt['masks'][1] == B).all()
    assert gt['masks'][2].sum() == 42  # the polygon of C
    assert gt['keypoints_visible'][2].sum() == 0
    metric.process({}, predictions())
    res = metric.evaluate(size=3)
    # image 1: SA-SOR -1, SOR 0; image 2: single GT -> SA-SOR NaN counted
    # as 0, SOR 1; image 3: no GT, skipped
    assert res['sor/sa_sor'] == pytest.approx(-0.5)
    assert res['sor/sa_sor_count'] == 2 and res['sor/sa_sor_nan'] == 1
    assert res['sor/sor'] == pytest.approx(0.5)
    assert res['sor/sor_nan'] == 0
    # IRSR excludes the single-GT image
    assert res['sor/sa_sor_irsr'] == pytest.approx(-1.0)
    assert res['sor/sa_sor_irsr_count'] == 1
    assert res['sor/sor_assr'] == pytest.approx(0.5)
    # perfect masks: MAE 0
    assert res['sor/mae'] == 0.0 and res['sor/mae_x100'] == 0.0
    assert res['sor/mae_count'] == 2
    # JAE: image 1, A and C are perfect or invisible, B is off by 0.1 in x
    # over 17 joints, A exact: 17 * 0.1 / 34; image 2: (0,0) vs (2,2)
    img1 = 17 * 0.1 / (34 + 1e-6)
    img2 = 17 * (2 / 30 + 2 / 20) / (17 + 1e-6)
    assert res['sor/jae'] == pytest.approx((img1 + img2) / 2)
    assert res['sor/num_images'] == 3
    assert res['sor/num_images_without_gt'] == 1

    dump = tmp_path / 'out' / 'test.sor_results.json'
    data = json.loads(dump.read_text())
    assert data['format'] == 'posesor_sor_results'
    first = data['results'][0]
    assert first['img_id'] == 1 and first['image_name'] == 'img_one'
    assert len(first['masks']) == 3
    decoded = mask_utils.decode(
        dict(
            size=first['masks'][0]['size'],
            counts=first['masks'][0]['counts'].encode()))
    assert (decoded.astype(bool) == C).all()
    assert first['rank_scores'] == pytest.approx([0.8, 0.5, 0.2])
    assert np.array(first['keypoints']).shape == (3, 17, 2)
    for key in ('scores', 'ranks', 'keypoint_scores', 'bboxes'):
        assert len(first[key]) == 3

    # round trip through eval_sor_results gives the same numbers
    tool = load_tool()
    out = tool.main([
        str(dump), ann_file, '--metric', 'sa_sor', 'sor', 'mae', 'jae',
        '--convention', 'posesor', 'irsr', 'assr', '--polygon-backend',
        'pycocotools', '--out',
        str(tmp_path / 'metrics.json')
    ])
    for key in ('sa_sor', 'sor', 'mae', 'jae', 'sa_sor_irsr', 'sor_assr',
                'sa_sor_count', 'jae_count'):
        assert out[key] == pytest.approx(res[f'sor/{key}']), key
    # ASSR rank maps of image 1 differ by 255 - 204 on A and C
    assert out['mae_assr'] == pytest.approx(51 * (25 + 42) / (255 * H * W) / 2)
    assert out['num_images_missing'] == 0
    assert json.loads((tmp_path / 'metrics.json').read_text())['sa_sor'] \
        == pytest.approx(-0.5)


def build_metric(ann_file, tmp_path):
    return METRICS.build(
        dict(
            type='SORMetric',
            ann_file=ann_file,
            metric=['sa_sor', 'sor', 'mae', 'jae'],
            convention=dict(
                sa_sor=['posesor', 'irsr'],
                sor=['posesor', 'assr'],
                mae='posesor'),
            polygon_backend='pycocotools',
            outfile_prefix=str(tmp_path / 'out' / 'test')))


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_sor_metric_accepts_det_data_samples(ann_file):
    metric = SORMetric(
        ann_file=ann_file, polygon_backend='cv2', missing='skip')
    ds = DetDataSample(metainfo=dict(img_id=1, ori_shape=(H, W)))
    ds.pred_instances = InstanceData(
        masks=torch.from_numpy(np.stack([A, B, C])), scores=torch.ones(3))
    metric.process({}, [ds.to_dict()])
    res = metric.evaluate(size=1)
    assert res['sor/sa_sor'] == 1.0 and res['sor/sor'] == 1.0
    assert res['sor/num_images_missing'] == 2


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_sor_metric_errors(ann_file, tmp_path):
    metric = SORMetric(ann_file=ann_file)
    with pytest.raises(KeyError, match='image id 99'):
        metric.process({}, [sample(99, [A])])
    bad = sample(1, [np.zeros((5, 5), bool)])
    with pytest.raises(ValueError, match='image id 1'):
        metric.process({}, [bad])
    with pytest.raises(ValueError, match='ann_file'):
        SORMetric()
    with pytest.raises(ValueError, match='no convention'):
        SORMetric(ann_file=ann_file, convention=dict(sa_sor='assr'))
    with pytest.raises(ValueError, match='does not exist'):
        SORMetric(ann_file=str(tmp_path / 'missing.json'))


def test_format_only(tmp_path):
    metric = SORMetric(format_only=True, outfile_prefix=str(tmp_path / 'f'))
    metric.process({}, [sample(7, [A, B])])
    assert metric.evaluate(size=1) == {}
    data = json.loads((tmp_path / 'f.sor_results.json').read_text())
    assert data['results'][0]['img_id'] == 7
    assert len(data['results'][0]['masks']) == 2


def load_tool():
    path = osp.join(REPO, 'tools', 'analysis_tools', 'eval_sor_results.py')
    spec = importlib.util.spec_from_file_location('eval_sor_results', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_reference_pth_dump(ann_file, tmp_path):
    tool = load_tool()

    def enc(mask):
        return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))

    joints = np.zeros((2, 17, 3), dtype=np.float64)
    joints[0, :, :2] = [2 / W, 2 / H]
    ref = {
        # reference dumps: image name -> masks (bytes RLE) in rank order
        'img_one':
        dict(
            masks=[enc(A), enc(C)],
            joints=torch.from_numpy(joints),
            scores=np.array([0.9, 0.8]),
            num=2),
        'unknown_image':
        dict(masks=[enc(A)]),
    }
    path = str(tmp_path / 'ref_coco_format.pth')
    torch.save(ref, path)
    out = tool.evaluate_file(
        path,
        ann_file,
        metric=['sa_sor', 'sor', 'mae', 'jae'],
        polygon_backend='pycocotools',
        progress=False)
    # image 1: pred [A, C] for GT [A, B, C]: SA-SOR 0.5, SOR 1.0;
    # image 2 is missing from the dump: no prediction (SA-SOR and SOR NaN,
    # counted as 0); image 3 has no GT
    assert out['sa_sor'] == pytest.approx(0.25)
    assert out['sor'] == pytest.approx(0.5)
    assert out['sor_nan'] == 1
    assert out['num_images_missing'] == 2
    assert out['num_results_unknown'] == 1
    assert out['mae'] == pytest.approx((30 / (H * W) + 25 / (H * W)) / 2)
    # JAE: joints normalised in the dump; A exact, C invisible in the GT
    assert out['jae'] == pytest.approx(0.0, abs=1e-9)
    assert out['jae_count'] == 1


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_reference_pth_refuses_pickled_objects(ann_file, tmp_path):
    tool = load_tool()
    path = str(tmp_path / 'evil.pth')
    torch.save({'img_one': dict(masks=[], extra=Exploit())}, path)
    with pytest.raises(tool.ResultFileError, match='refusing to read'):
        tool.evaluate_file(path, ann_file, progress=False)
    assert not Exploit.ran


class Exploit:
    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    Exploit.ran = True
    return None


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_empty_predictions_of_any_shape(ann_file):
    for masks in (torch.zeros(0), torch.zeros(0, 1, 1, dtype=torch.bool)):
        metric = SORMetric(ann_file=ann_file, metric=['sa_sor', 'sor', 'mae'])
        metric.process({}, [dict(img_id=1, pred_instances=dict(masks=masks))])
        res = metric.evaluate(size=1)
        # nothing detected on image 1, image 2 missing (scored the same):
        # SA-SOR and SOR NaN (counted as 0), MAE = GT area
        assert res['sor/sa_sor'] == 0.0 and res['sor/sa_sor_nan'] == 2
        assert res['sor/sor'] == 0.0 and res['sor/sor_count'] == 2
        # (the default cv2 rasteriser fills C's polygon boundary
        # inclusively: 7 x 8 = 56 px, pycocotools gives 42 px)
        assert res['sor/mae'] == pytest.approx(
            ((25 + 30 + 56) / (H * W) + 25 / (H * W)) / 2)


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_oracle_predictions_on_synthetic_dataset(synthetic_dataset, tmp_path):
    ann_file = osp.join(synthetic_dataset, 'synthetic_test.json')
    metric = SORMetric(
        ann_file=ann_file,
        metric=['sa_sor', 'sor', 'mae', 'jae'],
        convention=['posesor', 'irsr'],
        outfile_prefix=str(tmp_path / 'oracle'))
    num_gt = {}
    for img_id in metric.gt:
        gt = metric.load_gt(img_id)
        num_gt[img_id] = len(gt['masks'])
        metric.process({}, [
            dict(
                img_id=img_id,
                pred_instances=dict(
                    masks=torch.from_numpy(gt['masks']),
                    keypoints=torch.from_numpy(gt['keypoints'])))
        ])
    res = metric.evaluate(size=len(num_gt))
    with_gt = [n for n in num_gt.values() if n > 0]
    multi = [n for n in with_gt if n > 1]
    assert len(multi) > 0
    # perfect ranking: SA-SOR 1 on multi-GT images, NaN (= 0) on single
    assert res['sor/sa_sor'] == pytest.approx(len(multi) / len(with_gt))
    assert res['sor/sa_sor_irsr'] == pytest.approx(1.0)
    assert res['sor/sa_sor_irsr_count'] == len(multi)
    assert res['sor/sor'] == pytest.approx(1.0)
    assert res['sor/mae'] == 0.0
    assert res['sor/jae'] == pytest.approx(0.0, abs=1e-9)
    assert res['sor/num_images_without_gt'] == len(num_gt) - len(with_gt)
    # the dump scores the same without a model
    out = load_tool().evaluate_file(
        str(tmp_path / 'oracle.sor_results.json'),
        ann_file,
        metric=['sa_sor', 'sor', 'mae'],
        progress=False)
    assert out['sa_sor'] == pytest.approx(res['sor/sa_sor'])
    assert out['mae'] == 0.0


# --------------------------------------------------------------------------
# one rule for images without a prediction, no duplicates
# --------------------------------------------------------------------------
@pytest.mark.filterwarnings('ignore::UserWarning')
def test_missing_images_follow_one_rule(ann_file, tmp_path):
    # only image 1 is predicted (as a dataloader on a subset would do)
    metric = SORMetric(
        ann_file=ann_file,
        polygon_backend='pycocotools',
        outfile_prefix=str(tmp_path / 'p'))
    metric.process({}, [predictions()[0]])
    res = metric.evaluate(size=1)
    # image 2 (one GT) scored as nothing detected: SA-SOR NaN and SOR NaN
    # count as 0; image 3 has no GT; both are missing
    assert res['sor/num_images_missing'] == 2
    assert res['sor/num_images'] == 3
    assert res['sor/sa_sor'] == pytest.approx(-0.5)
    assert res['sor/sor'] == pytest.approx(0.0)
    assert res['sor/sor_nan'] == 1
    assert res['sor/mae'] == pytest.approx(25 / (H * W) / 2)
    assert all(
        type(res[f'sor/{k}']) is int
        for k in ('num_images', 'num_images_missing', 'sa_sor_count',
                  'sa_sor_nan', 'num_images_without_gt'))
    # eval_sor_results on the dump follows the same rule and agrees
    out = load_tool().evaluate_file(
        str(tmp_path / 'p.sor_results.json'),
        ann_file,
        polygon_backend='pycocotools',
        progress=False)
    for key in ('sa_sor', 'sor', 'mae', 'num_images', 'num_images_missing',
                'sor_nan'):
        assert out[key] == res[f'sor/{key}'], key
    # 'skip' leaves them out, in both
    metric = SORMetric(ann_file=ann_file, missing='skip')
    metric.process({}, [predictions()[0]])
    res = metric.evaluate(size=1)
    assert res['sor/num_images_missing'] == 2
    assert res['sor/num_images'] == 1
    assert res['sor/sa_sor'] == -1.0 and res['sor/sor'] == 0.0
    out = load_tool().evaluate_file(
        str(tmp_path / 'p.sor_results.json'),
        ann_file,
        missing='skip',
        progress=False)
    assert out['sa_sor'] == -1.0 and out['num_images'] == 1
    with pytest.raises(ValueError, match='missing must be one of'):
        SORMetric(ann_file=ann_file, missing='zero')


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_two_predictions_for_one_image_are_refused(ann_file, tmp_path):
    metric = SORMetric(ann_file=ann_file, outfile_prefix=str(tmp_path / 'd'))
    first, second = sample(2, [A]), sample(2, [])
    metric.process({}, [predictions()[0], first, second])
    with pytest.raises(ValueError, match=r'image id 2 \(2 times\)'):
        metric.evaluate(size=3)
    # a result file with two entries for one image names it
    entry = dict(img_id=2, masks=[])
    path = tmp_path / 'dup.sor_results.json'
    path.write_text(
        json.dumps(
            dict(
                format='posesor_sor_results',
                version=1,
                results=[entry, dict(img_id=1, masks=[]), entry])))
    tool = load_tool()
    with pytest.raises(
            tool.ResultFileError, match=r'image id 2 \(2 entries\)'):
        tool.evaluate_file(str(path), ann_file, progress=False)


# --------------------------------------------------------------------------
# backend_args: every file goes through mmengine's file backends
# --------------------------------------------------------------------------
class MemoryBackend(BaseStorageBackend):
    """A file backend that keeps files in a dict (nothing on disk)."""
    files = {}

    def get(self, filepath):
        if str(filepath) not in self.files:
            raise FileNotFoundError(filepath)
        return self.files[str(filepath)]

    def get_text(self, filepath, encoding='utf-8'):
        return self.get(filepath).decode(encoding)

    def put(self, obj, filepath):
        self.files[str(filepath)] = bytes(obj)

    def put_text(self, obj, filepath, encoding='utf-8'):
        self.put(obj.encode(encoding), filepath)

    def exists(self, filepath):
        return str(filepath) in self.files

    def isfile(self, filepath):
        return self.exists(filepath)

    def join_path(self, filepath, *filepaths):
        return '/'.join([str(filepath).rstrip('/')] + list(filepaths))


register_backend('posesor_test_metric_memory', MemoryBackend, force=True)
MEMORY = dict(backend='posesor_test_metric_memory')


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_backend_args_are_honoured(ann_file, tmp_path):
    with open(ann_file, 'rb') as f:
        MemoryBackend.files['/virtual/ann.json'] = f.read()
    metric = SORMetric(
        ann_file='/virtual/ann.json',
        metric=['sa_sor', 'sor', 'mae', 'jae'],
        polygon_backend='pycocotools',
        outfile_prefix='/virtual/out/test',
        backend_args=MEMORY)
    metric.process({}, predictions())
    res = metric.evaluate(size=3)
    assert res['sor/sa_sor'] == pytest.approx(-0.5)
    dump = '/virtual/out/test.sor_results.json'
    assert dump in MemoryBackend.files
    assert not osp.exists(dump)
    # eval_sor_results reads and writes through the same backend
    out = load_tool().main([
        dump, '/virtual/ann.json', '--metric', 'sa_sor', 'sor', 'mae', 'jae',
        '--polygon-backend', 'pycocotools', '--backend-args',
        json.dumps(MEMORY), '--out', '/virtual/metrics.json'
    ])
    assert out['jae'] == pytest.approx(res['sor/jae'])
    saved = json.loads(MemoryBackend.files['/virtual/metrics.json'])
    assert saved['sa_sor'] == pytest.approx(-0.5)
    # without the backend the same paths do not exist
    with pytest.raises(ValueError, match='does not exist'):
        SORMetric(ann_file='/virtual/ann.json')


@pytest.mark.parametrize('case', ['counts_past_image', 'other_size'])
def test_bad_ground_truth_rles_name_the_annotation(tmp_path, case):
    """A malformed ground-truth RLE is refused when the metric is built,
    naming the file, the image id and the annotation id."""
    path = str(tmp_path / 'bad.json')
    write_annotations(path)
    data = json.loads(open(path).read())
    if case == 'counts_past_image':
        # counts that run past the 20 x 30 image (pycocotools cannot decode)
        data['annotations'][1]['segmentation'] = dict(
            size=[H, W],
            counts=mask_utils.frPyObjects(
                dict(size=[H, W], counts=[10, H * W]), H,
                W)['counts'].decode())
        expected = r'bad.json.*image id 1, annotation id 10: RLE counts'
    else:
        data['annotations'][4]['segmentation'] = rle(box(0, 2, 0, 2, h=H + 1))
        expected = r'bad.json.*image id 2, annotation id 20: RLE size'
    with open(path, 'w') as f:
        json.dump(data, f)
    with pytest.raises(ValueError, match=expected):
        SORMetric(ann_file=path, metric=['sa_sor'])


def test_every_segmentation_format_gives_the_dense_values(tmp_path):
    """The GT runs SORMetric gathers for the whole file (compressed RLEs
    from the validation's decoding, polygons and uncompressed counts from
    their encoding) score like the decoded masks, image by image."""
    from posesor.datasets.sor_parsing import decode_segmentation, load_sor_gt
    from posesor.evaluation.functional import (evaluate_image,
                                               normalize_conventions)
    rng = np.random.default_rng(3)
    images, anns = [], []
    for img_id in range(1, 7):
        h, w = int(rng.integers(8, 20)), int(rng.integers(8, 20))
        images.append(
            dict(id=img_id, file_name=f'{img_id}.jpg', height=h, width=w))
        for k in range(int(rng.integers(0, 4))):
            mask = rng.random((h, w)) < rng.choice([0.0, 0.3, 1.0])
            fortran = np.asfortranarray(mask.astype(np.uint8))
            if k == 0:  # a polygon
                segm = [[1, 1, w - 2, 1, w - 2, h - 3, 1, h - 2]]
            elif k == 1:  # uncompressed counts
                runs = mask_utils.decode(mask_utils.encode(fortran))
                flat = np.concatenate([[0], runs.ravel(order='F'), [2]])
                edges = np.flatnonzero(np.diff(flat))
                counts = np.diff(np.concatenate([[0], edges])).tolist()
                segm = dict(size=[h, w], counts=counts)
            else:
                segm = rle(mask)
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=img_id,
                    category_id=int(rng.permutation(3)[k]) + 1,
                    segmentation=segm))
        if img_id == 2:  # an unranked object is dropped
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=img_id,
                    category_id=0,
                    segmentation=rle(np.ones((h, w), bool))))
    path = str(tmp_path / 'mixed.json')
    with open(path, 'w') as f:
        json.dump(dict(images=images, annotations=anns), f)
    metric = SORMetric(
        ann_file=path, metric=['sa_sor', 'sor', 'mae'], polygon_backend='cv2')
    pairs = normalize_conventions(['sa_sor', 'sor', 'mae'])
    with pytest.warns(SORDataWarning):
        groups = load_sor_gt(path)
    for img_id, group in groups.items():
        h, w = group['image']['height'], group['image']['width']
        preds = rng.random((3, h, w)) < 0.5
        got = metric.process_sample(
            dict(img_id=img_id, pred_instances=dict(masks=preds)))
        assert got['num_gt'] == len(group['annotations'])
        if not group['annotations']:
            assert got['values'] == {}
            continue
        gts = np.stack([
            decode_segmentation(a['segmentation'], h, w, 'cv2')
            for a in group['annotations']
        ]).astype(bool)
        want = evaluate_image(preds, gts, pairs)
        np.testing.assert_equal(got['values'], want)


def scored_sample(img_id, masks, objectness):
    out = sample(img_id, masks)
    out['pred_instances']['scores'] = torch.tensor(
        objectness, dtype=torch.float64)
    return out


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_all_conventions_through_the_metric_and_the_tool(
        ann_file, tmp_path, capsys):
    from posesor.evaluation.functional import SUPPORTED_CONVENTIONS, metric_key
    metric = SORMetric(
        ann_file=ann_file,
        convention='all',
        polygon_backend='pycocotools',
        outfile_prefix=str(tmp_path / 'all'))
    # image 1 reversed with objectness 0.9, 0.8, 0.5 (QAGNet drops A);
    # image 2 single GT found; image 3 without GT
    metric.process({}, [
        scored_sample(1, [C, B, A], [0.9, 0.8, 0.5]),
        scored_sample(2, [A], [0.9]),
        scored_sample(3, [B], [0.9])
    ])
    res = metric.evaluate(size=3)
    for name in ('sa_sor', 'sor', 'mae'):
        for conv in SUPPORTED_CONVENTIONS[name]:
            assert f'sor/{metric_key(name, conv)}' in res, (name, conv)
    # greedy SA-SOR: -1 on image 1, image 2 (single GT) excluded
    for conv in ('irsr', 'dsgnn', 'qagnet'):
        assert res[f'sor/sa_sor_{conv}'] == pytest.approx(-1.0)
        assert res[f'sor/sa_sor_{conv}_count'] == 1
        assert res[f'sor/sa_sor_{conv}_nan'] == 1
    # SOR: image 1 reversed on B and C (QAGNet) or on all (DSGNN): 0;
    # image 2: 1.0
    assert res['sor/sor_dsgnn'] == pytest.approx(0.5)
    assert res['sor/sor_qagnet'] == pytest.approx(0.5)
    assert res['sor/qagnet_score_thr'] == 0.7
    assert res['sor/qagnet_score_thr_images'] == 2
    # QAGNet's MAE on image 1: its map paints C 255 and B 229 (A dropped)
    # against the GT levels A 255, B 229, C 204; image 2 exact
    diff = (255 * 25 + 0 * 30 + 51 * 42) / (255 * H * W)
    assert res['sor/mae_qagnet'] == pytest.approx(diff / 2, rel=1e-6)

    # the tool on the dump (which keeps the scores) gives the same values
    # and prints the table
    tool = load_tool()
    out = tool.main([
        str(tmp_path / 'all.sor_results.json'), ann_file, '--convention',
        'all', '--polygon-backend', 'pycocotools'
    ])
    for key, value in res.items():
        assert out[key[len('sor/'):]] == pytest.approx(value, nan_ok=True)
    printed = capsys.readouterr().out.splitlines()
    heads = [line.split(' | ')[0].strip() for line in printed]
    start = len(heads) - 1 - heads[::-1].index('convention')
    assert heads[start + 2:start + 8] == [
        'posesor', 'irsr', 'assr', 'dsgnn', 'qagnet', 'qagnet_limited'
    ]
    assert 'score > 0.7 (2 images)' in printed[start + 6]
    assert 'score > 0.7 (2 images); top 5' in printed[start + 7]


@pytest.mark.filterwarnings('ignore::UserWarning')
def test_all_conventions_on_a_reference_dump(ann_file, tmp_path):
    """A reference ``.pth`` dump without per-mask scores is scored by every
    convention, QAGNet's without its filter (reported); with scores, the
    filter applies."""
    tool = load_tool()

    def enc(mask):
        return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))

    path = str(tmp_path / 'ref_coco_format.pth')
    torch.save({'img_one': dict(masks=[enc(C), enc(B), enc(A)], scores=0.0)},
               path)
    out = tool.evaluate_file(path, ann_file, convention='all', progress=False)
    assert out['qagnet_score_thr_images'] == 0
    assert out['sa_sor_qagnet'] == pytest.approx(-1.0)
    assert out['sor_qagnet'] == out['sor_dsgnn'] == pytest.approx(0.0)
    torch.save(
        {
            'img_one':
            dict(
                masks=[enc(C), enc(B), enc(A)],
                scores=torch.tensor([0.9, 0.8, 0.5]))
        }, path)
    out = tool.evaluate_file(path, ann_file, convention='all', progress=False)
    assert out['qagnet_score_thr_images'] == 1
    # A dropped: SOR on B and C only, still reversed
    assert out['sor_qagnet'] == pytest.approx(0.0)
    assert out['sor_qagnet_count'] == 1
    torch.save({'img_one': dict(masks=[enc(C)], scores=[0.9, 0.8])}, path)
    with pytest.raises(tool.ResultFileError, match='2 scores for 1 masks'):
        tool.evaluate_file(path, ann_file, convention='all', progress=False)


def test_jae_is_undefined_without_predicted_keypoints(ann_file, tmp_path):
    """A model without keypoint outputs (trained without pose losses) has
    no joint error: JAE is NaN on every image, the other metrics stay."""
    with pytest.warns(SORDataWarning):
        metric = build_metric(ann_file, tmp_path)
    samples = predictions()
    for s in samples:
        for key in ('keypoints', 'keypoint_scores'):
            s['pred_instances'].pop(key)
    metric.process({}, samples)
    res = metric.evaluate(size=3)
    assert math.isnan(res['sor/jae'])
    assert res['sor/jae_count'] == 0 and res['sor/jae_nan'] == 2
    assert res['sor/sa_sor'] == pytest.approx(-0.5)
    assert res['sor/sor'] == pytest.approx(0.5)


@pytest.mark.parametrize('cover', ['fewer', 'more'])
def test_result_rle_counts_must_cover_its_size(ann_file, tmp_path, cover):
    """Issue 24: a result mask whose counts cover fewer pixels than its
    ``size`` made pycocotools decode uninitialised memory (MAE changed from
    run to run); it is refused like the ground truth's, naming the image id
    and the entry."""
    other = (H // 2, W // 2) if cover == 'fewer' else (H + 4, W)
    short = rle(box(0, 3, 0, 3, h=other[0], w=other[1]))
    short['size'] = [H, W]
    path = tmp_path / 'short.sor_results.json'
    path.write_text(
        json.dumps(
            dict(
                format='posesor_sor_results',
                version=1,
                results=[
                    dict(img_id=2, masks=[rle(A)]),
                    dict(img_id=1, masks=[rle(A), short]),
                ])))
    tool = load_tool()
    with pytest.raises(tool.ResultFileError) as e:
        tool.evaluate_file(str(path), ann_file, progress=False)
    msg = str(e.value)
    assert 'short.sor_results.json' in msg and 'image id 1' in msg
    assert 'mask 1' in msg
    assert f'cover {other[0] * other[1]} pixels' in msg
    assert f'has {H * W}' in msg
