# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Run PoseSOR on images and write overlays and JSON predictions.

Examples::

    python tools/image_demo.py demo/ CONFIG CHECKPOINT --out-dir outputs
    python tools/image_demo.py img.jpg CONFIG CHECKPOINT --out-dir outputs \\
        --pose-config rtmpose.py --pose-checkpoint rtmpose.pth

For each readable image ``NAME.ext`` the output folder gets ``NAME.png``
(masks coloured by rank, rank numbers, skeletons) and ``NAME.json``::

    {"img_path": ..., "height": H, "width": W,
     "ranks": [1, 2, ...], "rank_scores": [...], "scores": [...],
     "bboxes": [[x1, y1, x2, y2], ...],
     "keypoints": [[[x, y] * 17], ...], "keypoint_scores": [[...17], ...],
     "keypoint_source": ["posesor" | "mmpose", ...],
     "masks": [{"size": [H, W], "counts": "<COCO RLE>"}, ...],
     "pose_source": "predicted" | "external"}

``--pose-source external`` (with ``--pose-config``) ranks from the mmpose
poses (the ranking is computed again from them); ``pose_source`` says which
poses ranked the image.

instances most salient first. Inputs whose names collide (``a.jpg`` and
``a.png``, or one name in two folders) get distinct outputs (``a_jpg``,
``a_png``; then the input index), reported in a warning. Unreadable inputs
are reported by name and skipped; the number skipped is printed at the end
(exit code 0). Weights that do not fit the model are an error listing them
(``--allow-partial`` runs anyway, with a warning).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from posesor.apis import SORInferencer  # noqa: E402
from posesor.datasets.sor_parsing import NUM_KEYPOINTS  # noqa: E402
from posesor.utils import checkpoint as ckpt_utils  # noqa: E402
from posesor.utils import config as config_utils  # noqa: E402

#: Errors reported as one line (no traceback) when run as a script.
USER_ERRORS = (config_utils.ConfigError, FileNotFoundError,
               ckpt_utils.CheckpointReadError,
               ckpt_utils.UnsafeCheckpointError,
               ckpt_utils.PartialCheckpointError)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``tools/image_demo.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='PoseSOR image demo: overlays and JSON predictions')
    parser.add_argument(
        'inputs', nargs='+', help='image file(s) or a folder of images')
    parser.add_argument('config', help='PoseSOR config file')
    parser.add_argument('checkpoint', help='PoseSOR checkpoint (local)')
    parser.add_argument(
        '--out-dir', required=True, help='output folder (PNG + JSON)')
    parser.add_argument(
        '--device', default=None, help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--batch-size',
        type=config_utils.positive_int,
        default=1,
        help='images per forward (>= 1)')
    parser.add_argument(
        '--pose-config',
        help='mmpose top-down config: person keypoints from this model')
    parser.add_argument(
        '--pose-checkpoint', help='checkpoint of --pose-config (local)')
    parser.add_argument(
        '--pose-source',
        choices=('predicted', 'external'),
        help='poses PDR ranks from: PAI\'s (predicted) or the '
        '--pose-config model\'s (external: ranked again from them); '
        'default: the config\'s model.rank_head.test_pose_source')
    parser.add_argument(
        '--pose-keypoint-thr',
        type=config_utils.unit_float,
        default=0.3,
        help='with --pose-source external: mmpose joints scored >= this '
        'are visible to the ranking (in [0, 1])')
    parser.add_argument(
        '--pose-visible-thr',
        type=config_utils.unit_float,
        default=0.5,
        help='person rule: a PoseSOR keypoint score >= this is visible '
        '(in [0, 1])')
    parser.add_argument(
        '--pose-min-keypoints',
        type=config_utils.int_in_range(1, NUM_KEYPOINTS),
        default=1,
        help='person rule: visible keypoints an instance needs to be a '
        f'person (1 to {NUM_KEYPOINTS})')
    parser.add_argument(
        '--no-overlay', action='store_true', help='write only the JSON')
    parser.add_argument(
        '--allow-partial',
        action='store_true',
        help='run even if the checkpoint\'s weights do not cover or fit '
        'the model (default: an error listing them)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=config_utils.CfgOptionsAction,
        help='override settings of the config, as key=value pairs')
    args = parser.parse_args(argv)
    if args.pose_checkpoint and not args.pose_config:
        parser.error('--pose-checkpoint needs --pose-config')
    if args.pose_source == 'external' and not args.pose_config:
        parser.error('--pose-source external needs --pose-config')
    return args


def main(argv: Optional[List[str]] = None) -> dict:
    """Entry point of ``tools/image_demo.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        dict: The inferencer's results (``predictions``, ``failed``).
    """
    args = parse_args(argv)
    pose_estimator = None
    if args.pose_config:
        pose_estimator = dict(
            config=args.pose_config,
            checkpoint=args.pose_checkpoint,
            visible_thr=args.pose_visible_thr,
            min_visible_keypoints=args.pose_min_keypoints,
            keypoint_thr=args.pose_keypoint_thr)
    inferencer = SORInferencer(
        args.config,
        args.checkpoint,
        device=args.device,
        pose_estimator=pose_estimator,
        pose_source=args.pose_source,
        cfg_options=args.cfg_options,
        allow_partial=args.allow_partial)
    inputs = args.inputs[0] if len(args.inputs) == 1 else args.inputs
    results = inferencer(
        inputs,
        batch_size=args.batch_size,
        out_dir=args.out_dir,
        draw=not args.no_overlay)
    done = len(results['predictions'])
    failed = results['failed']
    print(f'\nwrote {done} prediction(s) to {args.out_dir}; '
          f'skipped {len(failed)} unreadable input(s)' +
          (': ' + ', '.join(name for name, _ in failed) if failed else ''))
    return results


if __name__ == '__main__':
    try:
        main()
    except USER_ERRORS as err:
        sys.exit(f'error: {err}')
