# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Score random SOR cases with the authors' own evaluation code (DSGNN,
QAGNet) and save the cases and their values as test fixtures.

The fixtures of ``tests/test_evaluation/test_conventions.py`` come from
here. Every case (GT and predicted masks as unions of rectangles, rank
scores, objectness scores) is scored by the original code, run on the CPU
with the authors' inputs built the way their pipelines build them:

* DSGNN (``github:Wu-ZJ/DSGNN``): ``SORDataset.evaluate`` of
  ``mmdet/datasets/sor.py`` on the ``rank_results`` that
  ``MaskFormerSORFusionHead.salience_ranking_postprocess``
  (``mmdet/models/seg_heads/panoptic_fusion_heads/maskformer_fusion_head.py``)
  makes of the masks and rank scores; ranks read from ASSR-style
  ``rank_order`` files by ``get_ann_info``.
* QAGNet (``github:EricDengbowen/QAGNet``): the ``inference`` function of
  ``inference.py`` (ASSR data, ``LIMITED`` False and True) with a model that
  returns the case's instances: its 0.7 score threshold, its colour maps
  written as PNG files, ``rankevaluation/SASOR.py`` and
  ``rankevaluation/sor_eval.py`` on an ASSR-style dataset folder written
  here (image list, ``rank_order`` files, object segmentations, GT rank
  PNGs in the ASSR levels).

The parts of their code that only load data or models (detectron2,
mmcv/mmdet registries, ``skimage``, ``thop``, ``tqdm``, ``psutil``) are
replaced by small stand-ins; ``np.float``/``np.int`` (aliases of
``float``/``int`` that numpy 1.24 removed) are restored for
``inference.py``. Per-case values come from scoring each case alone (a
dataset of one image); the dataset values from scoring all cases at once.
An image that a script leaves out of its mean (division by zero, or NaN)
is stored as NaN.

Run it with a Python that has what the authors' code imports, kept apart
from the project environment, e.g.::

    python3.11 -m venv /tmp/refenv
    /tmp/refenv/bin/pip install numpy==1.26.4 scipy==1.10.1 pandas==2.2.3 \\
        scikit-learn==1.3.2 opencv-python-headless==4.8.1.78 \\
        pycocotools==2.0.7 torch
    HEADS=mmdet/models/seg_heads/panoptic_fusion_heads
    git -C DSGNN_MIRROR archive HEAD mmdet/datasets/sor.py \\
        $HEADS/maskformer_fusion_head.py | tar -x -C /tmp/dsgnn
    git -C QAGNET_MIRROR archive HEAD inference.py rankevaluation \\
        | tar -x -C /tmp/qagnet
    /tmp/refenv/bin/python tools/misc/make_convention_fixtures.py \\
        --dsgnn /tmp/dsgnn --qagnet /tmp/qagnet \\
        --out tests/data/sor_conventions.npz

(scipy < 1.11 is needed: the scripts call ``scipy.stats.mode(v)[0][0]``.)
The script imports numpy only at module level, so the tests can import
:func:`case_arrays` from it.
"""
import argparse
import contextlib
import copy
import io
import json
import math
import os
import os.path as osp
import sys
import tempfile
import types
import warnings
from typing import Any, Dict, List, Tuple

import numpy as np

#: Image size of every case.
HEIGHT, WIDTH = 24, 32
#: At most this many GT objects (ASSR ranks at most 5).
MAX_GT = 5
#: At most this many predictions (QAGNet's colours change beyond 10).
MAX_PRED = 12
#: Scores are multiples of this, exact in float32 (the authors' models
#: produce float32 scores).
SCORE_STEP = 1 / 64
#: ASSR rank-order value of the i-th most salient GT (i = 0..4); objects
#: at or below 0.5 are not salient.
ASSR_RANK_ORDER = (1.0, 0.9, 0.8, 0.7, 0.6)
NOT_SALIENT = 0.5
#: Grey levels of the ASSR GT rank PNGs.
ASSR_LEVELS = (255, 229, 204, 178, 153)
SPLIT = 'test'
METRICS = ('sa_sor', 'sor', 'mae')


# --------------------------------------------------------------------------
# random cases
# --------------------------------------------------------------------------
def _random_rect(rng: np.random.Generator) -> List[int]:
    y0 = int(rng.integers(0, HEIGHT - 3))
    x0 = int(rng.integers(0, WIDTH - 3))
    y1 = int(rng.integers(y0 + 2, min(HEIGHT, y0 + 16) + 1))
    x1 = int(rng.integers(x0 + 2, min(WIDTH, x0 + 20) + 1))
    return [y0, y1, x0, x1]


def _jitter(rng: np.random.Generator, rect: List[int]) -> List[int]:
    y0, y1, x0, x1 = (v + int(rng.integers(-2, 3)) for v in rect)
    y0, x0 = max(0, y0), max(0, x0)
    return [y0, max(y0 + 1, min(HEIGHT, y1)), x0, max(x0 + 1, min(WIDTH, x1))]


def random_cases(num: int, seed: int) -> Dict[str, np.ndarray]:
    """Random cases as flat arrays (see :func:`case_arrays`).

    GT masks are unions of one or two rectangles; predictions are jittered
    copies of some GTs (a few dropped, a few duplicated) plus random
    rectangles, in an order that mostly but not always follows the GT
    ranks; rank scores decrease along that order (ties happen), objectness
    scores are random.

    Args:
        num (int): Number of cases.
        seed (int): Seed of numpy's default generator.

    Returns:
        dict[str, np.ndarray]: ``num_gt``, ``num_pred`` (per case),
        ``num_rects`` (per mask: the GTs of a case, then its predictions),
        ``rects`` (``(R, 4)`` int16 ``y0, y1, x0, x1``), ``rank_scores``
        and ``objectness`` (per prediction, float64).
    """
    rng = np.random.default_rng(seed)
    num_gt, num_pred, num_rects, rects = [], [], [], []
    rank_scores, objectness = [], []
    for _ in range(num):
        m = int(rng.integers(1, MAX_GT + 1))
        gts = [[_random_rect(rng)] for _ in range(m)]
        for g in gts:
            if rng.random() < 0.3:
                g.append(_random_rect(rng))
        preds = []
        for g in gts:
            if rng.random() < 0.15:
                continue
            for _ in range(1 + int(rng.random() < 0.1)):
                preds.append([_jitter(rng, r) for r in g])
        num_fp = int(
            rng.integers(0, 4) if rng.random() <
            0.9 else rng.integers(4, MAX_PRED + 1))
        for _ in range(num_fp):
            preds.append([_random_rect(rng)])
        if rng.random() < 0.6:  # swap neighbours: imperfect ranking
            for k in range(len(preds) - 1):
                if rng.random() < 0.4:
                    preds[k], preds[k + 1] = preds[k + 1], preds[k]
        else:
            preds = [preds[k] for k in rng.permutation(len(preds))]
        if rng.random() < 0.05:
            preds = []
        preds = preds[:MAX_PRED]
        n = len(preds)
        steps = rng.integers(0, 3 if rng.random() < 0.3 else 12, size=n)
        scores = 1.0 - SCORE_STEP * np.cumsum(steps)
        rank_scores.extend(np.clip(scores, SCORE_STEP, 1.0).tolist())
        objectness.extend((rng.integers(20, 65, size=n) * SCORE_STEP).tolist())
        num_gt.append(m)
        num_pred.append(n)
        for mask in gts + preds:
            num_rects.append(len(mask))
            rects.extend(mask)
    return dict(
        num_gt=np.asarray(num_gt, dtype=np.int32),
        num_pred=np.asarray(num_pred, dtype=np.int32),
        num_rects=np.asarray(num_rects, dtype=np.int32),
        rects=np.asarray(rects, dtype=np.int16).reshape(-1, 4),
        rank_scores=np.asarray(rank_scores, dtype=np.float64),
        objectness=np.asarray(objectness, dtype=np.float64))


def case_arrays(data: Dict[str, np.ndarray]) -> List[Dict[str, Any]]:
    """Decode the cases of :func:`random_cases` (or of a fixture file).

    Args:
        data (dict): The arrays of :func:`random_cases`.

    Returns:
        list[dict]: Per case ``gt`` ``(m, H, W)`` and ``pred`` ``(n, H, W)``
        bool masks (most salient first), ``gt_rects`` and ``pred_rects``
        (rectangles of each mask), ``rank_scores`` and ``objectness``
        ``(n,)``.
    """
    cases = []
    mask_idx = rect_idx = pred_idx = 0
    for m, n in zip(data['num_gt'].tolist(), data['num_pred'].tolist()):
        masks, mask_rects = [], []
        for _ in range(m + n):
            k = int(data['num_rects'][mask_idx])
            own = data['rects'][rect_idx:rect_idx + k].tolist()
            mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
            for y0, y1, x0, x1 in own:
                mask[y0:y1, x0:x1] = True
            masks.append(mask)
            mask_rects.append(own)
            mask_idx += 1
            rect_idx += k
        stack = np.zeros((m + n, HEIGHT, WIDTH), dtype=bool)
        if masks:
            stack = np.stack(masks)
        cases.append(
            dict(
                gt=stack[:m],
                pred=stack[m:],
                gt_rects=mask_rects[:m],
                pred_rects=mask_rects[m:],
                rank_scores=data['rank_scores'][pred_idx:pred_idx + n],
                objectness=data['objectness'][pred_idx:pred_idx + n]))
        pred_idx += n
    return cases


def _polygons(rects: List[List[int]]) -> List[List[float]]:
    """COCO polygons of rectangles (pycocotools fills them exactly)."""
    return [[x0, y0, x1, y0, x1, y1, x0, y1] for y0, y1, x0, x1 in rects]


def _rank_levels_png(gt: np.ndarray) -> np.ndarray:
    """ASSR GT rank map: level of rank i painted in rank order."""
    out = np.zeros(gt.shape[1:], dtype=np.uint8)
    for i in range(gt.shape[0]):
        out[gt[i]] = ASSR_LEVELS[i]
    return out


def _stub(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def _load_source(path: str, name: str, package: str = '') -> Any:
    """Execute one source file of a reference as module ``name``."""
    module = types.ModuleType(name)
    module.__file__ = path
    module.__package__ = package
    sys.modules[name] = module
    with open(path) as f:
        code = compile(f.read(), path, 'exec')
    exec(code, module.__dict__)
    return module


def _nan_if_left_out(fn, *args) -> float:
    """A script's dataset value, NaN when it divides by zero images."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            value = fn(*args)
    except ZeroDivisionError:
        return math.nan
    return float(value)


# --------------------------------------------------------------------------
# DSGNN
# --------------------------------------------------------------------------
def _identity_registry() -> Any:
    return types.SimpleNamespace(register_module=lambda *a, **k: (lambda c: c))


def load_dsgnn(root: str) -> Tuple[Any, Any]:
    """DSGNN's ``SORDataset`` and ``MaskFormerSORFusionHead`` classes."""
    import torch

    class CustomDataset:

        def __len__(self) -> int:
            return len(self.data_infos)

    _stub('mmcv')
    _stub('mmcv.utils', print_log=print)
    _stub('terminaltables', AsciiTable=object)
    _stub('mmdet')
    _stub('mmdet.core', eval_recalls=None)
    _stub('mmdet.core.evaluation')
    _stub('mmdet.core.evaluation.panoptic_utils', INSTANCE_OFFSET=1000)
    _stub(
        'mmdet.core.mask',
        mask2bbox=lambda m: torch.zeros((m.shape[0], 4), dtype=torch.float32))
    _stub('mmdet.models')
    _stub('mmdet.models.builder', HEADS=_identity_registry())
    _stub('dsgnn_datasets')
    _stub('dsgnn_datasets.api_wrappers', COCO=None, COCOeval=None)
    _stub('dsgnn_datasets.builder', DATASETS=_identity_registry())
    _stub('dsgnn_datasets.custom', CustomDataset=CustomDataset)
    _stub('dsgnn_heads')
    _stub(
        'dsgnn_heads.base_panoptic_fusion_head', BasePanopticFusionHead=object)
    sor = _load_source(
        osp.join(root, 'mmdet', 'datasets', 'sor.py'), 'dsgnn_datasets.sor',
        'dsgnn_datasets')
    head = _load_source(
        osp.join(root, 'mmdet', 'models', 'seg_heads', 'panoptic_fusion_heads',
                 'maskformer_fusion_head.py'),
        'dsgnn_heads.maskformer_fusion_head', 'dsgnn_heads')
    return sor.SORDataset, head.MaskFormerSORFusionHead


def run_dsgnn(root: str, cases: List[dict],
              workdir: str) -> Dict[str, np.ndarray]:
    """Per-case and dataset values of DSGNN's ``evaluate``."""
    import torch
    dataset_cls, head_cls = load_dsgnn(root)
    rank_dir = osp.join(workdir, 'dsgnn_rank_order')
    os.makedirs(rank_dir, exist_ok=True)
    infos, results = [], []
    rng = np.random.default_rng(0)
    for c, case in enumerate(cases):
        # GT objects in rank order, a not-salient object at a random place
        rank_order = list(ASSR_RANK_ORDER[:len(case['gt'])])
        objects = [
            dict(bbox=[0, 0, 1, 1], segmentation=_polygons(r))
            for r in case['gt_rects']
        ]
        extra = int(rng.integers(0, len(objects) + 1))
        rank_order.insert(extra, NOT_SALIENT)
        objects.insert(
            extra,
            dict(bbox=[0, 0, 1, 1], segmentation=_polygons([[0, 2, 0, 2]])))
        name = f'case{c:05d}'
        with open(osp.join(rank_dir, name + '.json'), 'w') as f:
            json.dump(dict(rank_order=rank_order), f)
        infos.append(
            dict(
                filename=name + '.jpg',
                object_data=objects,
                width=WIDTH,
                height=HEIGHT))
        logits = torch.where(
            torch.from_numpy(case['pred']), torch.tensor(1.0),
            torch.tensor(-1.0)).float()
        scores = torch.tensor(case['rank_scores'], dtype=torch.float32)
        results.append(
            dict(
                rank_results=head_cls.salience_ranking_postprocess(
                    None, scores, logits)))

    def make(indices: List[int]) -> Any:
        ds = object.__new__(dataset_cls)
        ds.data_infos = [infos[i] for i in indices]
        ds.rank_prefix = rank_dir
        ds.seg_suffix = '.png'
        return ds

    def evaluate(indices: List[int]) -> Dict[str, float]:
        ds = make(indices)
        res = [results[i] for i in indices]
        # evaluate() runs all three; SA-SOR divides by zero when every
        # image is left out, so its value is taken on its own first
        sa = _nan_if_left_out(lambda: ds.evaluate(res)['sa_sor'])
        ds.evaluate_sa_sor = lambda *args: sa
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            out = ds.evaluate(res)
        return dict(sa_sor=sa, sor=float(out['sor']), mae=float(out['mae']))

    return _collect(evaluate, len(cases))


def _collect(evaluate, num: int) -> Dict[str, np.ndarray]:
    per_case = {k: np.full(num, np.nan) for k in METRICS}
    with contextlib.redirect_stdout(io.StringIO()):
        for c in range(num):
            for key, value in evaluate([c]).items():
                per_case[key][c] = value
        total = evaluate(list(range(num)))
    out = {f'{k}': v for k, v in per_case.items()}
    out.update({f'dataset_{k}': np.float64(v) for k, v in total.items()})
    return out


# --------------------------------------------------------------------------
# QAGNet
# --------------------------------------------------------------------------
class _Instances:
    """The part of detectron2's ``Instances`` that QAGNet's inference
    uses."""

    def __init__(self, image_size: Tuple[int, int], **fields: Any) -> None:
        self.image_size = image_size
        self._fields = dict(fields)

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get('_fields', {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)

    def __len__(self) -> int:
        return len(next(iter(self._fields.values())))

    def __getitem__(self, item: int) -> '_Instances':
        return _Instances(
            self.image_size, **{
                k: v[item:item + 1]
                for k, v in self._fields.items()
            })

    def to(self, device: str) -> '_Instances':
        return self

    @staticmethod
    def cat(items: List['_Instances']) -> '_Instances':
        import torch
        return _Instances(
            items[0].image_size, **{
                k: torch.cat([i._fields[k] for i in items])
                for k in items[0]._fields
            })


def load_qagnet(root: str, cases_for_loader: List[dict]) -> Any:
    """QAGNet's ``inference`` module with stand-ins for its loaders."""
    np.float, np.int = float, int  # removed aliases that it uses
    sys.path.insert(0, root)
    _stub('psutil')
    _stub('tqdm', tqdm=lambda x, *a, **k: x)
    _stub('thop', profile=None)
    _stub('skimage')
    for sub in ('color', 'io', 'transform'):
        setattr(sys.modules['skimage'], sub, _stub(f'skimage.{sub}'))
    _stub('detectron2')
    _stub(
        'detectron2.data',
        build_detection_test_loader=None,
        DatasetFromList=lambda data, copy=False: data,
        MapDataset=lambda data, mapper: data)
    _stub(
        'detectron2.structures',
        Boxes=None,
        ImageList=None,
        Instances=_Instances,
        BitMasks=None)
    _stub('detectron2.utils')
    sys.modules['detectron2.utils.comm'] = _stub(
        'detectron2.utils.comm', is_main_process=lambda: True)
    sys.modules['detectron2.utils'].comm = sys.modules['detectron2.utils.comm']
    for pkg in ('mask2former', 'mask2former.data',
                'mask2former.data.dataset_mappers',
                'mask2former.data.datasets'):
        _stub(pkg)
    for kind, cls in (('assr', 'AssrDatasetMapper'), ('irsr',
                                                      'IrsrDatasetMapper'),
                      ('sifr', 'SIFRdataDatasetMapper')):
        _stub(f'mask2former.data.dataset_mappers.{kind}_dataset_mapper', **{
            cls: lambda cfg, is_train: None
        })
        _stub(f'mask2former.data.datasets.register_{kind}', **{
            f'get_{kind}_dicts': lambda root, mode: cases_for_loader
        })
    return _load_source(osp.join(root, 'inference.py'), 'qagnet_inference')


class _Model:
    """Returns each case's instances (float masks, rank and objectness
    scores) as QAGNet's model does."""

    def __init__(self, cases: List[dict]) -> None:
        self.cases = {f'case{c:05d}.jpg': case for c, case in enumerate(cases)}
        self.training = False

    def eval(self) -> None:
        pass

    def train(self, mode: bool) -> None:
        pass

    def __call__(self, inputs: List[dict]) -> List[dict]:
        import torch
        case = self.cases[osp.basename(inputs[0]['file_name'])]
        n = len(case['pred'])
        fields = dict(
            scores=torch.tensor(case['objectness'], dtype=torch.float32),
            pred_rank=torch.tensor(case['rank_scores'], dtype=torch.float32),
            pred_masks=torch.from_numpy(case['pred']).float().reshape(
                n, HEIGHT, WIDTH))
        return [dict(instances=_Instances((HEIGHT, WIDTH), **fields))]


def _write_assr_dataset(root: str, cases: List[dict]) -> List[dict]:
    """ASSR-style test split for ``sor_eval``; returns the loader dicts."""
    import cv2
    from pycocotools import mask as mask_utils
    for sub in ('rank_order', 'gt'):
        os.makedirs(osp.join(root, sub, SPLIT), exist_ok=True)
    names, seg_data, loader = [], [], []
    for c, case in enumerate(cases):
        name = f'case{c:05d}'
        names.append(name)
        m = len(case['gt'])
        rank_order = list(ASSR_RANK_ORDER[:m]) + [NOT_SALIENT]
        with open(osp.join(root, 'rank_order', SPLIT, name + '.json'),
                  'w') as f:
            json.dump(dict(rank_order=rank_order), f)
        objects = []
        for mask in list(case['gt']) + [np.zeros((HEIGHT, WIDTH), bool)]:
            rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
            objects.append(
                dict(
                    bbox=[0, 0, 1, 1],
                    segmentation=dict(
                        size=rle['size'], counts=rle['counts'].decode())))
        seg_data.append(dict(img=name, object_data=objects))
        cv2.imwrite(
            osp.join(root, 'gt', SPLIT, name + '.png'),
            _rank_levels_png(case['gt']))
        loader.append(
            dict(
                file_name=f'images/{SPLIT}/{name}.jpg',
                height=HEIGHT,
                width=WIDTH,
                annotations=[
                    dict(gt_rank=m - 1 - i, segmentation=_polygons(r))
                    for i, r in enumerate(case['gt_rects'])
                ]))
    with open(osp.join(root, f'{SPLIT}_images.txt'), 'w') as f:
        f.write('\n'.join(names) + '\n')
    with open(osp.join(root, f'obj_seg_data_{SPLIT}.json'), 'w') as f:
        json.dump(seg_data, f)
    return loader


def run_qagnet(root: str,
               cases: List[dict],
               workdir: str,
               limited: bool = False) -> Dict[str, np.ndarray]:
    """Per-case and dataset values of QAGNet's ``inference`` (its
    ``LIMITED`` option caps the predictions at 5 on ASSR data)."""
    workdir = osp.join(workdir, f'qagnet_limited_{limited}')
    os.makedirs(workdir)
    data_root = osp.join(workdir, 'datasets') + '/'
    loader = _write_assr_dataset(osp.join(data_root, 'ASSR'), cases)
    inference = load_qagnet(root, loader)
    captured: Dict[str, Any] = {}
    real_sasor = inference.rank_evalu

    def recording_sasor(res, iou):
        # the F-measure that runs next pops the entries' keys
        captured['res'] = copy.deepcopy(res)
        return real_sasor(res, iou)

    inference.rank_evalu = recording_sasor
    cfg = types.SimpleNamespace(
        EVALUATION=types.SimpleNamespace(
            DATASET='assr',
            LIMITED=limited,
            DATAPATH=data_root,
            RESULT_THRESHOLD=0.7))
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        with contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter('ignore')
            inference.inference(cfg, _Model(cases), 'model.pth', workdir,
                                SPLIT)
    finally:
        os.chdir(cwd)
    map_dir = [
        osp.join(dp, '') for dp, _, files in os.walk(workdir)
        if 'GeneratedSaliencyMaps' in dp and files
    ][0]
    sor_eval = sys.modules['rankevaluation.sor_eval']
    sasor = sys.modules['rankevaluation.SASOR']
    dataset = sor_eval.DatasetTestASSR(data_root + 'ASSR/', SPLIT, True)

    def subset(indices: List[int]) -> Any:
        ds = object.__new__(type(dataset))
        ds.__dict__.update(dataset.__dict__)
        for key in ('img_ids', 'gt_rank_orders', 'obj_seg', 'sal_obj_idx_list',
                    'obj_bboxes', 'not_sal_obj_idx_list'):
            values = getattr(dataset, key)
            setattr(ds, key, [values[i] for i in indices])
        return ds

    def evaluate(indices: List[int]) -> Dict[str, float]:
        ds = subset(indices)
        sa = _nan_if_left_out(sasor.evalu,
                              [captured['res'][i] for i in indices], 0.5)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            mae = sor_eval.eval_mae(ds, map_dir)
            _, sor = sor_eval.eval_spr(
                sor_eval.calculate_spr(ds, map_dir, 'assr'))
        return dict(sa_sor=sa, sor=float(sor), mae=float(mae))

    return _collect(evaluate, len(cases))


def parse_args(argv: Any = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dsgnn', required=True, help='DSGNN checkout')
    parser.add_argument('--qagnet', required=True, help='QAGNet checkout')
    parser.add_argument('--out', required=True, help='output .npz file')
    parser.add_argument('--num', type=int, default=1000, help='cases')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv: Any = None) -> None:
    args = parse_args(argv)
    data = random_cases(args.num, args.seed)
    cases = case_arrays(data)
    out = dict(data)
    with tempfile.TemporaryDirectory() as workdir:
        runs = (('dsgnn', run_dsgnn, args.dsgnn, {}),
                ('qagnet', run_qagnet, args.qagnet,
                 {}), ('qagnet_limited', run_qagnet, args.qagnet,
                       dict(limited=True)))
        for name, run, root, kwargs in runs:
            for key, value in run(root, cases, workdir, **kwargs).items():
                out[f'{name}_{key}'] = value
    np.savez_compressed(args.out, **out)
    print(f'{args.num} cases written to {args.out}')


if __name__ == '__main__':
    main()
