# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Print (or save) the full config after ``_base_`` merging and overrides.

Examples::

    python tools/misc/print_config.py configs/posesor_swinl_assr.py
    python tools/misc/print_config.py CONFIG --data-root data/other/ \\
        --cfg-options train_cfg.max_iters=2 --save-path full_config.py

The options mean what they mean for ``tools/train.py`` and
``tools/test.py``, so this shows the config those tools would run.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import posesor  # noqa: E402,F401  (registers modules)
from posesor.utils import config as config_utils  # noqa: E402


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``print_config.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(description='Print the full config')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--data-root',
        help='dataset root for every dataloader and evaluator (as in '
        'train.py/test.py)')
    parser.add_argument(
        '--save-path', help='also write the config to this .py file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=config_utils.CfgOptionsAction,
        help='override settings of the config, as key=value pairs')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> str:
    """Entry point of ``print_config.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        str: The printed config text.
    """
    args = parse_args(argv)
    cfg = config_utils.load_config(args.config)
    config_utils.check_cfg_options(
        cfg, args.cfg_options, hints=dict(data_root='use --data-root'))
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.data_root is not None:
        config_utils.set_data_root(cfg, args.data_root)
    text = cfg.pretty_text
    print(f'Config:\n{text}')
    if args.save_path is not None:
        if not args.save_path.endswith('.py'):
            raise config_utils.ConfigError(
                f'--save-path must end with .py, got {args.save_path}')
        cfg.dump(args.save_path)
        print(f'Config saved to {args.save_path}')
    return text


if __name__ == '__main__':
    try:
        main()
    except (config_utils.ConfigError, FileNotFoundError) as err:
        sys.exit(f'error: {err}')
