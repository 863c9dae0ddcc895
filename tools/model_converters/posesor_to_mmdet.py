# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Convert a released PoseSOR checkpoint (detectron2) to this project.

Example::

    python tools/model_converters/posesor_to_mmdet.py \\
        posesor_assr_768x768/checkpoint.pth \\
        checkpoints/posesor_swinl_assr_768.pth \\
        --config configs/posesor_swinl_assr.py

Every tensor of the source ``{"model": state_dict}`` is mapped (none may be
left over) and the result must equal the state dict of the model that
``--config`` builds (keys and shapes; the model is built on the ``meta``
device, so no memory is used). The output ``{"state_dict": ...}`` loads with
``load_checkpoint(..., strict=True)`` or ``tools/test.py``.
"""
import argparse
import os
import sys

import torch

from posesor.utils.checkpoint import UnsafeCheckpointError
from posesor.utils.ckpt_convert import (CheckpointConversionError,
                                        convert_posesor, extract_model_state,
                                        load_torch_file, model_state_shapes)

DEFAULT_CONFIG = 'configs/posesor_swinl_assr.py'


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Convert a released PoseSOR (detectron2) checkpoint to '
        'this project\'s PoseSOR state dict.')
    parser.add_argument('src', help='released checkpoint ({"model": ...})')
    parser.add_argument('dst', help='output file ({"state_dict": ...})')
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help=f'config of the target model (default: {DEFAULT_CONFIG})')
    parser.add_argument(
        '--no-check',
        action='store_true',
        help='skip the comparison with the model built from --config')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    """Run the conversion; returns the process exit code."""
    args = parse_args(argv)
    state = extract_model_state(load_torch_file(args.src), args.src)
    expected = None
    if not args.no_check:
        from mmengine.config import Config

        import posesor  # noqa: F401  (registers the modules)
        cfg = Config.fromfile(args.config)
        expected = model_state_shapes(cfg.model)
    converted = convert_posesor(state, expected=expected, source=args.src)
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': converted}, args.dst)
    print(f'converted {len(state)} tensors of {args.src} into '
          f'{len(converted)} tensors: {args.dst}')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (CheckpointConversionError, FileNotFoundError,
            UnsafeCheckpointError) as err:
        sys.exit(f'error: {err}')
