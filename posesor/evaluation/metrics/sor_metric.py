# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""``SORMetric``: salient object ranking evaluation for ``tools/test.py``."""
import json
import os
import os.path as osp
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from pycocotools import mask as mask_utils

from posesor.datasets.sor_parsing import (NUM_KEYPOINTS, decode_segmentation,
                                          image_name, keypoints_array,
                                          load_sor_gt)
from ..functional import (NAN_POLICY, aggregate, evaluate_image, metric_key,
                          normalize_conventions, to_binary_masks)

#: ``format`` tag of the JSON result files written by :class:`SORMetric`.
RESULT_FORMAT = 'posesor_sor_results'
RESULT_VERSION = 1
#: Suffix of the result file: ``f'{outfile_prefix}{RESULT_SUFFIX}'``.
RESULT_SUFFIX = '.sor_results.json'
#: MAE is also reported in the paper's x100 scale.
MAE_SCALE = 100.0
#: Prediction fields copied (as lists) into the result file.
DUMP_FIELDS = ('rank_scores', 'scores', 'ranks', 'keypoints',
               'keypoint_scores', 'bboxes')


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _pred_masks_array(masks: Any) -> Any:
    """Unwrap mmdet ``BitmapMasks``-like containers."""
    if hasattr(masks, 'to_ndarray'):
        return masks.to_ndarray()
    return masks


def encode_masks(masks: np.ndarray) -> List[Dict[str, Any]]:
    """Encode boolean masks as COCO compressed RLE with str ``counts``.

    Args:
        masks (np.ndarray): ``(n, H, W)`` bool masks.

    Returns:
        list[dict]: ``n`` JSON-serialisable RLE dicts.
    """
    if masks.shape[0] == 0:
        return []
    rles = mask_utils.encode(
        np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
    return [
        dict(
            size=[int(s) for s in r['size']],
            counts=r['counts'].decode('ascii')) for r in rles
    ]


def decode_masks(rles: Sequence[Dict[str, Any]], height: int,
                 width: int) -> np.ndarray:
    """Decode a list of COCO RLEs (``counts`` str or bytes) to masks.

    Args:
        rles (Sequence[dict]): RLE dicts with ``size`` and ``counts``.
        height (int): Image height, used for an empty list and checked
            against each RLE's ``size``.
        width (int): Image width.

    Returns:
        np.ndarray: ``(n, H, W)`` bool masks.

    Raises:
        ValueError: If an RLE has another size.
    """
    masks = np.zeros((len(rles), height, width), dtype=bool)
    for k, rle in enumerate(rles):
        counts = rle['counts']
        if isinstance(counts, str):
            counts = counts.encode('ascii')
        size = [int(s) for s in rle['size']]
        if size != [height, width]:
            raise ValueError(f'mask {k} has size {size}, expected '
                             f'{[height, width]}')
        masks[k] = mask_utils.decode(dict(size=size, counts=counts)) > 0
    return masks


@METRICS.register_module()
class SORMetric(BaseMetric):
    """Salient object ranking metrics (SA-SOR, SOR, MAE, JAE).

    Ground truth is read at the original resolution from ``ann_file`` (the
    PoseSOR COCO-style JSON) by the ``img_id`` of each data sample, with
    instances sorted by rank. Predictions are ``pred_instances`` sorted
    most salient first: ``masks`` ``(n, H, W)`` at the original size
    (required), ``rank_scores``, ``scores``, ``ranks``, ``keypoints``
    ``(n, 17, 2)`` in pixels and ``keypoint_scores``, ``bboxes`` (used by
    JAE and the result file).

    Per-image values are computed by :func:`~posesor.evaluation.functional.
    evaluate_image`; dataset means follow
    :data:`~posesor.evaluation.functional.NAN_POLICY` (for the ``posesor``
    convention an image whose SA-SOR/SOR is NaN counts as 0, as in the
    paper). Images whose GT has no ranked object are skipped by every
    metric and counted as ``num_images_without_gt``. The ``irsr`` SA-SOR
    scores predictions by their order (``np.linspace(1, 0.5, n)``), as the
    PoseSOR authors fed IRSR's script. Means are not rounded (the
    reference rounds to 4 decimals) and are NaN when no image counts (the
    reference then reports 1.0).

    Reported keys (with the ``sor/`` prefix): for each metric ``k``
    (``'sa_sor'``, ``'sor'``, ``'mae'``, ``'jae'`` for the ``posesor``
    convention, ``'sa_sor_irsr'``, ``'sor_assr'``, ``'mae_assr'`` for
    the others): ``k``, ``k_count`` (images in the mean), ``k_nan``
    (images where it is undefined); MAE also as ``k_x100``; plus
    ``num_images`` and ``num_images_without_gt``.

    Args:
        ann_file (str): Path of the SOR annotation JSON.
        metric (str | Sequence[str]): Any of ``'sa_sor'``, ``'sor'``,
            ``'mae'``, ``'jae'``. Defaults to ``['sa_sor', 'sor', 'mae']``.
        convention (str | Sequence[str] | dict): ``'posesor'`` (default),
            ``'irsr'``, ``'assr'``, a list of them (each metric uses those
            it supports, else its default), or a dict ``metric ->
            convention(s)``, e.g. ``dict(sa_sor=['posesor', 'irsr'],
            sor='assr')``.
        rank_key (str): Annotation key of the rank, ``'category_id'``
            (default) or ``'visiting_order'``.
        keep_unranked (bool): Keep GT objects whose rank is 0/missing (after
            the ranked ones). Default ``False``: they are not salient.
        polygon_backend (str): How GT polygons are rasterised:
            ``'cv2'`` (default; ``cv2.fillPoly`` as the reference's data
            loader, which produced the paper's numbers) or
            ``'pycocotools'``.
        outfile_prefix (str, optional): When given, write all predictions
            to ``f'{outfile_prefix}.sor_results.json'`` (per image: RLE
            masks in predicted rank order, rank scores, objectness, ranks,
            keypoints, keypoint scores and boxes), readable by
            ``tools/analysis_tools/eval_sor_results.py``.
        format_only (bool): Only write the result file (needs
            ``outfile_prefix``); no GT is read and no metric computed.
        collect_device (str): ``'cpu'`` or ``'gpu'`` for distributed
            result collection.
        prefix (str, optional): Metric name prefix; default ``'sor'``.
    """
    default_prefix: Optional[str] = 'sor'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 metric: Union[str, Sequence[str]] = ('sa_sor', 'sor', 'mae'),
                 convention: Union[str, Sequence[str],
                                   Dict[str, Any]] = ('posesor'),
                 rank_key: str = 'category_id',
                 keep_unranked: bool = False,
                 polygon_backend: str = 'cv2',
                 outfile_prefix: Optional[str] = None,
                 format_only: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        metrics = [metric] if isinstance(metric, str) else list(metric)
        self.pairs: List[Tuple[str, str]] = normalize_conventions(
            metrics, convention)
        self.metrics = metrics
        if polygon_backend not in ('cv2', 'pycocotools'):
            raise ValueError(f"SORMetric: polygon_backend must be 'cv2' or "
                             f"'pycocotools', got {polygon_backend!r}")
        if format_only and outfile_prefix is None:
            raise ValueError('SORMetric: format_only=True needs '
                             'outfile_prefix')
        self.ann_file = ann_file
        self.rank_key = rank_key
        self.keep_unranked = keep_unranked
        self.polygon_backend = polygon_backend
        self.outfile_prefix = outfile_prefix
        self.format_only = format_only
        self._gt: Optional['OrderedDict[Any, dict]'] = None
        if not format_only:
            if ann_file is None:
                raise ValueError('SORMetric: ann_file is required unless '
                                 'format_only=True')
            self._gt = load_sor_gt(
                ann_file, rank_key=rank_key, keep_unranked=keep_unranked)

    # ------------------------------------------------------------------
    @property
    def gt(self) -> 'OrderedDict[Any, dict]':
        """image id -> rank-sorted GT group (see ``load_sor_gt``)."""
        if self._gt is None:
            raise RuntimeError('SORMetric was built with format_only=True '
                               'and has no ground truth')
        return self._gt

    def load_gt(self, img_id: Any) -> Dict[str, np.ndarray]:
        """Decode the GT of one image at its original resolution.

        Args:
            img_id: Image id of the annotation file.

        Returns:
            dict: ``masks`` ``(m, H, W)`` bool, ``keypoints`` ``(m, 17, 2)``
            pixels, ``keypoints_visible`` ``(m, 17)`` (COCO flag > 0),
            ``height``, ``width``, ``image_name``.

        Raises:
            KeyError: If ``img_id`` is not in the annotation file.
        """
        if img_id not in self.gt:
            raise KeyError(f'SORMetric: image id {img_id!r} is not in the '
                           f'annotation file {self.ann_file!r}')
        group = self.gt[img_id]
        img = group['image']
        height, width = int(img['height']), int(img['width'])
        anns = group['annotations']
        masks = np.zeros((len(anns), height, width), dtype=bool)
        kpts = np.zeros((len(anns), NUM_KEYPOINTS, 3), dtype=np.float32)
        for k, ann in enumerate(anns):
            masks[k] = decode_segmentation(
                ann['segmentation'],
                height,
                width,
                polygon_backend=self.polygon_backend) > 0
            kpts[k] = keypoints_array(ann)
        return dict(
            masks=masks,
            keypoints=kpts[..., :2],
            keypoints_visible=(kpts[..., 2] > 0).astype(np.float32),
            height=height,
            width=width,
            image_name=image_name(img['file_name']))

    # ------------------------------------------------------------------
    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Score each image and keep its values (and, if dumping, its
        predictions).

        Args:
            data_batch: Unused.
            data_samples (Sequence[dict]): Data samples (as dicts) with
                ``img_id`` and ``pred_instances``.
        """
        for sample in data_samples:
            self.results.append(self.process_sample(sample))

    def process_sample(self, sample: dict) -> dict:
        """Compute the per-image result of one data sample.

        Args:
            sample (dict): A data sample as dict, or a
                :class:`~mmdet.structures.DetDataSample`.

        Returns:
            dict: ``img_id``, ``values`` (metric key -> float, empty when
            the GT has no object or ``format_only``), ``num_gt`` and, when
            dumping, ``dump``.
        """
        if hasattr(sample, 'to_dict'):
            sample = sample.to_dict()
        if 'img_id' not in sample:
            raise KeyError('SORMetric: data sample has no "img_id" in its '
                           'metainfo')
        img_id = sample['img_id']
        pred = sample.get('pred_instances')
        if pred is None:
            raise KeyError(f'SORMetric: data sample of image id {img_id!r} '
                           f'has no pred_instances')
        result: Dict[str, Any] = dict(img_id=img_id, values={}, num_gt=None)
        gt = None
        if not self.format_only:
            gt = self.load_gt(img_id)
            shape = (gt['height'], gt['width'])
        else:
            shape = tuple(sample.get('ori_shape', ())) or None
        masks = _pred_masks_array(pred.get('masks'))
        if masks is None:
            raise KeyError(f'SORMetric: pred_instances of image id '
                           f'{img_id!r} has no masks')
        try:
            masks = to_binary_masks(masks, 'pred masks', shape=shape)
        except ValueError as err:
            raise ValueError(f'SORMetric: image id {img_id!r}: {err} (the '
                             f'original image size)') from err
        if gt is not None:
            result['num_gt'] = int(gt['masks'].shape[0])
            if gt['masks'].shape[0] > 0:
                kpts = pred.get('keypoints')
                result['values'] = evaluate_image(
                    masks,
                    gt['masks'],
                    self.pairs,
                    pred_keypoints=None if kpts is None else _to_numpy(kpts),
                    gt_keypoints=gt['keypoints'],
                    gt_keypoints_visible=gt['keypoints_visible'])
        if self.outfile_prefix is not None:
            result['dump'] = self._dump_entry(sample, masks, gt)
        return result

    def _dump_entry(self, sample: dict, masks: np.ndarray,
                    gt: Optional[dict]) -> dict:
        pred = sample['pred_instances']
        entry: Dict[str, Any] = dict(img_id=sample['img_id'])
        img_path = sample.get('img_path')
        if gt is not None:
            entry['image_name'] = gt['image_name']
        elif img_path:
            entry['image_name'] = image_name(img_path)
        entry['height'], entry['width'] = (int(masks.shape[1]),
                                           int(masks.shape[2]))
        entry['masks'] = encode_masks(masks)
        for field in DUMP_FIELDS:
            if field in pred and pred[field] is not None:
                entry[field] = _to_numpy(pred[field]).tolist()
        return entry

    # ------------------------------------------------------------------
    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Average the per-image values and optionally write the dump.

        Args:
            results (list[dict]): Outputs of :meth:`process_sample` from
                all ranks.

        Returns:
            dict[str, float]: See the class docstring.
        """
        logger = MMLogger.get_current_instance()
        if self.outfile_prefix is not None:
            path = self.dump_results(results, self.outfile_prefix)
            print_log(f'SORMetric: results written to {path}', logger)
        if self.format_only:
            return dict()
        return self.summarize(results, logger=logger)

    def summarize(self,
                  results: List[dict],
                  logger: Optional[Any] = None) -> Dict[str, float]:
        """Aggregate per-image values into dataset metrics and log a table.

        Args:
            results (list[dict]): Per-image results (``values`` dicts).
            logger: Logger for :func:`mmengine.logging.print_log`.

        Returns:
            dict[str, float]: Metric values and counts.
        """
        with_gt = [r for r in results if r['values']]
        out: Dict[str, float] = OrderedDict()
        lines = []
        for metric, conv in self.pairs:
            key = metric_key(metric, conv)
            mean, count, num_nan = aggregate(
                [r['values'][key] for r in with_gt],
                NAN_POLICY[(metric, conv)])
            out[key] = mean
            out[f'{key}_count'] = count
            out[f'{key}_nan'] = num_nan
            policy = NAN_POLICY[(metric, conv)]
            note = 'as 0' if policy == 'zero' else 'excluded'
            line = (f'{key:<12} ({conv:<7}) = {mean:.4f} on {count} images'
                    f' ({num_nan} NaN, {note})')
            if metric == 'mae':
                out[f'{key}_x100'] = mean * MAE_SCALE
                line += f'; x100 = {mean * MAE_SCALE:.2f}'
            lines.append(line)
        out['num_images'] = len(results)
        out['num_images_without_gt'] = len(results) - len(with_gt)
        lines.append(f'{len(results)} images, '
                     f'{len(results) - len(with_gt)} without ranked GT '
                     f'(skipped)')
        print_log('SOR evaluation:\n' + '\n'.join(lines), logger)
        return out

    @staticmethod
    def dump_results(results: List[dict], outfile_prefix: str) -> str:
        """Write the predictions of all images to one JSON file.

        Args:
            results (list[dict]): Per-image results holding ``dump``.
            outfile_prefix (str): Path prefix of the file.

        Returns:
            str: The written path.
        """
        path = f'{outfile_prefix}{RESULT_SUFFIX}'
        out_dir = osp.dirname(osp.abspath(path))
        os.makedirs(out_dir, exist_ok=True)
        payload = dict(
            format=RESULT_FORMAT,
            version=RESULT_VERSION,
            results=[r['dump'] for r in results if 'dump' in r])
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(payload, f, default=_json_default)
        return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f'cannot serialise {type(obj).__name__}')
