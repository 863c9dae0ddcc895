# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Rename a checkpoint of this project saved with the earlier module names.

Before the heads owned them, the detector's top-level modules were
``decoder``, ``positional_encoding``, ``pai`` and ``pdr``, and PAI's layers
had separate q/k/v projections. ``PoseSOR`` renames such keys when it loads
them; this tool writes the renamed file once, e.g.::

    python tools/model_converters/upgrade_posesor_ckpt.py old.pth new.pth
"""
import argparse
import os
import sys

import torch

from posesor.utils.checkpoint import UnsafeCheckpointError
from posesor.utils.ckpt_convert import (CheckpointConversionError,
                                        is_legacy_state_dict, load_torch_file,
                                        upgrade_legacy_state_dict)


def main(argv=None) -> int:
    """Run the upgrade; returns the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='checkpoint ({"state_dict": ...})')
    parser.add_argument('dst', help='output file')
    args = parser.parse_args(argv)
    checkpoint = load_torch_file(args.src)
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise CheckpointConversionError(
            f'"{args.src}" has no "state_dict" (not an mmengine checkpoint)')
    state = dict(checkpoint['state_dict'])
    if not is_legacy_state_dict(list(state)):
        print(f'{args.src} already uses the current names; nothing to do')
        return 0
    upgrade_legacy_state_dict(state, '')
    checkpoint['state_dict'] = state
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    torch.save(checkpoint, args.dst)
    print(f'upgraded {len(state)} tensors: {args.dst}')
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (CheckpointConversionError, FileNotFoundError,
            UnsafeCheckpointError) as err:
        sys.exit(f'error: {err}')
