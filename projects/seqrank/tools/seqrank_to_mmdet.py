# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Convert a released SeqRank checkpoint (detectron2) to this project.

Example (the first ASSR release, FrcPN + 6 ranking blocks)::

    python projects/seqrank/tools/seqrank_to_mmdet.py \\
        seqrank_assr_swinL_ckp.pth checkpoints/seqrank_swinl_800_assr.pth \\
        --config projects/seqrank/configs/seqrank_swinl_800_assr.py

Every tensor of the source ``{"model": state_dict}`` is mapped (none may be
left over) and the result must equal the state dict of the model that
``--config`` builds (keys and shapes; built on the ``meta`` device). The
output ``{"state_dict": ...}`` loads with ``tools/test.py``.
"""
import argparse
import os
import os.path as osp
import sys

import torch

# run from anywhere: the repository root holds `posesor` and `projects`
sys.path.insert(0,
                osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..')))

from posesor.utils.checkpoint import UnsafeCheckpointError  # noqa: E402
from posesor.utils.ckpt_convert import (  # noqa: E402
    CheckpointConversionError, extract_model_state, load_torch_file,
    model_state_shapes)
from projects.seqrank.seqrank.ckpt_convert import convert_seqrank  # noqa: E402

DEFAULT_CONFIG = 'projects/seqrank/configs/seqrank_swinl_800_assr.py'


def parse_args(argv=None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Convert a released SeqRank (detectron2) checkpoint to '
        'this project\'s SeqRank state dict.')
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
        cfg = Config.fromfile(args.config)
        expected = model_state_shapes(cfg.model)
    converted = convert_seqrank(state, expected=expected, source=args.src)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
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
