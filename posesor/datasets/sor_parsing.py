# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Pure parsing of PoseSOR's COCO-style salient object ranking annotations.

The PoseSOR release (ASSR and IRSR re-annotated with COCO-17 keypoints)
stores one JSON file per split::

    {"images": [{"id", "file_name", "height", "width", ...}, ...],
     "annotations": [{"id", "image_id", "category_id", "visiting_order",
                      "class_id", "segmentation", "bbox", "keypoints",
                      "num_keypoints", "iscrowd", "area"}, ...]}

``category_id`` (default rank key) and ``visiting_order`` both hold the rank
level: 1 is attended first, 2 next, and so on. A rank of 0, ``None`` or a
missing rank key marks an object that is *not ranked*.

This module only depends on ``numpy``, ``pycocotools`` and
``mmengine.fileio`` (``cv2`` for the optional reference-style polygon
filling). It is shared by
:class:`posesor.datasets.SORDataset` and the SOR metrics, which read the
ground truth at the original image resolution with
:func:`load_sor_gt` and :func:`decode_segmentation`.

Every error raised here is a :class:`SORAnnotationError` (a ``ValueError``)
whose message names the annotation file and the image id and/or annotation
id at fault. Recoverable oddities (duplicate ranks in one image, unranked
objects) are reported with :class:`SORDataWarning`, and so are the repairs
of what real files contain (:class:`SORRepairs`, one warning per file).
"""
import json
import math
import os
import os.path as osp
import warnings
from collections import OrderedDict
from typing import (Any, Dict, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import numpy as np
from mmengine import fileio
from pycocotools import mask as mask_utils

NUM_KEYPOINTS = 17
KEYPOINT_DIMS = 3
RANK_KEYS = ('category_id', 'visiting_order')
TOP_LEVEL_KEYS = ('images', 'annotations')
IMAGE_KEYS = ('id', 'file_name', 'height', 'width')
ANNOTATION_KEYS = ('id', 'image_id', 'segmentation')
MIN_POLYGON_POINTS = 3
# How far a box may reach beyond the image border and still be clamped to
# it (as the reference clamps every box): boxes computed from polygons
# (COCO exporters) end a few pixels outside. The larger of a fraction of the
# image side and a few pixels (small images); farther out is an error.
BBOX_CLAMP_FRACTION = 0.05
BBOX_CLAMP_MIN_PIXELS = 2.0
PERSON_CLASS_ID = 1
UTF8_BOM = '\ufeff'
# First character of pycocotools' compressed RLE alphabet and the bit masks
# of its variable-length code (5 data bits, a continuation and a sign bit).
RLE_CHAR_OFFSET = 48
RLE_DATA_BITS, RLE_DATA_MASK = 5, 0x1f
RLE_MORE_BIT, RLE_SIGN_BIT = 0x20, 0x10
RLE_MAX_BITS = 63  # run lengths are decoded as int64
# Number of offending ids listed in a summary warning.
MAX_IDS_IN_WARNING = 10
# Types of the numbers json.load returns (bool is an int, as before).
_JSON_NUMBER_TYPES = {int, float, bool}

Segmentation = Union[List[List[float]], Dict[str, Any]]


class SORAnnotationError(ValueError):
    """Raised for malformed SOR annotation files (names file and ids)."""


class SORDataWarning(UserWarning):
    """Warning category for recoverable problems in SOR annotations."""


class SORRepairs:
    """Counts (and the ids) of the repairs applied while one annotation
    file loads; :meth:`report` warns once with all of them.

    Kinds (keys of :attr:`counts`): ``'bom'`` (a UTF-8 byte-order mark
    skipped), ``'bbox_clamped'`` (a box reaching a few pixels past the
    border clamped to the image), ``'polygon_parts_dropped'`` (polygon parts
    with fewer than 3 points dropped), ``'empty_keypoints'`` (``"keypoints":
    []`` read as absent) and ``'persons_without_keypoints'`` (persons,
    ``class_id`` 1, without keypoints: their pose targets are all "not
    labelled"; not a repair, counted so that it is never silent).
    """

    LABELS = OrderedDict(
        bom='UTF-8 byte-order mark(s) skipped',
        bbox_clamped='box(es) reaching past the image border clamped to it',
        polygon_parts_dropped=('polygon part(s) with fewer than '
                               f'{MIN_POLYGON_POINTS} points dropped'),
        empty_keypoints='empty "keypoints" list(s) read as absent',
        persons_without_keypoints=(
            'person(s) (class_id 1) without keypoints, trained as having '
            'no visible joint unless the pose losses ignore them '
            '(ignore_unlabelled_poses=True in PoseRankingHead)'))

    def __init__(self) -> None:
        self.counts: Dict[str, int] = OrderedDict()
        self.ids: Dict[str, List[Any]] = {}

    def add(self, kind: str, ann_id: Any = None, num: int = 1) -> None:
        """Count ``num`` repairs of ``kind`` (one of :attr:`LABELS`) on
        annotation ``ann_id``."""
        if kind not in self.LABELS:
            raise KeyError(f'unknown repair kind {kind!r}')
        self.counts[kind] = self.counts.get(kind, 0) + num
        if ann_id is not None:
            ids = self.ids.setdefault(kind, [])
            if not ids or ids[-1] != ann_id:  # one annotation, one entry
                ids.append(ann_id)

    def __getitem__(self, kind: str) -> int:
        return self.counts.get(kind, 0)

    def message(self, ann_file: Optional[str]) -> Optional[str]:
        """One line with every count, or None when nothing was repaired."""
        if not self.counts:
            return None
        parts = []
        for kind, num in self.counts.items():
            ids = self.ids.get(kind)
            shown = ''
            if ids:
                more = ', ...' if len(ids) > MAX_IDS_IN_WARNING else ''
                listed = ', '.join(repr(i) for i in ids[:MAX_IDS_IN_WARNING])
                shown = f' (annotation ids {listed}{more})'

            parts.append(f'{num} {self.LABELS[kind]}{shown}')
        return f'{_where(ann_file)}: loaded with ' + '; '.join(parts)

    def report(self, ann_file: Optional[str]) -> None:
        """Warn once (:class:`SORDataWarning`) with every count."""
        msg = self.message(ann_file)
        if msg is not None:
            warnings.warn(msg, SORDataWarning)


class RLERunLengths(NamedTuple):
    """Run lengths of the compressed RLEs of a file, as the validation
    decoded them (so that a metric need not decode them again).

    Attributes:
        runs (np.ndarray): ``(r, )`` int64 alternating background /
            foreground run lengths of all strings, concatenated.
        offsets (np.ndarray): ``(k + 1, )`` int64; the runs of string ``i``
            are ``runs[offsets[i]:offsets[i + 1]]``.
        index (dict): annotation id -> string ``i``. Annotations with
            polygons or uncompressed counts are not in it.
    """
    runs: np.ndarray
    offsets: np.ndarray
    index: Dict[Any, int]

    @classmethod
    def empty(cls) -> 'RLERunLengths':
        return cls(
            np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64), {})


def _where(ann_file: Optional[str],
           image_id: Any = None,
           ann_id: Any = None) -> str:
    """Format the location of a problem for an error message."""
    parts = [f'annotation file {ann_file!r}']
    if image_id is not None:
        parts.append(f'image id {image_id!r}')
    if ann_id is not None:
        parts.append(f'annotation id {ann_id!r}')
    return ', '.join(parts)


def _ann_file_name(ann_file: Union[str, os.PathLike]) -> str:
    return os.fspath(ann_file)


def load_sor_json(
    ann_file: Union[str, os.PathLike],
    rank_key: str = 'category_id',
    backend_args: Optional[dict] = None,
    return_run_lengths: bool = False,
    repairs: Optional[SORRepairs] = None
) -> Union[dict, Tuple[dict, RLERunLengths]]:
    """Read and validate a PoseSOR annotation file.

    Checks the top-level keys, the required keys of every image and
    annotation, unique image and annotation ids, that every annotation
    refers to a known image, that no number is NaN or infinite, the rank
    value (a non-negative integer, or missing/``None`` for "not ranked"),
    the keypoint length (``17 * 3``), the box (inside the image, non-negative
    size) and the segmentation format (polygons with at least 3 points, or
    an RLE dict whose ``size`` is the image's and whose counts cover exactly
    ``height * width`` pixels).

    What real files contain is repaired in place and counted (one
    :class:`SORDataWarning` per file, see :class:`SORRepairs`): a UTF-8
    byte-order mark, boxes reaching a few pixels past the border (clamped),
    polygon parts with fewer than 3 points (dropped while the object keeps
    a valid part) and ``"keypoints": []`` (read as absent).

    Args:
        ann_file (str | PathLike): Path of the JSON file.
        rank_key (str): Annotation key holding the rank level, one of
            ``'category_id'`` (default) or ``'visiting_order'``.
        backend_args (dict, optional): Arguments of the
            :mod:`mmengine.fileio` backend that reads ``ann_file``.
            Defaults to None (inferred from the path: local files).
        return_run_lengths (bool): Also return the run lengths of the
            compressed RLEs, which the validation decodes anyway.
        repairs (SORRepairs, optional): Receives the repair counts.

    Returns:
        dict | tuple[dict, RLERunLengths]: The parsed JSON (``images``,
        ``annotations`` and any other top-level entries), repaired, and
        with ``return_run_lengths`` the :class:`RLERunLengths`.

    Raises:
        SORAnnotationError: If the file is missing, is not valid JSON, or
            any check fails. The message names the file and the image or
            annotation id.
    """
    ann_file = _ann_file_name(ann_file)
    if rank_key not in RANK_KEYS:
        raise SORAnnotationError(
            f'rank_key must be one of {RANK_KEYS}, got {rank_key!r} '
            f'(reading {ann_file!r})')
    if not fileio.exists(ann_file, backend_args=backend_args):
        raise SORAnnotationError(
            f'annotation file {ann_file!r} does not exist')
    non_finite: List[str] = []

    def parse_constant(name: str) -> float:
        non_finite.append(name)  # NaN, Infinity, -Infinity
        return float(name)

    def parse_float(text: str) -> float:
        value = float(text)
        if not math.isfinite(value):  # an overflow such as 1e999
            non_finite.append(text)
        return value

    repairs = SORRepairs() if repairs is None else repairs
    try:
        text = fileio.get_text(
            ann_file, encoding='utf-8', backend_args=backend_args)
        if text.startswith(UTF8_BOM):  # Windows editors and exporters
            text = text[len(UTF8_BOM):]
            repairs.add('bom')
        data = json.loads(
            text, parse_constant=parse_constant, parse_float=parse_float)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SORAnnotationError(
            f'annotation file {ann_file!r} is not valid JSON: {e}') from e
    except OSError as e:  # e.g. a directory, no read permission
        raise SORAnnotationError(
            f'annotation file {ann_file!r} cannot be read: {e}') from e
    # only a file with a non-finite number needs the walk that locates it
    run_lengths = validate_sor_dict(
        data,
        ann_file=ann_file,
        rank_key=rank_key,
        check_finite=bool(non_finite),
        repairs=repairs)
    return (data, run_lengths) if return_run_lengths else data


def validate_sor_dict(data: Any,
                      ann_file: Optional[str] = None,
                      rank_key: str = 'category_id',
                      check_finite: bool = True,
                      repairs: Optional[SORRepairs] = None) -> RLERunLengths:
    """Validate an already loaded annotation dict (see
    :func:`load_sor_json`), repairing in place what real files contain and
    warning once with the counts.

    Args:
        data (Any): Parsed JSON content.
        ann_file (str, optional): File name used in error messages.
        rank_key (str): Annotation key holding the rank level.
        check_finite (bool): Look for NaN / infinite numbers in every image
            and annotation entry. :func:`load_sor_json` turns it off when
            the parser met none. Defaults to True.
        repairs (SORRepairs, optional): Receives the repair counts
            (and any already counted, e.g. a byte-order mark, are reported
            with them).

    Returns:
        RLERunLengths: The run lengths of the compressed RLEs (decoded to
        check that each covers its image).

    Raises:
        SORAnnotationError: On the first problem found.
    """
    repairs = SORRepairs() if repairs is None else repairs
    if not isinstance(data, dict):
        raise SORAnnotationError(
            f'{_where(ann_file)}: top level must be a JSON object, '
            f'got {type(data).__name__}')
    for key in TOP_LEVEL_KEYS:
        if key not in data:
            raise SORAnnotationError(
                f'{_where(ann_file)}: missing top-level key {key!r}')
        if not isinstance(data[key], list):
            raise SORAnnotationError(
                f'{_where(ann_file)}: {key!r} must be a list')
    image_sizes: Dict[Any, Tuple[int, int]] = {}
    for idx, img in enumerate(data['images']):
        if not isinstance(img, dict):
            raise SORAnnotationError(
                f'{_where(ann_file)}: images[{idx}] is not an object')
        for key in IMAGE_KEYS:
            if key not in img:
                raise SORAnnotationError(
                    f'{_where(ann_file, image_id=img.get("id"))}: image '
                    f'entry images[{idx}] misses key {key!r}')
        img_id = img['id']
        if img_id in image_sizes:
            raise SORAnnotationError(
                f'{_where(ann_file, image_id=img_id)}: duplicate image id')
        if check_finite:
            _check_finite(img, _where(ann_file, image_id=img_id))
        for key in ('height', 'width'):
            if (not isinstance(img[key], int) or isinstance(img[key], bool)
                    or img[key] <= 0):
                raise SORAnnotationError(
                    f'{_where(ann_file, image_id=img_id)}: {key!r} must '
                    f'be a positive integer, got {img[key]!r}')
        image_sizes[img_id] = (img['height'], img['width'])

    ann_ids = set()
    pending_rles: List[tuple] = []  # compressed RLEs, decoded together
    ann_ids_of_rles: List[Any] = []  # the annotation of each of them
    for idx, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict):
            raise SORAnnotationError(
                f'{_where(ann_file)}: annotations[{idx}] is not an object')
        for key in ANNOTATION_KEYS:
            if key not in ann:
                raise SORAnnotationError(
                    f'{_where(ann_file, ann.get("image_id"), ann.get("id"))}'
                    f': annotation entry annotations[{idx}] misses key '
                    f'{key!r}')
        ann_id, img_id = ann['id'], ann['image_id']
        where = _where(ann_file, img_id, ann_id)
        if ann_id in ann_ids:
            raise SORAnnotationError(f'{where}: duplicate annotation id')
        ann_ids.add(ann_id)
        if img_id not in image_sizes:
            raise SORAnnotationError(
                f'{where}: annotation refers to an unknown image id')
        if check_finite:
            _check_finite(ann, where)
        height, width = image_sizes[img_id]
        get_rank(ann, rank_key, ann_file=ann_file)
        _check_keypoints(ann, where, repairs)
        _check_segmentation(ann, where, height, width, pending_rles, repairs)
        if len(pending_rles) > len(ann_ids_of_rles):
            ann_ids_of_rles.append(ann_id)
        if 'bbox' in ann:
            _check_bbox(ann, where, height, width, repairs)
    runs, offsets = check_rle_strings(pending_rles)
    repairs.report(ann_file)
    return RLERunLengths(runs, offsets, {
        ann_id: i
        for i, ann_id in enumerate(ann_ids_of_rles)
    })


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _find_non_finite(value: Any, path: str) -> Optional[Tuple[str, float]]:
    """Return ``(key path, value)`` of the first NaN/inf inside ``value``."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, value)
    if isinstance(value, dict):
        items = ((f'{path}.{k}' if path else str(k), v)
                 for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        items = ((f'{path}[{i}]', v) for i, v in enumerate(value))
    else:
        return None
    for sub_path, sub_value in items:
        found = _find_non_finite(sub_value, sub_path)
        if found is not None:
            return found
    return None


def _check_finite(entry: dict, where: str) -> None:
    # json.load accepts the non-standard NaN / Infinity literals; they would
    # reach the losses (NaN keypoints) or silently read as "not labelled".
    found = _find_non_finite(entry, '')
    if found is not None:
        path, value = found
        raise SORAnnotationError(
            f'{where}: {path} is {value!r}; every number must be finite')


def _check_bbox(ann: dict, where: str, height: int, width: int,
                repairs: SORRepairs) -> None:
    bbox = ann['bbox']
    if (not isinstance(bbox, (list, tuple)) or len(bbox) != 4
            or not all(_is_number(v) for v in bbox)):
        raise SORAnnotationError(
            f'{where}: bbox must be 4 numbers [x, y, w, h], got {bbox!r}')
    x, y, w, h = bbox
    if w < 0 or h < 0:
        raise SORAnnotationError(
            f'{where}: bbox {list(bbox)} has a negative size (w={w}, h={h})')
    tol_x = max(BBOX_CLAMP_MIN_PIXELS, BBOX_CLAMP_FRACTION * width)
    tol_y = max(BBOX_CLAMP_MIN_PIXELS, BBOX_CLAMP_FRACTION * height)
    if (x < -tol_x or y < -tol_y or x + w > width + tol_x
            or y + h > height + tol_y):
        raise SORAnnotationError(
            f'{where}: bbox {list(bbox)} (x, y, w, h) is not inside the '
            f'{width}x{height} (width x height) image (up to {tol_x:g} x '
            f'{tol_y:g} pixels past the border are clamped)')
    if x < 0 or y < 0 or x + w > width or y + h > height:
        # the reference clamps every box to the image
        x1, y1 = min(max(x, 0), width), min(max(y, 0), height)
        x2, y2 = min(x + w, width), min(y + h, height)
        ann['bbox'] = [x1, y1, max(x2 - x1, 0), max(y2 - y1, 0)]
        repairs.add('bbox_clamped', ann['id'])


def _check_keypoints(ann: dict, where: str, repairs: SORRepairs) -> None:
    kpts = ann.get('keypoints')
    if isinstance(kpts, (list, tuple)) and len(kpts) == 0:
        del ann['keypoints']  # what exporters write for "no pose"
        repairs.add('empty_keypoints', ann['id'])
        kpts = None
    if kpts is None:
        if ann.get('class_id') == PERSON_CLASS_ID:
            repairs.add('persons_without_keypoints', ann['id'])
        return
    if (not isinstance(kpts, (list, tuple))
            or len(kpts) != NUM_KEYPOINTS * KEYPOINT_DIMS):
        length = len(kpts) if isinstance(kpts, (list, tuple)) else None
        raise SORAnnotationError(
            f'{where}: keypoints must be a flat list of '
            f'{NUM_KEYPOINTS * KEYPOINT_DIMS} numbers (17 x [x, y, v]), '
            f'got length {length}')
    # fast path for what JSON gives (exact types); subclasses (numpy
    # scalars) take the isinstance check
    if not set(map(type, kpts)) <= _JSON_NUMBER_TYPES and not all(
            isinstance(v, (int, float)) for v in kpts):
        raise SORAnnotationError(f'{where}: keypoints must be numbers')


class _RLEStringError(ValueError):
    """A compressed RLE string that cannot be decoded (``index`` of it)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(reason)
        self.index = index


def decode_rle_strings(
        strings: Sequence[Union[str, bytes]]) -> Tuple[np.ndarray, np.ndarray]:
    """Decode compressed RLE strings into run lengths, all in one pass.

    The same variable-length code as pycocotools' ``rleFrString``: each run
    is written in groups of 5 bits (a continuation bit and, on the last
    group, a sign bit), and from the fourth run on as the difference to the
    run two places before. Vectorised over all strings of a file: a loop in
    Python per character would dominate loading.

    Args:
        strings (Sequence[str | bytes]): ``counts`` of compressed RLEs.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``runs`` (r, ) int64, the
        alternating background / foreground run lengths of all strings
        concatenated (negative only for a corrupt string), and ``owner``
        (r, ) int64, the index of the string each run belongs to.

    Raises:
        ValueError: If a string ends inside a run or holds a run longer
            than an int64; ``index`` (when present) names the string.
    """
    data = []
    for i, counts in enumerate(strings):
        if isinstance(counts, str):
            if not counts.isascii():
                raise _RLEStringError(i, 'the RLE string is not ASCII')
            counts = counts.encode('ascii')
        data.append(counts)
    lengths = np.array([len(s) for s in data], dtype=np.int64)
    codes = np.frombuffer(
        b''.join(data), dtype=np.uint8) - np.uint8(RLE_CHAR_OFFSET)
    if codes.size == 0:
        return np.zeros((2, 0), dtype=np.int64)
    string_ends = np.cumsum(lengths)
    is_end = (codes & RLE_MORE_BIT) == 0
    unfinished = (lengths > 0) & ~is_end[np.maximum(string_ends - 1, 0)]
    if unfinished.any():
        raise _RLEStringError(
            int(np.argmax(unfinished)), 'the RLE string ends inside a run')
    ends = np.flatnonzero(is_end)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    run_chars = ends - starts + 1
    # the string of each run: the one its last character falls in
    owner = np.searchsorted(string_ends, ends, side='right')
    too_long = run_chars * RLE_DATA_BITS >= RLE_MAX_BITS
    if too_long.any():
        idx = int(np.argmax(too_long))
        raise _RLEStringError(
            int(owner[idx]), f'a run is {run_chars[idx]} characters long')
    # add the 5-bit groups one position at a time (runs are short): group
    # p of every run longer than p
    values = (codes[starts] & RLE_DATA_MASK).astype(np.int64)
    longer = np.flatnonzero(run_chars > 1)
    shift = RLE_DATA_BITS
    while longer.size:
        group = codes[starts[longer] + shift // RLE_DATA_BITS]
        values[longer] |= (group & RLE_DATA_MASK).astype(np.int64) << shift
        shift += RLE_DATA_BITS
        longer = longer[run_chars[longer] > shift // RLE_DATA_BITS]
    negative = np.flatnonzero(codes[ends] & RLE_SIGN_BIT)
    values[negative] -= np.left_shift(1, RLE_DATA_BITS * run_chars[negative])
    # undo the differences: per string a cumulative sum over the runs 1, 3,
    # 5, ... and one over the runs 2, 4, 6, ... (run 0 is stored as it is)
    runs_per_string = np.bincount(owner, minlength=len(data))
    first_run = np.cumsum(runs_per_string) - runs_per_string
    odd = ((np.arange(values.size) - np.repeat(first_run, runs_per_string))
           & 1).astype(bool)
    odd_values = np.where(odd, values, 0)
    even_values = values - odd_values
    has_runs = runs_per_string > 0
    even_values[first_run[has_runs]] = 0
    runs = np.empty_like(values)
    for chain, mask in ((odd_values, odd), (even_values, ~odd)):
        total = np.cumsum(chain)
        before = np.zeros(len(data), dtype=np.int64)
        before[has_runs] = total[first_run[has_runs]] - chain[
            first_run[has_runs]]
        np.subtract(
            total, np.repeat(before, runs_per_string), out=runs, where=mask)
    runs[first_run[has_runs]] = values[first_run[has_runs]]
    return np.stack([runs, owner])


def rle_string_counts(counts: Union[str, bytes]) -> np.ndarray:
    """Run lengths of one compressed RLE string (see
    :func:`decode_rle_strings`).

    Args:
        counts (str | bytes): The ``counts`` of a compressed RLE.

    Returns:
        np.ndarray: (m, ) int64 alternating background / foreground runs.
    """
    try:
        return decode_rle_strings([counts])[0]
    except _RLEStringError as e:
        raise ValueError(str(e)) from None


def _check_rle(segm: dict, where: str, height: int, width: int,
               pending: List[tuple]) -> None:
    """Check an RLE's size; uncompressed counts now, compressed ones are
    collected in ``pending`` for :func:`check_rle_strings`."""
    size = segm['size']
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or list(size) != [height, width]):
        raise SORAnnotationError(
            f'{where}: RLE size {size!r} differs from the image size '
            f'[height, width] = {[height, width]}')
    counts = segm['counts']
    if isinstance(counts, (str, bytes)):
        pending.append((where, height * width, counts))
        return
    if not isinstance(counts, list):
        raise SORAnnotationError(
            f'{where}: RLE counts must be a list or a string, got '
            f'{type(counts).__name__}')
    if not all(isinstance(c, int) and c >= 0 for c in counts):
        raise SORAnnotationError(
            f'{where}: uncompressed RLE counts must be non-negative '
            f'integers')
    _check_rle_total(where, sum(counts), height * width)


def _check_rle_total(where: str, total: int, num_pixels: int) -> None:
    if total != num_pixels:
        raise SORAnnotationError(
            f'{where}: RLE counts cover {total} pixels but the image has '
            f'{num_pixels} (height x width)')


def check_rle_strings(pending: List[tuple]) -> Tuple[np.ndarray, np.ndarray]:
    """Decode compressed RLEs at once; each must cover exactly its image's
    pixels (pycocotools would decode uninitialised memory otherwise).

    Args:
        pending (list[tuple]): ``(where, num_pixels, counts)`` per RLE;
            ``where`` starts the error message.

    Returns:
        tuple[np.ndarray, np.ndarray]: The run lengths and the offsets of
        each string's runs (see :class:`RLERunLengths`).

    Raises:
        SORAnnotationError: Naming ``where`` of the first RLE that is not
            a valid string or does not cover its ``num_pixels``.
    """
    if not pending:
        empty = RLERunLengths.empty()
        return empty.runs, empty.offsets
    try:
        runs, owner = decode_rle_strings([p[2] for p in pending])
    except _RLEStringError as e:
        raise SORAnnotationError(
            f'{pending[e.index][0]}: RLE counts are not a valid compressed '
            f'RLE string ({e})') from e
    num = len(pending)
    if (runs < 0).any():
        idx = int(owner[np.argmax(runs < 0)])
        raise SORAnnotationError(
            f'{pending[idx][0]}: RLE counts decode to a negative run length')
    totals = np.bincount(owner, weights=runs, minlength=num)
    expected = np.array([p[1] for p in pending], dtype=np.float64)
    wrong = np.flatnonzero(totals != expected)
    if wrong.size:
        where, num_pixels, _ = pending[wrong[0]]
        _check_rle_total(where, int(totals[wrong[0]]), num_pixels)
    offsets = np.zeros(num + 1, dtype=np.int64)
    np.cumsum(np.bincount(owner, minlength=num), out=offsets[1:])
    return runs, offsets


def _check_segmentation(ann: dict, where: str, height: int, width: int,
                        pending_rles: List[tuple],
                        repairs: SORRepairs) -> None:
    segm = ann['segmentation']
    if isinstance(segm, dict):
        if 'size' not in segm or 'counts' not in segm:
            raise SORAnnotationError(
                f'{where}: RLE segmentation needs "size" and "counts"')
        _check_rle(segm, where, height, width, pending_rles)
        return
    if not isinstance(segm, list) or len(segm) == 0:
        raise SORAnnotationError(
            f'{where}: segmentation must be a non-empty list of polygons '
            f'or an RLE dict')
    for poly in segm:
        if not isinstance(poly, (list, tuple)):
            raise SORAnnotationError(
                f'{where}: each polygon must be a flat list of coordinates')
        if len(poly) % 2 != 0:
            raise SORAnnotationError(
                f'{where}: polygon has an odd number of coordinates '
                f'({len(poly)})')
    # as mmdet: parts with fewer than 3 points (a point or a line, no area)
    # are dropped, the object keeps its valid parts
    kept = [poly for poly in segm if len(poly) >= 2 * MIN_POLYGON_POINTS]
    if not kept:
        points = ', '.join(str(len(poly) // 2) for poly in segm)
        raise SORAnnotationError(
            f'{where}: no polygon has at least {MIN_POLYGON_POINTS} points '
            f'(points per polygon: {points}); the object has no area')
    if len(kept) < len(segm):
        repairs.add('polygon_parts_dropped', ann['id'], len(segm) - len(kept))
        ann['segmentation'] = kept


def get_rank(ann: dict,
             rank_key: str = 'category_id',
             ann_file: Optional[str] = None) -> int:
    """Return the rank level of one annotation.

    Args:
        ann (dict): One annotation.
        rank_key (str): Key holding the rank (``'category_id'`` or
            ``'visiting_order'``).
        ann_file (str, optional): File name used in error messages.

    Returns:
        int: The rank (1 = most salient); 0 when the key is missing,
        ``None`` or 0, meaning "not ranked".

    Raises:
        SORAnnotationError: If the rank is negative or not an integer.
    """
    rank = ann.get(rank_key)
    if rank is None:
        return 0
    if isinstance(rank, float) and rank.is_integer():
        rank = int(rank)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
        raise SORAnnotationError(
            f'{_where(ann_file, ann.get("image_id"), ann.get("id"))}: '
            f'{rank_key!r} must be a non-negative integer rank, got '
            f'{rank!r}')
    return rank


def sort_by_rank(
    anns: Sequence[dict],
    rank_key: str = 'category_id',
    ann_file: Optional[str] = None,
) -> Tuple[List[dict], bool]:
    """Sort the annotations of one image by rank, most salient first.

    The JSON order is never trusted. Ties (duplicate ranks) are broken
    deterministically by annotation id. Unranked objects (rank 0) go last,
    also ordered by annotation id.

    Args:
        anns (Sequence[dict]): Annotations of one image.
        rank_key (str): Key holding the rank.
        ann_file (str, optional): File name used in error messages.

    Returns:
        tuple[list[dict], bool]: The sorted annotations and whether two
        ranked annotations share a rank.
    """

    def key(ann: dict) -> tuple:
        rank = get_rank(ann, rank_key, ann_file)
        ann_id = ann['id']
        id_key = (0, ann_id, '') if isinstance(ann_id, int) else \
            (1, 0, str(ann_id))
        # unranked objects (rank 0) come after every ranked object
        return (rank == 0, rank) + id_key

    sorted_anns = sorted(anns, key=key)
    ranks = [get_rank(a, rank_key, ann_file) for a in sorted_anns]
    ranked = [r for r in ranks if r > 0]
    has_duplicates = len(ranked) != len(set(ranked))
    return sorted_anns, has_duplicates


def group_by_image(
    data: dict,
    rank_key: str = 'category_id',
    keep_unranked: bool = False,
    ann_file: Optional[str] = None,
    warn: bool = True,
) -> 'OrderedDict[Any, dict]':
    """Group annotations per image, sorted by rank.

    Args:
        data (dict): Validated annotation dict (:func:`load_sor_json`).
        rank_key (str): Key holding the rank.
        keep_unranked (bool): Keep objects whose rank is 0/missing (they
            come after the ranked ones). Default ``False`` drops them: they
            are not salient targets and are ignored by the SOR metrics.
        ann_file (str, optional): File name used in messages.
        warn (bool): Emit one :class:`SORDataWarning` summarising images
            with duplicate ranks and the number of unranked objects.

    Returns:
        OrderedDict: In the order of ``data['images']``, image id ->
        ``dict(image=<image entry>, annotations=<sorted list>,
        duplicate_ranks=<bool>, num_unranked=<int>)``.
    """
    groups: 'OrderedDict[Any, dict]' = OrderedDict()
    for img in data['images']:
        groups[img['id']] = dict(
            image=img, annotations=[], duplicate_ranks=False, num_unranked=0)
    for ann in data['annotations']:
        if ann['image_id'] not in groups:
            raise SORAnnotationError(
                f'{_where(ann_file, ann["image_id"], ann.get("id"))}: '
                f'annotation refers to an unknown image id')
        group = groups[ann['image_id']]
        if get_rank(ann, rank_key, ann_file) == 0:
            group['num_unranked'] += 1
            if not keep_unranked:
                continue
        group['annotations'].append(ann)
    dup_ids = []
    num_unranked = 0
    for img_id, group in groups.items():
        group['annotations'], dup = sort_by_rank(group['annotations'],
                                                 rank_key, ann_file)
        group['duplicate_ranks'] = dup
        num_unranked += group['num_unranked']
        if dup:
            dup_ids.append(img_id)
    if warn and dup_ids:
        shown = ', '.join(repr(i) for i in dup_ids[:MAX_IDS_IN_WARNING])
        more = '' if len(dup_ids) <= MAX_IDS_IN_WARNING else ', ...'
        warnings.warn(
            f'{_where(ann_file)}: {len(dup_ids)} image(s) have duplicate '
            f'{rank_key!r} ranks (image ids {shown}{more}); ties are '
            f'ordered by annotation id', SORDataWarning)
    if warn and num_unranked:
        action = 'kept after the ranked objects' if keep_unranked else \
            'dropped'
        warnings.warn(
            f'{_where(ann_file)}: {num_unranked} unranked object(s) '
            f'({rank_key!r} missing or 0) were {action}', SORDataWarning)
    return groups


def load_sor_gt(
    ann_file: Union[str, os.PathLike],
    rank_key: str = 'category_id',
    keep_unranked: bool = False,
    warn: bool = True,
    backend_args: Optional[dict] = None,
    return_run_lengths: bool = False,
    repairs: Optional[SORRepairs] = None
) -> Union['OrderedDict[Any, dict]', Tuple['OrderedDict[Any, dict]',
                                           RLERunLengths]]:
    """Load and validate a SOR annotation file, grouped per image.

    This is the entry point for metrics that need the ground truth at the
    original resolution: decode each annotation with
    :func:`decode_segmentation` using the image's ``height``/``width``.

    Args:
        ann_file (str | PathLike): Path of the JSON file.
        rank_key (str): ``'category_id'`` (default) or
            ``'visiting_order'``.
        keep_unranked (bool): See :func:`group_by_image`.
        warn (bool): See :func:`group_by_image`.
        backend_args (dict, optional): See :func:`load_sor_json`.
        return_run_lengths (bool): See :func:`load_sor_json`.
        repairs (SORRepairs, optional): See :func:`load_sor_json`.

    Returns:
        OrderedDict | tuple[OrderedDict, RLERunLengths]: image id ->
        ``dict(image, annotations, duplicate_ranks, num_unranked)`` with
        annotations sorted by rank (most salient first), in the file's
        image order; with ``return_run_lengths`` also the
        :class:`RLERunLengths` of the file.
    """
    ann_file = _ann_file_name(ann_file)
    data, run_lengths = load_sor_json(
        ann_file,
        rank_key=rank_key,
        backend_args=backend_args,
        return_run_lengths=True,
        repairs=repairs)
    groups = group_by_image(
        data,
        rank_key=rank_key,
        keep_unranked=keep_unranked,
        ann_file=ann_file,
        warn=warn)
    return (groups, run_lengths) if return_run_lengths else groups


def image_name(file_name: str) -> str:
    """Return the image name the reference uses as key of its result
    dumps: the file's base name without extension.

    Args:
        file_name (str): ``file_name`` of an image entry (or a path).

    Returns:
        str: e.g. ``'COCO_val2014_000000000192'``.
    """
    return osp.splitext(osp.basename(file_name))[0]


def unique_image_names(file_names: Sequence[str]) -> List[str]:
    """Image names of a file's images that tell every image apart.

    The reference's name (:func:`image_name`, the base name without
    extension) where it is unique in the file; images whose base names
    collide (``a/000001.jpg`` and ``b/000001.jpg``) keep their relative
    path without extension (``'a/000001'``, ``/`` separated) instead.

    Args:
        file_names (Sequence[str]): ``file_name`` of each image entry.

    Returns:
        list[str]: One name per entry, in the same order.
    """
    names = [image_name(f) for f in file_names]
    counts: Dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return [
        name if counts[name] == 1 else osp.splitext(
            osp.normpath(f).replace(os.sep, '/'))[0].lstrip('/')
        for name, f in zip(names, file_names)
    ]


def segmentation_to_rle(segm: Segmentation, height: int,
                        width: int) -> Dict[str, Any]:
    """Convert polygons or an (un)compressed RLE to one compressed RLE.

    Args:
        segm (list | dict): COCO polygons (list of flat coordinate lists)
            or an RLE dict (``counts`` as a list or a string/bytes).
        height (int): Image height.
        width (int): Image width.

    Returns:
        dict: Compressed RLE with ``size`` ``[height, width]``.
    """
    if isinstance(segm, list):
        rles = mask_utils.frPyObjects([[float(v) for v in poly]
                                       for poly in segm], height, width)
        return mask_utils.merge(rles)
    if isinstance(segm['counts'], list):
        return mask_utils.frPyObjects(segm, height, width)
    counts = segm['counts']
    if isinstance(counts, str):
        counts = counts.encode('ascii')
    return dict(size=list(segm['size']), counts=counts)


def decode_segmentation(segm: Segmentation,
                        height: int,
                        width: int,
                        polygon_backend: str = 'pycocotools') -> np.ndarray:
    """Decode one annotation's segmentation to a binary mask.

    Args:
        segm (list | dict): COCO polygons or RLE.
        height (int): Image height.
        width (int): Image width.
        polygon_backend (str): ``'pycocotools'`` (default, the COCO
            rasteriser) or ``'cv2'``, which fills all polygons of the
            annotation with ``cv2.fillPoly`` on integer-rounded vertices as
            the reference's data loader does (several polygons are filled
            together with the even-odd rule, so overlapping parts cancel;
            boundary pixels may differ by one pixel from pycocotools). RLE
            input ignores it.

    Returns:
        np.ndarray: (H, W) uint8 mask with values in {0, 1}.
    """
    if isinstance(segm, list) and polygon_backend == 'cv2':
        import cv2
        mask = np.zeros((height, width), dtype=np.uint8)
        polys = [
            np.round(np.asarray(p,
                                dtype=np.float64).reshape(-1,
                                                          2)).astype(np.int32)
            for p in segm
        ]
        cv2.fillPoly(mask, polys, 1)
        return mask
    if polygon_backend not in ('pycocotools', 'cv2'):
        raise ValueError(
            f'polygon_backend must be "pycocotools" or "cv2", got '
            f'{polygon_backend!r}')
    rle = segmentation_to_rle(segm, height, width)
    with warnings.catch_warnings():
        # pycocotools' decoder triggers numpy 2's ``__array__(copy=...)``
        # deprecation warning; the decoded mask is unaffected.
        warnings.simplefilter('ignore', DeprecationWarning)
        mask = mask_utils.decode(rle)
    if tuple(mask.shape[:2]) != (height, width):
        raise SORAnnotationError(
            f'RLE size {tuple(mask.shape[:2])} differs from the image size '
            f'{(height, width)}')
    return mask.astype(np.uint8)


def segmentation_area(segm: Segmentation, height: int, width: int) -> int:
    """Number of foreground pixels of a segmentation (without decoding).

    Args:
        segm (list | dict): COCO polygons or RLE.
        height (int): Image height.
        width (int): Image width.

    Returns:
        int: Mask area in pixels.
    """
    return int(mask_utils.area(segmentation_to_rle(segm, height, width)))


def keypoints_array(ann: dict) -> np.ndarray:
    """Return an annotation's keypoints as a (17, 3) float32 array.

    Args:
        ann (dict): One annotation; missing ``keypoints`` (non-persons)
            gives zeros.

    Returns:
        np.ndarray: (17, 3) ``[x, y, visibility]`` in original pixels.
    """
    kpts = ann.get('keypoints')
    if kpts is None:
        return np.zeros((NUM_KEYPOINTS, KEYPOINT_DIMS), dtype=np.float32)
    return np.asarray(
        kpts, dtype=np.float32).reshape(NUM_KEYPOINTS, KEYPOINT_DIMS)


def bbox_xyxy(ann: dict, height: int, width: int) -> np.ndarray:
    """Return an annotation's box as xyxy float32, from ``bbox`` (xywh)
    or, when absent, from its segmentation.

    Args:
        ann (dict): One annotation.
        height (int): Image height.
        width (int): Image width.

    Returns:
        np.ndarray: (4,) ``[x1, y1, x2, y2]`` in original pixels.
    """
    if 'bbox' in ann:
        x, y, w, h = ann['bbox']
    else:
        x, y, w, h = mask_utils.toBbox(
            segmentation_to_rle(ann['segmentation'], height, width))
    return np.array([x, y, x + w, y + h], dtype=np.float32)
