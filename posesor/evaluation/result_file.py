# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Read saved SOR predictions back as data samples for :class:`SORMetric`.

Two result formats are read, through mmengine's file backends:

* ``*.sor_results.json`` written by ``SORMetric(outfile_prefix=...)``:
  per image ``img_id``, RLE ``masks`` in predicted rank order and,
  optionally, ``keypoints`` (pixels), ``rank_scores``, ``scores``, ...
* ``*_coco_format.pth`` dumps of the PoseSOR reference implementation: a
  dict ``image name -> {"masks": [RLE, ...], "joints": ..., ...}`` with
  masks in rank order and joints normalised to [0, 1]. These files are
  read with ``torch.load(weights_only=True)`` (tensors, numpy arrays and
  plain containers only); a file holding any other pickled object is
  refused.

A file with more than one entry for an image is refused, naming the image.
"""
import io
import json
import pickle
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine import fileio

from posesor.datasets.sor_parsing import unique_image_names
from .metrics.sor_metric import RESULT_FORMAT, SORMetric, decode_masks

#: Number of coordinates per reference joint: x, y (normalised), visibility.
REF_JOINT_DIMS = 3
#: At most this many repeated images are named in an error message.
MAX_NAMED = 10


class ResultFileError(ValueError):
    """A result file cannot be read (names the file and the entry)."""


def _load_pth(path: str, backend_args: Optional[dict] = None) -> Any:
    """``torch.load`` restricted to tensors, numpy arrays and containers."""
    buffer = io.BytesIO(fileio.get(path, backend_args=backend_args))
    try:
        return torch.load(buffer, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as err:
        raise ResultFileError(
            f'refusing to read {path!r}: it holds pickled objects other '
            f'than tensors, numpy arrays and plain containers, and '
            f'unpickling them could execute code ({err}). Convert it to '
            f'plain data (dict of image name -> {{"masks": [RLE, ...]}}) '
            f'first.') from err


def _as_list(x: Any) -> list:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().tolist()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return list(x)


def load_result_entries(
        path: str,
        backend_args: Optional[dict] = None) -> Tuple[str, List[dict]]:
    """Read a result file into a list of per-image entries.

    Args:
        path (str): ``.json`` (SORMetric) or ``.pth`` (reference) file.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        tuple[str, list[dict]]: The key kind (``'img_id'`` or
        ``'image_name'``) and entries holding that key, ``masks`` (RLE
        list) and optionally ``keypoints`` (pixels; for ``.pth`` the
        normalised ``joints``, stored as ``joints``) and ``scores``
        (objectness, one per mask).

    Raises:
        ResultFileError: If the file is missing or malformed.
    """
    if not fileio.exists(path, backend_args=backend_args):
        raise ResultFileError(f'result file {path!r} does not exist')
    if path.endswith('.json'):
        try:
            data = json.loads(fileio.get_text(path, backend_args=backend_args))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ResultFileError(
                f'result file {path!r} is not valid JSON: {err}') from err
        if not isinstance(data, dict) or data.get(
                'format') != RESULT_FORMAT or not isinstance(
                    data.get('results'), list):
            raise ResultFileError(
                f'result file {path!r} is not a SORMetric dump (expected '
                f'"format": "{RESULT_FORMAT}" and a "results" list)')
        for k, entry in enumerate(data['results']):
            if 'img_id' not in entry or 'masks' not in entry:
                raise ResultFileError(
                    f'result file {path!r}: results[{k}] misses "img_id" '
                    f'or "masks"')
        return 'img_id', data['results']
    data = _load_pth(path, backend_args)
    if not isinstance(data, dict):
        raise ResultFileError(
            f'result file {path!r}: expected a dict of image name -> '
            f'result, got {type(data).__name__}')
    entries = []
    for name, value in data.items():
        if not isinstance(value, dict) or 'masks' not in value:
            raise ResultFileError(
                f'result file {path!r}: entry {name!r} has no "masks"')
        entry = dict(image_name=str(name), masks=list(value['masks']))
        joints = value.get('joints')
        if joints is not None and len(joints):
            entry['joints'] = _as_list(joints)
        scores = value.get('scores')
        if scores is not None and np.ndim(scores) == 1:
            # per-mask objectness; the reference writes 0.0 when it has none
            entry['scores'] = _as_list(scores)
        entries.append(entry)
    return 'image_name', entries


def sample_from_entry(entry: dict, img_id: Any, height: int, width: int,
                      path: str) -> dict:
    """Build the data-sample dict that :class:`SORMetric` consumes.

    Args:
        entry (dict): One entry of :func:`load_result_entries`.
        img_id: Image id of the annotation file.
        height (int): Image height.
        width (int): Image width.
        path (str): The result file (for error messages).

    Returns:
        dict: ``img_id`` and ``pred_instances`` (``masks`` ``(n, H, W)``
        bool, ``keypoints`` ``(n, 17, 2)`` pixels and objectness
        ``scores`` ``(n,)`` when present).

    Raises:
        ResultFileError: For undecodable masks or a keypoint or score
            count that differs from the mask count.
    """
    try:
        masks = decode_masks(entry['masks'], height, width)
    except (ValueError, KeyError, TypeError) as err:
        raise ResultFileError(f'result file {path!r}, image id {img_id!r}: '
                              f'bad masks ({err})') from err
    pred: Dict[str, Any] = dict(masks=masks)
    if 'keypoints' in entry:
        pred['keypoints'] = np.asarray(
            entry['keypoints'], dtype=np.float64).reshape(-1, 17, 2)
    elif 'joints' in entry:
        joints = np.asarray(entry['joints'], dtype=np.float64)
        joints = joints.reshape(-1, 17, REF_JOINT_DIMS)[..., :2]
        pred['keypoints'] = joints * np.array([width, height])
    if 'keypoints' in pred and len(pred['keypoints']) != len(masks):
        raise ResultFileError(
            f'result file {path!r}, image id {img_id!r}: '
            f'{len(pred["keypoints"])} keypoint sets for {len(masks)} masks')
    if 'scores' in entry:  # objectness, for the conventions' filters
        pred['scores'] = np.asarray(
            entry['scores'], dtype=np.float64).reshape(-1)
        if len(pred['scores']) != len(masks):
            raise ResultFileError(
                f'result file {path!r}, image id {img_id!r}: '
                f'{len(pred["scores"])} scores for {len(masks)} masks')
    return dict(img_id=img_id, pred_instances=pred)


def check_unique_entries(entries: Sequence[dict], key_kind: str,
                         path: str) -> None:
    """Refuse a result file with more than one entry for an image.

    Args:
        entries (Sequence[dict]): Entries of :func:`load_result_entries`.
        key_kind (str): ``'img_id'`` or ``'image_name'``.
        path (str): The result file (for the message).

    Raises:
        ResultFileError: Naming the file and the repeated images.
    """
    counts = Counter(entry[key_kind] for entry in entries)
    repeated = [(key, c) for key, c in counts.items() if c > 1]
    if repeated:
        shown = ', '.join(f'{key!r} ({c} entries)'
                          for key, c in repeated[:MAX_NAMED])
        more = (f' and {len(repeated) - MAX_NAMED} more'
                if len(repeated) > MAX_NAMED else '')
        label = 'image id' if key_kind == 'img_id' else 'image name'
        raise ResultFileError(
            f'result file {path!r}: {len(repeated)} image(s) have more than '
            f'one entry: {label} {shown}{more}; keep one entry per image')


def read_result_samples(path: str,
                        metric: SORMetric,
                        backend_args: Optional[dict] = None
                        ) -> Tuple[List[Tuple[Any, dict]], int]:
    """Entries of a result file matched to the images of a metric's GT.

    Args:
        path (str): Result file (``.json`` or reference ``.pth``).
        metric (SORMetric): A metric with ground truth.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        tuple[list[tuple], int]: ``(img_id, entry)`` for every entry of an
        annotated image, in file order, and the number of entries for
        images that are not in the annotation file.

    Raises:
        ResultFileError: If the file cannot be read or an image has more
            than one entry.
    """
    key_kind, entries = load_result_entries(path, backend_args)
    check_unique_entries(entries, key_kind, path)
    gt = metric.gt
    if key_kind == 'img_id':
        img_ids = {img_id: img_id for img_id in gt}
    else:
        names = unique_image_names(
            [g['image']['file_name'] for g in gt.values()])
        img_ids = dict(zip(names, gt))
    known = [(img_ids[e[key_kind]], e) for e in entries
             if e[key_kind] in img_ids]
    return known, len(entries) - len(known)


def iter_samples(path: str, metric: SORMetric,
                 known: Sequence[Tuple[Any, dict]]) -> Iterator[dict]:
    """Decode the entries of :func:`read_result_samples` one at a time.

    Args:
        path (str): The result file (for error messages).
        metric (SORMetric): The metric whose GT gives the image sizes.
        known (Sequence[tuple]): ``(img_id, entry)`` pairs.

    Yields:
        dict: Data samples for :meth:`SORMetric.process_sample`.
    """
    for img_id, entry in known:
        img = metric.gt[img_id]['image']
        yield sample_from_entry(entry, img_id, int(img['height']),
                                int(img['width']), path)
