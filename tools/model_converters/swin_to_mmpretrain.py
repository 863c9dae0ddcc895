# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Convert an official Swin Transformer checkpoint to mmpretrain names.

Example (the backbone initialisation of the released PoseSOR models)::

    python tools/model_converters/swin_to_mmpretrain.py \\
        swin_large_patch4_window12_384_22k.pth \\
        pretrained/swin_large_patch4_window12_384_22k_mmpretrain.pth

and in the config::

    backbone=dict(type='mmpretrain.SwinTransformer', arch='large', ...,
                  init_cfg=dict(type='Pretrained',
                                checkpoint='pretrained/swin_large_..._'
                                'mmpretrain.pth'))

The ImageNet classifier (``head``) and the attention-mask buffers are
dropped. The classifier's final ``norm`` is dropped too unless
``--keep-final-norm`` is given: the reference's backbone has per-output norms
``norm0``..``norm3`` and never loads it. The result is checked against
mmpretrain's ``SwinTransformer`` of ``--arch``/``--window-size``.
"""
import argparse
import os
import sys

import torch

from posesor.utils.checkpoint import UnsafeCheckpointError
from posesor.utils.ckpt_convert import (CheckpointConversionError,
                                        check_against_shapes, convert_swin,
                                        extract_model_state, load_torch_file,
                                        parameters_on_meta)

#: Output norms that an official classification checkpoint does not have.
OUTPUT_NORMS = ('norm0.', 'norm1.', 'norm2.', 'norm3.')


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Convert an official Swin Transformer checkpoint to '
        'mmpretrain SwinTransformer keys.')
    parser.add_argument('src', help='official checkpoint ({"model": ...})')
    parser.add_argument('dst', help='output file ({"state_dict": ...})')
    parser.add_argument(
        '--keep-final-norm',
        action='store_true',
        help='map the classifier norm to norm3 (the reference does not)')
    parser.add_argument(
        '--arch',
        default='large',
        help='mmpretrain Swin arch to check against (default: large)')
    parser.add_argument(
        '--window-size',
        type=int,
        default=12,
        help='window size to check against (default: 12)')
    parser.add_argument(
        '--no-check',
        action='store_true',
        help='do not check the result against mmpretrain SwinTransformer')
    return parser.parse_args(argv)


def expected_swin_shapes(arch: str, window_size: int) -> dict:
    """Key -> shape of mmpretrain's SwinTransformer (built on 'meta')."""
    from mmpretrain.models import SwinTransformer
    with parameters_on_meta():
        model = SwinTransformer(
            arch=arch, window_size=window_size, out_indices=(0, 1, 2, 3))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def main(argv=None) -> int:
    """Run the conversion; returns the process exit code."""
    args = parse_args(argv)
    state = extract_model_state(load_torch_file(args.src), args.src)
    converted = convert_swin(
        state, keep_final_norm=args.keep_final_norm, source=args.src)
    if not args.no_check:
        expected = expected_swin_shapes(args.arch, args.window_size)
        # the official release has no per-output norms (but norm3 when kept)
        expected = {
            k: v
            for k, v in expected.items()
            if not k.startswith(OUTPUT_NORMS) or k in converted
        }
        check_against_shapes(converted, expected, source=args.src)
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': converted}, args.dst)
    print(f'converted {len(state)} tensors of {args.src} into '
          f'{len(converted)} mmpretrain tensors: {args.dst}')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (CheckpointConversionError, FileNotFoundError,
            UnsafeCheckpointError) as err:
        sys.exit(f'error: {err}')
