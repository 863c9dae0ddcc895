# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Decode and validate every image and annotation of a config's datasets.

Examples::

    python tools/misc/check_sor_dataset.py configs/posesor_swinl_assr.py
    python tools/misc/check_sor_dataset.py CONFIG --splits train \\
        --data-root data/assr/ --out report.json

Run it once before a long training (or pass ``--check-data`` to
``tools/train.py``): a truncated or undecodable image, an image whose size
differs from its annotation or a mask that cannot be decoded would
otherwise stop training only when the pipeline reaches it. Prints a report
per dataset (images, instances, repairs of the annotation file, images
read EXIF-rotated, every unusable image with its id) and exits with 1 when
an image cannot be used.
"""
import argparse
import json
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import posesor  # noqa: E402,F401  (registers modules)
from posesor.datasets import DatasetReport, check_config  # noqa: E402
from posesor.datasets.sor_parsing import SORAnnotationError  # noqa: E402
from posesor.utils import config as config_utils  # noqa: E402

SPLITS = ('train', 'val', 'test')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``check_sor_dataset.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Decode and validate every image and annotation')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--splits',
        nargs='+',
        choices=SPLITS,
        default=list(SPLITS),
        help='dataloaders whose datasets are checked (default: all)')
    parser.add_argument(
        '--data-root', help='dataset root (as in train.py/test.py)')
    parser.add_argument('--out', help='also write the reports to this JSON')
    parser.add_argument(
        '--no-progress', action='store_true', help='no progress bar')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=config_utils.CfgOptionsAction,
        help='override settings of the config, as key=value pairs')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> List[DatasetReport]:
    """Entry point of ``check_sor_dataset.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        list[DatasetReport]: The reports.
    """
    args = parse_args(argv)
    cfg = config_utils.apply_cli_options(
        config_utils.load_config(args.config), args.cfg_options,
        args.data_root)
    reports = check_config(cfg, args.splits, progress=not args.no_progress)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump([r.to_dict() for r in reports], f, indent=1)
    return reports


if __name__ == '__main__':
    try:
        found = main()
    except (config_utils.ConfigError, FileNotFoundError,
            SORAnnotationError) as err:
        sys.exit(f'error: {err}')
    bad = sum(len(r.problems) for r in found)
    if bad:
        sys.exit(f'error: {bad} image(s) cannot be used (see above)')
