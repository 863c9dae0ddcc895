# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Dataset for PoseSOR's COCO-style salient object ranking annotations."""
import os.path as osp
from typing import Any, List

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS
from mmengine import fileio
from mmengine.logging import print_log

from .sor_parsing import (MAX_IDS_IN_WARNING, PERSON_CLASS_ID, RANK_KEYS,
                          SORAnnotationError, SORRepairs, bbox_xyxy, get_rank,
                          keypoints_array, load_sor_gt, segmentation_area,
                          unique_image_names)


@DATASETS.register_module()
class SORDataset(BaseDetDataset):
    """Salient object ranking dataset (ASSR / IRSR with PoseSOR's keypoints,
    and the synthetic dataset).

    Layout (relative to ``data_root``)::

        {name}_{split}.json            # ann_file
        images/{split}/*.jpg           # data_prefix=dict(img=...)

    Each data info holds ``img_path``, ``img_id``, ``img_name`` (file base
    name without extension, the key of the reference's result dumps; the
    relative path without extension where base names collide),
    ``height``, ``width`` and ``instances`` sorted by rank (most salient
    first; the JSON order is not trusted; ties are ordered by annotation
    id with a warning). Each instance has ``bbox`` (xyxy, original pixels;
    from the JSON ``bbox`` or from the mask when absent), ``bbox_label``
    (0, class-agnostic), ``ignore_flag`` (0), ``mask`` (the raw polygons or
    RLE), ``rank`` (the value of ``rank_key``), ``class_id`` (COCO class,
    1 = person, 0 when missing), ``keypoints`` ((17, 3) float32
    ``[x, y, v]``), ``keypoints_labelled`` (False only for a person without
    keypoints, whose pose losses a head may ignore) and ``ann_id``.

    What real annotation files contain is repaired on load and counted in
    one warning per file (:class:`~posesor.datasets.sor_parsing.SORRepairs`,
    kept in :attr:`repairs`): a UTF-8 byte-order mark, boxes a few pixels
    past the border (clamped), polygon parts with fewer than 3 points
    (dropped), ``"keypoints": []`` (absent); persons without keypoints are
    counted.

    Unranked objects (``rank_key`` missing, ``None`` or 0) are dropped by
    default: they are not salient targets and the SOR metrics ignore them.
    With ``keep_unranked=True`` they are kept after the ranked objects with
    rank 0, which is what the reference's loader does (it keeps every
    annotation and trains rank class 0 for them).

    Annotations whose mask is empty (zero area) are dropped with a warning
    and counted in :attr:`num_empty_masks`. In training mode, with
    ``filter_cfg=dict(filter_empty_gt=True)``, images left without
    instances are removed and counted in :attr:`num_filtered_images` (an
    error, saying why, if none is left); in test mode every image is kept.

    Every file (the annotation JSON and the image existence checks) is
    read through :mod:`mmengine.fileio` with ``backend_args``, like the
    image loader. An error raised while an item goes through the pipeline
    carries a note naming its image file, image id and annotation file.

    Args:
        rank_key (str): ``'category_id'`` (default, what the reference
            trains and tests on) or ``'visiting_order'``.
        keep_unranked (bool): Keep rank-0 objects. Defaults to False.
        check_image_files (bool): Check at load time that every image file
            exists and, for local files, is not empty (an error names the
            file and image id). Defaults to True.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments
            (``ann_file``, ``data_root``, ``data_prefix=dict(img=...)``,
            ``filter_cfg``, ``pipeline``, ``test_mode`` ...).
    """

    METAINFO = dict(classes=('salient_object', ), palette=[(220, 20, 60)])

    def __init__(self,
                 *args,
                 rank_key: str = 'category_id',
                 keep_unranked: bool = False,
                 check_image_files: bool = True,
                 **kwargs) -> None:
        if rank_key not in RANK_KEYS:
            raise ValueError(
                f'rank_key must be one of {RANK_KEYS}, got {rank_key!r}')
        self.rank_key = rank_key
        self.keep_unranked = keep_unranked
        self.check_image_files = check_image_files
        self.num_empty_masks = 0
        self.num_unranked = 0
        self.num_filtered_images = 0
        self.repairs = SORRepairs()
        # image id -> why it has no instance (see _nothing_to_train_message)
        self._empty_reasons: dict = {}
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse the annotation file into data infos.

        Returns:
            list[dict]: One data info per image, in the file's image order.

        Raises:
            SORAnnotationError: For malformed annotations or a missing
                image file (the message names file and ids).
        """
        ann_file = self.ann_file
        self.repairs = SORRepairs()
        groups = load_sor_gt(
            ann_file,
            rank_key=self.rank_key,
            keep_unranked=self.keep_unranked,
            warn=True,
            backend_args=self.backend_args,
            repairs=self.repairs)
        img_dir = self.data_prefix.get('img', '')
        # the backend LoadImageFromFile infers from the same prefix and args
        backend = fileio.get_file_backend(
            img_dir, backend_args=self.backend_args)
        data_list = []
        empty_ids = []
        self.num_unranked = 0
        self._empty_reasons = {}
        names = unique_image_names(
            [group['image']['file_name'] for group in groups.values()])
        for (img_id, group), name in zip(groups.items(), names):
            img = group['image']
            self.num_unranked += group['num_unranked']
            img_path = osp.join(img_dir, img['file_name'])
            if self.check_image_files:
                self._check_image_file(backend, img_path, img_id)
            height, width = img['height'], img['width']
            instances = []
            num_empty = 0
            for ann in group['annotations']:
                if segmentation_area(ann['segmentation'], height, width) == 0:
                    empty_ids.append(ann['id'])
                    num_empty += 1
                    continue
                instances.append(
                    dict(
                        bbox=bbox_xyxy(ann, height, width).tolist(),
                        bbox_label=0,
                        ignore_flag=0,
                        mask=ann['segmentation'],
                        rank=get_rank(ann, self.rank_key, ann_file),
                        class_id=int(ann.get('class_id') or 0),
                        keypoints=keypoints_array(ann),
                        keypoints_labelled=_keypoints_labelled(ann),
                        ann_id=ann['id']))
            if not instances:
                self._empty_reasons[img_id] = (
                    'empty masks' if num_empty else 'unranked objects only'
                    if group['num_unranked'] else 'no annotation')
            data_list.append(
                dict(
                    img_path=img_path,
                    img_id=img_id,
                    img_name=name,
                    height=height,
                    width=width,
                    instances=instances))
        self.num_empty_masks = len(empty_ids)
        if empty_ids:
            shown = ', '.join(repr(i) for i in empty_ids[:MAX_IDS_IN_WARNING])
            print_log(
                f'{ann_file}: dropped {len(empty_ids)} annotation(s) with an '
                f'empty mask (annotation ids {shown}'
                f'{", ..." if len(empty_ids) > MAX_IDS_IN_WARNING else ""})',
                logger='current',
                level=30)
        return data_list

    def _check_image_file(self, backend: fileio.BaseStorageBackend,
                          img_path: str, img_id: Any) -> None:
        """Refuse a missing or (local) 0-byte image file at load time."""
        if not hasattr(backend, 'isfile'):
            return  # e.g. HTTP: only the pipeline's read can tell
        where = (f'image file {img_path!r} of image id {img_id!r} '
                 f'(annotation file {self.ann_file!r})')
        if not backend.isfile(img_path):
            raise SORAnnotationError(f'{where} does not exist')
        # only a local file's size is known without reading it
        if isinstance(backend,
                      fileio.LocalBackend) and osp.getsize(img_path) == 0:
            raise SORAnnotationError(f'{where} is empty (0 bytes)')

    def prepare_data(self, idx: int) -> Any:
        """Run the pipeline on one item; an error gets a note naming the
        item's image file, image id and annotation file (decoders such as
        OpenCV's name none of them).

        Args:
            idx (int): Data index.

        Returns:
            Any: The pipeline's output.
        """
        data_info = self.get_data_info(idx)
        try:
            return self.pipeline(data_info)
        except Exception as e:
            e.add_note(f'while preparing image file '
                       f'{data_info.get("img_path")!r} of image id '
                       f'{data_info.get("img_id")!r} (annotation file '
                       f'{self.ann_file!r})')
            raise

    def filter_data(self) -> List[dict]:
        """Drop images without instances in training mode when
        ``filter_cfg['filter_empty_gt']`` is set; keep all for testing.

        Returns:
            list[dict]: The kept data infos.
        """
        if self.test_mode or not self.filter_cfg or not self.filter_cfg.get(
                'filter_empty_gt', False):
            self.num_filtered_images = 0
            return self.data_list
        kept = [info for info in self.data_list if info['instances']]
        self.num_filtered_images = len(self.data_list) - len(kept)
        if not kept:
            raise SORAnnotationError(self._nothing_to_train_message())
        print_log(
            f'{self.ann_file}: {self.num_filtered_images} image(s) without '
            f'annotations filtered out for training, {len(kept)} kept',
            logger='current')
        return kept

    def _nothing_to_train_message(self) -> str:
        if not self.data_list:
            return (f'annotation file {self.ann_file!r} lists no image: '
                    f'nothing to train on')
        reasons = getattr(self, '_empty_reasons', {})
        counts = {}
        for reason in reasons.values():
            counts[reason] = counts.get(reason, 0) + 1
        why = ', '.join(f'{n} with {reason}'
                        for reason, n in sorted(counts.items()))
        hint = ''
        if counts.get('unranked objects only'):
            hint = (f'; unranked objects ({self.rank_key!r} missing, null '
                    f'or 0) are dropped unless keep_unranked=True')
        return (f'annotation file {self.ann_file!r}: all '
                f'{len(self.data_list)} image(s) were dropped for training '
                f'because none has an instance ({why}){hint}; nothing to '
                f'train on')

    def get_cat_ids(self, idx: int) -> List[int]:
        """Class-agnostic: every instance has label 0.

        Args:
            idx (int): Data index.

        Returns:
            list[int]: ``[0] * num_instances``.
        """
        return [0] * len(self.get_data_info(idx)['instances'])


def _keypoints_labelled(ann: dict) -> bool:
    """Whether an annotation's pose is known: a non-person's is (no joint
    visible), a person's only when it has keypoints."""
    return 'keypoints' in ann or ann.get('class_id') != PERSON_CLASS_ID
