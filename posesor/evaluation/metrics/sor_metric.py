# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""``SORMetric``: salient object ranking evaluation for ``tools/test.py``."""
import json
import logging
import warnings
from collections import Counter, OrderedDict
from typing import (Any, Dict, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import numpy as np
import torch
from mmdet.registry import METRICS
from mmengine import fileio
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from pycocotools import mask as mask_utils

from posesor.datasets.sor_parsing import (NUM_KEYPOINTS, RLERunLengths,
                                          SORAnnotationError,
                                          check_rle_strings,
                                          decode_segmentation, image_name,
                                          load_sor_gt, segmentation_to_rle,
                                          unique_image_names)
from .. import mask_rle
from ..convention_table import format_convention_table
from ..functional import (DENSE_PAIRS, NAN_POLICY, PRED_FILTERS, MaskOverlaps,
                          aggregate, evaluate_image, metric_key,
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
#: What happens to annotated images that received no prediction:
#: ``'no_prediction'`` scores them as an image where nothing was detected
#: (the reference's ``misc/evaluate_instances.py``), ``'skip'`` leaves
#: them out. Either way their number is reported as
#: ``num_images_missing``.
MISSING_POLICIES = ('no_prediction', 'skip')
#: At most this many repeated images are named in an error message.
MAX_NAMED = 10
#: Keypoints of an annotation without any (not a person).
NO_KEYPOINTS = [0.0] * (NUM_KEYPOINTS * 3)


class SORResultError(ValueError):
    """Predictions that cannot be scored as given (names the image)."""


class GTEntry(NamedTuple):
    """Ground truth of one image as the metric keeps it.

    Attributes:
        img_id: Image id of the annotation file.
        num_gt (int): ``m``, the number of ranked GT objects.
        runs (GTRuns | None): Foreground runs of their masks, most salient
            first (None if m == 0); :meth:`SORMetric.gt_rles` gives the
            masks as COCO RLEs.
        keypoints (np.ndarray): ``(m, 17, 2)`` float32 pixels.
        keypoints_visible (np.ndarray): ``(m, 17)`` float32, 1 where the
            COCO flag is > 0.
        height (int): Image height.
        width (int): Image width.
        image_name (str): File name without directory and extension (the
            relative path without extension where base names collide).
    """
    img_id: Any
    num_gt: int
    runs: Optional[mask_rle.GTRuns]
    keypoints: np.ndarray
    keypoints_visible: np.ndarray
    height: int
    width: int
    image_name: str


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
    return [
        dict(
            size=[int(s) for s in r['size']],
            counts=r['counts'].decode('ascii')) for r in mask_rle.encode(masks)
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
        ValueError: If an RLE has another size, or counts that do not
            cover exactly ``height * width`` pixels (the message names the
            mask's index).
    """
    masks = np.zeros((len(rles), height, width), dtype=bool)
    sizes = [[int(s) for s in rle['size']] for rle in rles]
    for k, size in enumerate(sizes):
        if size != [height, width]:
            raise ValueError(f'mask {k} has size {size}, expected '
                             f'{[height, width]}')
    # the ground truth's check: counts covering fewer pixels than ``size``
    # make pycocotools decode uninitialised memory
    check_rle_strings([(f'mask {k}', height * width, rle['counts'])
                       for k, rle in enumerate(rles)])
    for k, (rle, size) in enumerate(zip(rles, sizes)):
        counts = rle['counts']
        if isinstance(counts, str):
            counts = counts.encode('ascii')
        with warnings.catch_warnings():
            # numpy 2's ``__array__(copy=...)`` deprecation inside
            # pycocotools; the decoded mask is unaffected.
            warnings.simplefilter('ignore', DeprecationWarning)
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

    The GT of an image is read once, when the image is first scored, and
    kept as the pixel ranges of its runs (COCO RLE annotations are never
    decoded; polygons are rasterised once); the pixel counts of every image
    (all intersections and unions, the MAE difference) then come from the
    bit-packed predictions (:mod:`~posesor.evaluation.mask_rle`), exactly.
    Per-image values
    are computed by :func:`~posesor.evaluation.functional.evaluate_image`;
    dataset means follow :data:`~posesor.evaluation.functional.NAN_POLICY`
    (for the ``posesor`` convention an image whose SA-SOR/SOR is NaN counts
    as 0, as in the paper). Images whose GT has no ranked object are
    skipped by every metric and counted as ``num_images_without_gt``. The
    greedy SA-SOR (``irsr``, ``dsgnn``, ``qagnet*``) and the rank maps of
    ``dsgnn`` and ``qagnet*`` rank predictions by their order
    (``np.linspace(1, 0.5, n)``), as the PoseSOR authors fed IRSR's
    script, so that result files without rank scores score alike. The
    objectness ``scores`` of the predictions, where present, feed the
    prediction filters of :data:`~posesor.evaluation.functional.PRED_FILTERS`
    (QAGNet's ``score > 0.7``); an image without them is scored unfiltered
    and the number of images filtered is reported. Means are not rounded
    (the reference rounds to 4 decimals) and are NaN when no image counts
    (the reference then reports 1.0).

    Every image of the annotation file takes part in the evaluation: an
    image that received no prediction (e.g. a dataloader on a subset) is
    scored as "nothing detected" (``missing='no_prediction'``, the rule of
    the reference's ``misc/evaluate_instances.py`` and of
    ``eval_sor_results.py``) or left out (``missing='skip'``); either way
    it is counted in ``num_images_missing`` and logged. Two predictions for
    one image are an error naming the image.

    Reported keys (with the ``sor/`` prefix): for each metric ``k``
    (``'sa_sor'``, ``'sor'``, ``'mae'``, ``'jae'`` for the ``posesor``
    convention, ``'sa_sor_irsr'``, ``'sor_assr'``, ``'mae_assr'`` for
    the others, e.g. ``'sor_dsgnn'``): ``k``, ``k_count`` (images in the
    mean), ``k_nan`` (images where it is undefined); MAE also as
    ``k_x100``; plus ``num_images`` (images scored),
    ``num_images_without_gt`` and ``num_images_missing``; for each chosen
    convention with a score filter ``c``: ``c_score_thr`` and
    ``c_score_thr_images`` (images whose predictions carried scores, i.e.
    where the filter was applied). Counts are Python ``int``.

    Args:
        ann_file (str): Path or URI of the SOR annotation JSON.
        metric (str | Sequence[str]): Any of ``'sa_sor'``, ``'sor'``,
            ``'mae'``, ``'jae'``. Defaults to ``['sa_sor', 'sor', 'mae']``.
        convention (str | Sequence[str] | dict): ``'posesor'`` (default),
            ``'irsr'``, ``'assr'``, ``'dsgnn'``, ``'qagnet'``,
            ``'qagnet_limited'``, a list of them (each metric uses those
            it supports, else its default),
            ``'all'`` (every convention of every metric), or a dict
            ``metric -> convention(s)``, e.g. ``dict(sa_sor=['posesor',
            'irsr'], sor='assr')``.
        rank_key (str): Annotation key of the rank, ``'category_id'``
            (default) or ``'visiting_order'``.
        keep_unranked (bool): Keep GT objects whose rank is 0/missing (after
            the ranked ones). Default ``False``: they are not salient.
        polygon_backend (str): How GT polygons are rasterised:
            ``'cv2'`` (default; ``cv2.fillPoly`` as the reference's data
            loader, which produced the paper's numbers) or
            ``'pycocotools'``.
        missing (str): Rule for annotated images without a prediction, one
            of :data:`MISSING_POLICIES`. Default ``'no_prediction'``.
        outfile_prefix (str, optional): When given, write all predictions
            to ``f'{outfile_prefix}.sor_results.json'`` (per image: RLE
            masks in predicted rank order, rank scores, objectness, ranks,
            keypoints, keypoint scores and boxes), readable by
            ``tools/analysis_tools/eval_sor_results.py``.
        format_only (bool): Only write the result file (needs
            ``outfile_prefix``); no GT is read and no metric computed.
        backend_args (dict, optional): mmengine file backend arguments for
            reading ``ann_file`` and writing the result file.
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
                 missing: str = 'no_prediction',
                 outfile_prefix: Optional[str] = None,
                 format_only: bool = False,
                 backend_args: Optional[dict] = None,
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
        if missing not in MISSING_POLICIES:
            raise ValueError(f'SORMetric: missing must be one of '
                             f'{MISSING_POLICIES}, got {missing!r}')
        if format_only and outfile_prefix is None:
            raise ValueError('SORMetric: format_only=True needs '
                             'outfile_prefix')
        self.ann_file = ann_file
        self.rank_key = rank_key
        self.keep_unranked = keep_unranked
        self.polygon_backend = polygon_backend
        self.missing = missing
        self.outfile_prefix = outfile_prefix
        self.format_only = format_only
        self.backend_args = backend_args
        self._dense = any(pair in DENSE_PAIRS for pair in self.pairs)
        self._gt: Optional['OrderedDict[Any, dict]'] = None
        self._entries: Dict[Any, GTEntry] = {}
        if not format_only:
            if ann_file is None:
                raise ValueError('SORMetric: ann_file is required unless '
                                 'format_only=True')
            self._gt, run_lengths = load_sor_gt(
                ann_file,
                rank_key=rank_key,
                keep_unranked=keep_unranked,
                backend_args=backend_args,
                return_run_lengths=True)
            self._entries = self._gt_entries(run_lengths)

    # ------------------------------------------------------------------
    @property
    def gt(self) -> 'OrderedDict[Any, dict]':
        """image id -> rank-sorted GT group (see ``load_sor_gt``)."""
        if self._gt is None:
            raise RuntimeError('SORMetric was built with format_only=True '
                               'and has no ground truth')
        return self._gt

    def gt_entry(self, img_id: Any) -> GTEntry:
        """The GT of one image (all are gathered when the metric is built).

        Args:
            img_id: Image id of the annotation file.

        Returns:
            GTEntry: Number of objects, mask runs and keypoints.

        Raises:
            KeyError: If ``img_id`` is not in the annotation file.
        """
        entry = self._entries.get(img_id)
        if entry is None:
            _ = self.gt  # raises for a format_only metric (no GT)
            raise KeyError(f'SORMetric: image id {img_id!r} is not in the '
                           f'annotation file {self.ann_file!r}')
        return entry

    def _gt_entries(self, run_lengths: RLERunLengths) -> Dict[Any, GTEntry]:
        """:class:`GTEntry` of every image, with the mask runs and
        keypoints of the whole file computed together."""
        runs = self._all_gt_runs(run_lengths)
        anns = [
            ann for group in self.gt.values() for ann in group['annotations']
        ]
        kpts = np.array([ann.get('keypoints') or NO_KEYPOINTS for ann in anns],
                        dtype=np.float32).reshape(len(anns), NUM_KEYPOINTS, 3)
        visible = (kpts[..., 2] > 0).astype(np.float32)
        entries, first = {}, 0
        names = unique_image_names(
            [group['image']['file_name'] for group in self.gt.values()])
        for (img_id, group), name in zip(self.gt.items(), names):
            img = group['image']
            last = first + len(group['annotations'])
            entries[img_id] = GTEntry(
                img_id=img_id,
                num_gt=last - first,
                runs=runs[img_id],
                keypoints=kpts[first:last, :, :2],
                keypoints_visible=visible[first:last],
                height=int(img['height']),
                width=int(img['width']),
                image_name=name)
            first = last
        return entries

    def gt_rles(self, img_id: Any) -> List[Dict[str, Any]]:
        """COCO RLEs of the GT masks of one image, most salient first.

        Args:
            img_id: Image id of the annotation file.

        Returns:
            list[dict]: ``m`` compressed RLEs.
        """
        img = self.gt[img_id]['image']
        return self._encode_gt(img_id, self.gt[img_id]['annotations'],
                               int(img['height']), int(img['width']))

    def _encode_gt(self, img_id: Any, anns: List[dict], height: int,
                   width: int) -> List[Dict[str, Any]]:
        """COCO RLEs of the GT masks of one image, in order.

        RLE annotations are used as they are (after checking their size and
        length); polygons are rasterised (``polygon_backend``) and encoded.
        """
        rles = []
        for ann in anns:
            segm = ann['segmentation']
            where = (f'annotation file {self.ann_file!r}, image id '
                     f'{img_id!r}, annotation id {ann.get("id")!r}')
            if isinstance(segm, list) and self.polygon_backend == 'cv2':
                mask = decode_segmentation(
                    segm, height, width, polygon_backend='cv2')
                rles.append(mask_rle.encode(mask[None])[0])
                continue
            try:
                rle = segmentation_to_rle(segm, height, width)
            except (ValueError, TypeError) as err:
                raise SORAnnotationError(
                    f'{where}: invalid segmentation ({err})') from err
            if [int(v) for v in rle['size']] != [height, width]:
                raise SORAnnotationError(
                    f'{where}: RLE size {list(rle["size"])} differs from '
                    f'the image size {[height, width]}')
            rles.append(rle)
        return rles

    def _all_gt_runs(
            self, run_lengths: RLERunLengths
    ) -> Dict[Any, Optional[mask_rle.GTRuns]]:
        """Foreground runs of the GT masks of every image, computed
        together: compressed RLEs from the run lengths the validation
        decoded, the others (polygons, uncompressed counts) from their
        encoding."""
        starts, ends, offsets = mask_rle.foreground_runs_all(
            run_lengths.runs, run_lengths.offsets)
        extra: List[Tuple[np.ndarray, np.ndarray]] = []
        masks_of_images, num_pixels = [], []
        for img_id, group in self.gt.items():
            img = group['image']
            height, width = int(img['height']), int(img['width'])
            indices = []
            for ann in group['annotations']:
                index = run_lengths.index.get(ann['id'])
                if index is None:
                    rle = self._encode_gt(img_id, [ann], height, width)[0]
                    extra.append(
                        self._foreground_runs(img_id, ann, rle,
                                              height * width))
                    index = len(offsets) - 2 + len(extra)
                indices.append(index)
            masks_of_images.append(indices)
            num_pixels.append(height * width)
        if extra:
            starts = np.concatenate([starts] + [s for s, _ in extra])
            ends = np.concatenate([ends] + [e for _, e in extra])
            offsets = np.concatenate(
                [offsets, offsets[-1] + np.cumsum([len(s) for s, _ in extra])])
        runs = mask_rle.gt_runs_many(starts, ends, offsets, masks_of_images,
                                     num_pixels)
        return dict(zip(self.gt.keys(), runs))

    def _foreground_runs(self, img_id: Any, ann: dict, rle: Dict[str, Any],
                         num_pixels: int) -> Tuple[np.ndarray, np.ndarray]:
        """Runs of one encoded annotation; a malformed RLE is an error
        naming it."""
        try:
            return mask_rle.foreground_runs(rle, num_pixels)
        except ValueError as err:
            raise SORAnnotationError(
                f'annotation file {self.ann_file!r}, image id {img_id!r}, '
                f'annotation id {ann.get("id")!r}: invalid RLE counts '
                f'({err})') from err

    def load_gt(self, img_id: Any) -> Dict[str, Any]:
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
        entry = self.gt_entry(img_id)
        return dict(
            masks=mask_rle.decode(
                self.gt_rles(img_id), entry.height, entry.width),
            keypoints=entry.keypoints,
            keypoints_visible=entry.keypoints_visible,
            height=entry.height,
            width=entry.width,
            image_name=entry.image_name)

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
        gt = None
        if not self.format_only:
            gt = self.gt_entry(img_id)
            shape = (gt.height, gt.width)
        else:
            shape = tuple(sample.get('ori_shape', ())) or None
        masks = _pred_masks_array(pred.get('masks'))
        if masks is None:
            raise KeyError(f'SORMetric: pred_instances of image id '
                           f'{img_id!r} has no masks')
        try:  # also moves a tensor to numpy (a view on the CPU)
            masks = to_binary_masks(masks, 'pred masks', shape=shape)
        except ValueError as err:
            raise ValueError(f'SORMetric: image id {img_id!r}: {err} (the '
                             f'original image size)') from err
        result: Dict[str, Any] = dict(img_id=img_id, values={}, num_gt=None)
        if gt is not None:
            kpts = pred.get('keypoints')
            objectness = pred.get('scores')
            result.update(
                self._score(
                    gt, masks, None if kpts is None else _to_numpy(kpts),
                    None if objectness is None else _to_numpy(objectness)))
        if self.outfile_prefix is not None:
            result['dump'] = self._dump_entry(sample, masks, gt)
        return result

    def image_overlaps(self, img_id: Any, masks: np.ndarray) -> MaskOverlaps:
        """Pixel counts of predicted masks against the GT of an image.

        Args:
            img_id: Image id of the annotation file (with ``m > 0`` GTs).
            masks (np.ndarray): ``(n, H, W)`` bool masks, most salient
                first, at the original size.

        Returns:
            MaskOverlaps: ``(m, n)`` intersections and unions and the MAE
            difference count.
        """
        return self._overlaps(self.gt_entry(img_id), masks)

    @staticmethod
    def _overlaps(gt: GTEntry, masks: np.ndarray) -> MaskOverlaps:
        return mask_rle.overlaps_with_runs(masks, gt.runs)

    def _score(self,
               gt: GTEntry,
               masks: np.ndarray,
               keypoints: Optional[np.ndarray],
               objectness: Optional[np.ndarray] = None) -> dict:
        """``num_gt``, ``values`` and ``has_scores`` (objectness scores
        given) of one image (see :meth:`process_sample`)."""
        out: Dict[str, Any] = dict(
            num_gt=gt.num_gt, values={}, has_scores=objectness is not None)
        if not gt.num_gt:
            return out
        overlaps = self._overlaps(gt, masks)
        gt_masks = None
        if self._dense:
            gt_masks = mask_rle.decode(
                self.gt_rles(gt.img_id), gt.height, gt.width)
        pairs = self.pairs
        if keypoints is None and len(masks):
            # a model without keypoint outputs (e.g. trained without pose
            # losses) has no joint error: undefined (NaN) for each image
            pairs = [p for p in pairs if p[0] != 'jae']
        out['values'] = {
            metric_key(*pair): None
            for pair in self.pairs if pair not in pairs
        }
        out['values'].update(
            evaluate_image(
                masks,
                gt_masks,
                pairs,
                pred_keypoints=keypoints,
                gt_keypoints=gt.keypoints,
                gt_keypoints_visible=gt.keypoints_visible,
                overlaps=overlaps,
                pred_objectness=objectness))
        return out

    def _dump_entry(self, sample: dict, masks: np.ndarray,
                    gt: Optional[GTEntry]) -> dict:
        pred = sample['pred_instances']
        entry: Dict[str, Any] = dict(img_id=sample['img_id'])
        img_path = sample.get('img_path')
        if gt is not None:
            entry['image_name'] = gt.image_name
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

        Raises:
            SORResultError: If an image has more than one result.
        """
        logger = MMLogger.get_current_instance()
        check_unique_images(results)
        if self.outfile_prefix is not None:
            path = self.dump_results(results, self.outfile_prefix,
                                     self.backend_args)
            print_log(f'SORMetric: results written to {path}', logger)
        if self.format_only:
            return dict()
        return self.summarize(results, logger=logger)

    def complete_results(self, results: List[dict]) -> Tuple[List[dict], int]:
        """Order results as the annotation file and apply the rule for
        annotated images without a result (:attr:`missing`).

        Args:
            results (list[dict]): Per-image results, one per image.

        Returns:
            tuple[list[dict], int]: The results in annotation-file order
            (with "nothing detected" results for missing images under
            ``'no_prediction'``) and the number of missing images.
        """
        by_id = {r['img_id']: r for r in results}
        ordered, num_missing = [], 0
        for img_id in self.gt:
            result = by_id.get(img_id)
            if result is None:
                num_missing += 1
                if self.missing == 'skip':
                    continue
                gt = self.gt_entry(img_id)
                empty = np.zeros((0, gt.height, gt.width), dtype=bool)
                result = dict(img_id=img_id, **self._score(gt, empty, None))
            ordered.append(result)
        return ordered, num_missing

    def summarize(self,
                  results: List[dict],
                  logger: Optional[Any] = None) -> Dict[str, float]:
        """Aggregate per-image values into dataset metrics and log a table.

        Args:
            results (list[dict]): Per-image results (``values`` dicts), at
                most one per image; annotated images without one follow
                :attr:`missing`.
            logger: Logger for :func:`mmengine.logging.print_log`.

        Returns:
            dict[str, float]: Metric values and counts.
        """
        check_unique_images(results)
        results, num_missing = self.complete_results(results)
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
        out['num_images_missing'] = num_missing
        for conv in dict.fromkeys(conv for _, conv in self.pairs):
            filt = PRED_FILTERS.get(conv)
            if filt is not None and filt.score_thr is not None:
                applied = sum(bool(r.get('has_scores')) for r in with_gt)
                out[f'{conv}_score_thr'] = filt.score_thr
                out[f'{conv}_score_thr_images'] = applied
                lines.append(f'{conv}: predictions with score > '
                             f'{filt.score_thr} on {applied} of '
                             f'{len(with_gt)} images (the others carry no '
                             f'scores and are scored unfiltered)')
        lines.append(f'{len(results)} images, '
                     f'{len(results) - len(with_gt)} without ranked GT '
                     f'(skipped)')
        rule = ('scored as no prediction'
                if self.missing == 'no_prediction' else 'left out')
        lines.append(f'{num_missing} annotated images without a prediction '
                     f'({rule})')
        if len({conv for _, conv in self.pairs}) > 1:
            lines += ['', format_convention_table(out, self.pairs, rule)]
        print_log('SOR evaluation:\n' + '\n'.join(lines), logger)
        if num_missing:
            print_log(
                f'SORMetric: {num_missing} of {len(self.gt)} images of '
                f'{self.ann_file!r} received no prediction ({rule})',
                logger,
                level=logging.WARNING)
        return out

    @staticmethod
    def dump_results(results: List[dict],
                     outfile_prefix: str,
                     backend_args: Optional[dict] = None) -> str:
        """Write the predictions of all images to one JSON file.

        Args:
            results (list[dict]): Per-image results holding ``dump``.
            outfile_prefix (str): Path (or URI) prefix of the file.
            backend_args (dict, optional): mmengine file backend arguments.

        Returns:
            str: The written path.
        """
        path = f'{outfile_prefix}{RESULT_SUFFIX}'
        payload = dict(
            format=RESULT_FORMAT,
            version=RESULT_VERSION,
            results=[r['dump'] for r in results if 'dump' in r])
        fileio.put_text(
            json.dumps(payload, default=_json_default),
            path,
            backend_args=backend_args)
        return path


def check_unique_images(results: Sequence[dict]) -> None:
    """Refuse more than one result for an image.

    Args:
        results (Sequence[dict]): Per-image results with ``img_id``.

    Raises:
        SORResultError: Naming the repeated image ids.
    """
    counts = Counter(r['img_id'] for r in results)
    repeated = [(img_id, c) for img_id, c in counts.items() if c > 1]
    if repeated:
        shown = ', '.join(f'{img_id!r} ({c} times)'
                          for img_id, c in repeated[:MAX_NAMED])
        more = (f' and {len(repeated) - MAX_NAMED} more'
                if len(repeated) > MAX_NAMED else '')
        raise SORResultError(
            f'SORMetric: {len(repeated)} image(s) have more than one '
            f'prediction: image id {shown}{more}; each image must be '
            f'predicted once')


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f'cannot serialise {type(obj).__name__}')
