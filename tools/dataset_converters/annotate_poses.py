# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Fill missing COCO-17 keypoints of persons with an mmpose model.

PoseSOR trains with person keypoints. To train it on your own SOR data,
annotate the persons' poses with a top-down mmpose model run on their boxes::

    python tools/dataset_converters/annotate_poses.py \\
        data/mysor/mysor_train.json data/mysor/images/train \\
        --pose-config rtmpose-m_8xb256-420e_coco-256x192.py \\
        --pose-checkpoint rtmpose-m.pth \\
        --out data/mysor/mysor_train_pose.json

Which annotations are filled
    Persons (``class_id == 1``) whose ``keypoints`` are absent, ``null`` or
    an empty list; with ``--include-unlabeled`` also persons whose 51
    keypoint values are all zero (COCO's "no keypoint labelled"). Persons
    that already have keypoints are left alone.

What is written
    ``keypoints`` = 17 x ``[x, y, v]`` in original-image pixels, ``v = 2``
    where the mmpose score is ``>= --kpt-thr`` and ``[0, 0, 0]`` otherwise
    (COCO convention), and ``num_keypoints`` = the number of ``v > 0``.
    Every other field of every image and annotation is kept unchanged.

Boxes come from ``bbox`` (xywh) or, when absent, from the segmentation.
Persons with a box smaller than one pixel, and persons of images that are
missing or cannot be decoded, are skipped and reported by image file name
and annotation id. The input file is never overwritten: ``--out`` must be a
different file; it is written atomically.
"""
import argparse
import json
import os
import os.path as osp
import sys
from collections import defaultdict
from typing import Dict, List, Optional

import mmcv
import numpy as np
from mmengine.utils import ProgressBar

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from posesor.apis import TopdownPoseRefiner  # noqa: E402
from posesor.datasets.sor_parsing import bbox_xyxy  # noqa: E402

PERSON_CLASS_ID = 1
NUM_KEYPOINTS = 17
#: COCO visibility flag written for keypoints the model is confident about.
VISIBLE = 2
#: Decimals kept for keypoint coordinates.
COORD_DECIMALS = 2
#: Boxes smaller than this (pixels) are skipped.
MIN_BOX_SIZE = 1.0


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``annotate_poses.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Fill missing COCO-17 person keypoints of a SOR '
        'annotation file with an mmpose top-down model')
    parser.add_argument('ann_file', help='input SOR annotation JSON')
    parser.add_argument('img_dir', help='folder of the images')
    parser.add_argument(
        '--pose-config', required=True, help='mmpose top-down config')
    parser.add_argument(
        '--pose-checkpoint',
        required=True,
        help='checkpoint of --pose-config (local path)')
    parser.add_argument(
        '--out', required=True, help='output annotation JSON (new file)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--kpt-thr',
        type=float,
        default=0.3,
        help='keypoints with a score below this are written as not '
        'labelled [0, 0, 0]')
    parser.add_argument(
        '--include-unlabeled',
        action='store_true',
        help='also fill persons whose keypoints are all zero')
    return parser.parse_args(argv)


def needs_keypoints(ann: dict, include_unlabeled: bool) -> bool:
    """Whether an annotation is a person whose keypoints should be filled.

    Args:
        ann (dict): One COCO-style annotation.
        include_unlabeled (bool): Also fill all-zero keypoints.

    Returns:
        bool: True for a person (``class_id == 1``) lacking keypoints.
    """
    if ann.get('class_id') != PERSON_CLASS_ID:
        return False
    kpts = ann.get('keypoints')
    if kpts is None or len(kpts) == 0:
        return True
    if len(kpts) != NUM_KEYPOINTS * 3:
        raise ValueError(
            f'annotation id {ann.get("id")}: keypoints must be 51 numbers '
            f'(17 x [x, y, v]), got {len(kpts)}')
    return include_unlabeled and not any(kpts)


def to_coco_keypoints(keypoints: np.ndarray, scores: np.ndarray,
                      kpt_thr: float) -> List[float]:
    """Encode one pose as a flat COCO keypoint list.

    Args:
        keypoints (np.ndarray): (17, 2) pixels.
        scores (np.ndarray): (17, ) confidences.
        kpt_thr (float): Minimal score of a labelled keypoint.

    Returns:
        list[float]: 51 numbers, ``[x, y, v] * 17``.
    """
    flat: List[float] = []
    for (x, y), score in zip(keypoints.tolist(), scores.tolist()):
        if score >= kpt_thr:
            flat += [
                round(float(x), COORD_DECIMALS),
                round(float(y), COORD_DECIMALS), VISIBLE
            ]
        else:
            flat += [0, 0, 0]
    return flat


def annotate(data: dict,
             img_dir: str,
             refiner: TopdownPoseRefiner,
             kpt_thr: float = 0.3,
             include_unlabeled: bool = False,
             show_progress: bool = True) -> Dict[str, object]:
    """Fill missing person keypoints of a loaded annotation dict in place.

    Args:
        data (dict): COCO-style dict with ``images`` and ``annotations``.
        img_dir (str): Folder of the images.
        refiner (TopdownPoseRefiner): Wrapper of the mmpose model.
        kpt_thr (float): Minimal score of a labelled keypoint.
        include_unlabeled (bool): Also fill all-zero keypoints.
        show_progress (bool): Show a progress bar.

    Returns:
        dict: ``annotated`` (int), ``skipped`` (list of
        ``(file_name, annotation id, reason)``), ``kept`` (persons that
        already had keypoints), ``images`` (images processed).
    """
    for key in ('images', 'annotations'):
        if key not in data:
            raise KeyError(f'annotation file has no `{key}` list')
    images = {img['id']: img for img in data['images']}
    todo: Dict[object, List[dict]] = defaultdict(list)
    kept = 0
    for ann in data['annotations']:
        if needs_keypoints(ann, include_unlabeled):
            if ann.get('image_id') not in images:
                raise KeyError(f'annotation id {ann.get("id")}: unknown '
                               f'image_id {ann.get("image_id")}')
            todo[ann['image_id']].append(ann)
        elif ann.get('class_id') == PERSON_CLASS_ID:
            kept += 1

    annotated = 0
    skipped = []
    progress = ProgressBar(len(todo)) if show_progress and todo else None
    for image_id, anns in todo.items():
        info = images[image_id]
        name = info.get('file_name', str(image_id))
        img = None
        path = osp.join(img_dir, name)
        if osp.isfile(path):
            # the annotations refer to the stored pixels (no EXIF rotation)
            img = mmcv.imread(path, flag='color_ignore_orientation')
        expected = (info.get('height'), info.get('width'))
        if img is None:
            reason = 'image missing or unreadable: ' + path
            skipped += [(name, ann.get('id'), reason) for ann in anns]
        elif None not in expected and img.shape[:2] != tuple(expected):
            reason = (f'image id {image_id}: {path} is {img.shape[1]}x'
                      f'{img.shape[0]} but the annotation file says '
                      f'{expected[1]}x{expected[0]}')
            skipped += [(name, ann.get('id'), reason) for ann in anns]
        else:
            height, width = img.shape[:2]
            boxes, valid = [], []
            for ann in anns:
                box = bbox_xyxy(ann, height, width)
                if min(box[2] - box[0], box[3] - box[1]) < MIN_BOX_SIZE:
                    skipped.append((name, ann.get('id'), f'box {box}'))
                    continue
                boxes.append(box)
                valid.append(ann)
            if valid:
                keypoints, scores = refiner.estimate(img, np.stack(boxes))
                for ann, kpts, kpt_scores in zip(valid, keypoints, scores):
                    flat = to_coco_keypoints(kpts, kpt_scores, kpt_thr)
                    ann['keypoints'] = flat
                    ann['num_keypoints'] = int(sum(v > 0 for v in flat[2::3]))
                    annotated += 1
        if progress is not None:
            progress.update()
    return dict(
        annotated=annotated, skipped=skipped, kept=kept, images=len(todo))


def read_json(path: str) -> dict:
    """Read an annotation file; malformed JSON is an error naming it.

    Args:
        path (str): The JSON file.

    Returns:
        dict: Its content (a JSON object).

    Raises:
        ValueError: If the file is not valid UTF-8 JSON or not an object.
    """
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(
            f'annotation file {path!r} is not valid JSON: {e}') from e
    if not isinstance(data, dict):
        raise ValueError(f'annotation file {path!r} must hold a JSON object, '
                         f'got {type(data).__name__}')
    return data


def main(argv: Optional[List[str]] = None) -> Dict[str, object]:
    """Entry point of ``annotate_poses.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        dict: Statistics, see :func:`annotate`.
    """
    args = parse_args(argv)
    if not osp.isfile(args.ann_file):
        raise FileNotFoundError(f'annotation file not found: {args.ann_file}')
    if osp.exists(args.out) and osp.samefile(args.out, args.ann_file):
        raise ValueError(f'--out {args.out} is the input file; refusing to '
                         'overwrite the input annotations')
    data = read_json(args.ann_file)
    refiner = TopdownPoseRefiner(
        args.pose_config, args.pose_checkpoint, device=args.device)
    stats = annotate(data, args.img_dir, refiner, args.kpt_thr,
                     args.include_unlabeled)

    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    tmp = osp.join(out_dir, f'.{osp.basename(args.out)}.tmp')
    with open(tmp, 'w') as f:
        json.dump(data, f)
    os.replace(tmp, args.out)

    print(f'\nannotated {stats["annotated"]} person(s) in {stats["images"]} '
          f'image(s); skipped {len(stats["skipped"])}; '
          f'{stats["kept"]} person(s) already had keypoints; '
          f'wrote {args.out}')
    for name, ann_id, reason in stats['skipped']:
        print(f'  skipped annotation id {ann_id} ({name}): {reason}')
    return stats


if __name__ == '__main__':
    main()
