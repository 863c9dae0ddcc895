# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Loading of SOR images (EXIF rule) and annotations (masks, boxes, ranks,
keypoints)."""
import io
from typing import Optional, Tuple, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import BaseTransform, LoadImageFromFile
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmengine import fileio
from mmengine.logging import print_log

from ..sor_parsing import (NUM_KEYPOINTS, SORAnnotationError,
                           decode_segmentation)

EXIF_ORIENTATION_TAG = 0x0112
# EXIF orientations that swap width and height (rotations by 90 degrees,
# with or without a mirror)
EXIF_TRANSPOSING = (5, 6, 7, 8)
IGNORE_ORIENTATION_SUFFIX = '_ignore_orientation'


def exif_orientation(img: Union[bytes, str],
                     backend_args: Optional[dict] = None) -> int:
    """The EXIF orientation of an encoded image (1 when it has none).

    Args:
        img (bytes | str): The file's bytes, or its path (read through
            :mod:`mmengine.fileio` with ``backend_args``).
        backend_args (dict, optional): File backend arguments.

    Returns:
        int: 1 (as stored) to 8; 1 for a file without EXIF or that PIL
        cannot open.
    """
    from PIL import Image, UnidentifiedImageError
    if isinstance(img, str):
        img = fileio.get(img, backend_args=backend_args)
    try:
        with Image.open(io.BytesIO(img)) as pil:
            return int(pil.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except (UnidentifiedImageError, OSError, ValueError, TypeError):
        return 1


def exif_explains_size(stored_hw: Tuple[int, int], annotated_hw: Tuple[int,
                                                                       int],
                       orientation: int) -> bool:
    """Whether an annotation made on the EXIF-oriented (displayed) image
    explains a size mismatch: the stored size is the annotated one with
    width and height swapped, and the orientation swaps them.

    Args:
        stored_hw (tuple[int, int]): (height, width) of the stored pixels.
        annotated_hw (tuple[int, int]): (height, width) of the annotation.
        orientation (int): The file's EXIF orientation.

    Returns:
        bool: True when reading the image EXIF-oriented gives its size.
    """
    return (tuple(stored_hw) != tuple(annotated_hw)
            and tuple(stored_hw) == tuple(annotated_hw)[::-1]
            and orientation in EXIF_TRANSPOSING)


@TRANSFORMS.register_module()
class LoadImageAsAnnotated(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` with PoseSOR's EXIF rule.

    The stored pixels are read as ``color_type`` says (the configs use
    ``'color_ignore_orientation'``, like the reference, which reads images
    with PIL and no EXIF transposition: annotations of COCO-derived
    datasets refer to the stored pixels). Only when an item's annotated
    ``height`` x ``width`` is the stored size swapped *and* the file's EXIF
    orientation swaps them (a phone photo annotated as displayed) is the
    image read EXIF-oriented; this is logged for the first such image of a
    process (``tools/misc/check_sor_dataset.py`` counts all of them) and
    the item gets ``exif_orientation``. Any other mismatch is left to
    :class:`LoadSORAnnotations`, which names it. The configs' training
    pipelines use it; their test pipelines keep ``LoadImageFromFile``, the
    name mmdet's ``DetInferencer`` looks for.

    Args:
        **kwargs: :class:`mmcv.transforms.LoadImageFromFile` arguments.
    """

    _reported = False  # the first EXIF-oriented image of this process

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image (EXIF-oriented only when its annotation is).

        Args:
            results (dict): An item with ``img_path`` and, for dataset
                items, ``height`` and ``width``.

        Returns:
            dict | None: ``results`` with ``img``, ``img_shape`` and
            ``ori_shape`` (None when ``ignore_empty`` skips the file).
        """
        results = super().transform(results)
        if results is None or 'height' not in results:
            return results
        annotated = (results['height'], results['width'])
        stored = results['img'].shape[:2]
        if tuple(stored) == annotated or tuple(stored) != annotated[::-1]:
            return results
        img_bytes = fileio.get(
            results['img_path'], backend_args=self.backend_args)
        orientation = exif_orientation(img_bytes)
        if not exif_explains_size(stored, annotated, orientation):
            return results
        flag = self.color_type
        if flag.endswith(IGNORE_ORIENTATION_SUFFIX):
            flag = flag[:-len(IGNORE_ORIENTATION_SUFFIX)]
        img = mmcv.imfrombytes(
            img_bytes, flag=flag, backend=self.imdecode_backend)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = results['ori_shape'] = img.shape[:2]
        results['exif_orientation'] = orientation
        if not LoadImageAsAnnotated._reported:
            LoadImageAsAnnotated._reported = True
            print_log(
                f'image {results["img_path"]!r} (image id '
                f'{results.get("img_id")!r}) is stored {stored[1]}x'
                f'{stored[0]} with EXIF orientation {orientation} and '
                f'annotated as displayed ({annotated[1]}x{annotated[0]}, '
                f'width x height): read EXIF-oriented (logged once; '
                f'tools/misc/check_sor_dataset.py counts every such image)',
                logger='current',
                level=30)
        return results


@TRANSFORMS.register_module()
class LoadSORAnnotations(BaseTransform):
    """Load the instances of a :class:`~posesor.datasets.SORDataset` item.

    Required keys: ``instances`` (sorted by rank), ``height``, ``width``;
    ``img_id``, ``img_path`` and ``ori_shape`` are used for checks and
    messages when present. An item without ``instances`` (an image given
    to mmdet's ``inference_detector`` or ``DetInferencer``, which has no
    annotation) passes through unchanged.

    Added keys (``n`` instances, kept in rank order):

    - ``gt_bboxes`` (HorizontalBoxes): (n, 4) float32 xyxy pixels.
    - ``gt_bboxes_labels`` (np.ndarray): (n,) int64 zeros.
    - ``gt_ignore_flags`` (np.ndarray): (n,) bool, all False.
    - ``gt_masks`` (BitmapMasks): (n, height, width) binary masks decoded
      from polygons or RLE at the annotated image size.
    - ``gt_ranks`` (np.ndarray): (n,) int64, 1 = most salient.
    - ``gt_class_ids`` (np.ndarray): (n,) int64 COCO class (1 = person).
    - ``gt_keypoints`` (np.ndarray): (n, 17, 2) float32 pixels.
    - ``gt_keypoints_visible`` (np.ndarray): (n, 17) float32, 1 where the
      COCO visibility flag is > 0 (labelled, visible or occluded), as the
      reference's ``v > 0.5`` joint label.
    - ``gt_keypoints_labelled`` (np.ndarray): (n,) bool, False for a person
      without keypoints (instance key ``keypoints_labelled``, default True).

    Args:
        with_mask (bool): Decode masks. Defaults to True.
        polygon_backend (str): ``'cv2'`` (default, faithful: the
            reference fills all polygons of an annotation at once with
            ``cv2.fillPoly``, even-odd, on rounded vertices; the same default
            as ``SORMetric``) or ``'pycocotools'`` (the COCO rasteriser; masks
            differ by boundary pixels). RLE input is unaffected. See
            :func:`posesor.datasets.sor_parsing.decode_segmentation`.
    """

    def __init__(self,
                 with_mask: bool = True,
                 polygon_backend: str = 'cv2') -> None:
        if polygon_backend not in ('pycocotools', 'cv2'):
            raise ValueError(
                f'polygon_backend must be "pycocotools" or "cv2", got '
                f'{polygon_backend!r}')
        self.with_mask = with_mask
        self.polygon_backend = polygon_backend

    def transform(self, results: dict) -> Optional[dict]:
        """Decode the annotations of one image.

        Args:
            results (dict): Result dict from the dataset and the previous
                transforms.

        Returns:
            dict: ``results`` with the ``gt_*`` keys added.
        """
        if 'instances' not in results:
            return results  # inference input: nothing to load
        instances = results['instances']
        height, width = results['height'], results['width']
        ori_shape = results.get('ori_shape')
        if ori_shape is not None and tuple(ori_shape[:2]) != (height, width):
            raise SORAnnotationError(
                f'image {results.get("img_path")!r} (image id '
                f'{results.get("img_id")!r}) has size {tuple(ori_shape[:2])}'
                f' but its annotation says {(height, width)} (height, '
                f'width){_exif_hint(results, (height, width))}')
        n = len(instances)
        bboxes = np.zeros((n, 4), dtype=np.float32)
        ranks = np.zeros((n, ), dtype=np.int64)
        class_ids = np.zeros((n, ), dtype=np.int64)
        keypoints = np.zeros((n, NUM_KEYPOINTS, 2), dtype=np.float32)
        visible = np.zeros((n, NUM_KEYPOINTS), dtype=np.float32)
        labelled = np.array(
            [inst.get('keypoints_labelled', True) for inst in instances],
            dtype=bool)
        masks = []
        for i, inst in enumerate(instances):
            bboxes[i] = inst['bbox']
            ranks[i] = inst['rank']
            class_ids[i] = inst.get('class_id', 0)
            kpts = np.asarray(
                inst['keypoints'], dtype=np.float32).reshape(NUM_KEYPOINTS, 3)
            keypoints[i] = kpts[:, :2]
            visible[i] = (kpts[:, 2] > 0).astype(np.float32)
            if self.with_mask:
                masks.append(
                    decode_segmentation(inst['mask'], height, width,
                                        self.polygon_backend))
        results['gt_bboxes'] = HorizontalBoxes(bboxes, dtype=torch.float32)
        results['gt_bboxes_labels'] = np.zeros((n, ), dtype=np.int64)
        results['gt_ignore_flags'] = np.zeros((n, ), dtype=bool)
        results['gt_ranks'] = ranks
        results['gt_class_ids'] = class_ids
        results['gt_keypoints'] = keypoints
        results['gt_keypoints_visible'] = visible
        results['gt_keypoints_labelled'] = labelled
        if self.with_mask:
            mask_arr = np.stack(masks) if masks else np.zeros(
                (0, height, width), dtype=np.uint8)
            results['gt_masks'] = BitmapMasks(mask_arr, height, width)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(with_mask={self.with_mask}, '
                f'polygon_backend={self.polygon_backend!r})')


def _exif_hint(results: dict, annotated: Tuple[int, int]) -> str:
    """What a size mismatch has to do with EXIF, when the swapped size
    matches (else nothing)."""
    stored = tuple(results['ori_shape'][:2])
    if stored != tuple(annotated)[::-1] or 'img_path' not in results:
        return ''
    try:
        orientation = exif_orientation(results['img_path'])
    except OSError:
        return ''
    if orientation in EXIF_TRANSPOSING:
        return (f'; the file has EXIF orientation {orientation}, which '
                f'swaps width and height, so the annotation is for the other '
                f'orientation: LoadImageAsAnnotated with color_type='
                f'\'color_ignore_orientation\' reads each image in the '
                f'orientation its annotation is for')
    return (f'; the annotation is the image rotated by 90 degrees but the '
            f'file has no EXIF orientation that rotates it (orientation '
            f'{orientation})')
