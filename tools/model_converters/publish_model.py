# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Strip a training checkpoint for release and name it by its hash.

Example::

    python tools/model_converters/publish_model.py \\
        work_dirs/posesor_swinl_assr/iter_50000.pth posesor_swinl_assr.pth
    # -> posesor_swinl_assr-1a2b3c4d.pth (the first 8 hex digits of the
    #    file's SHA-256, as mmdet's publish_model)

As mmdet's ``publish_model.py``, only ``meta`` and ``state_dict`` are kept
(``--save-keys`` to choose), which drops the optimizer state and the
message hub. The input loads with ``weights_only=True``.
"""
import argparse
import hashlib
import io
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

import torch

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from posesor.utils import checkpoint as ckpt_utils  # noqa: E402

#: What a published checkpoint keeps (as mmdet's tool).
SAVE_KEYS = ('meta', 'state_dict')

#: Bytes read at a time while hashing.
CHUNK = 1 << 20


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse the command line of ``publish_model.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        argparse.Namespace: The parsed arguments.
    """
    parser = argparse.ArgumentParser(
        description='Process a checkpoint to be published')
    parser.add_argument('in_file', help='input checkpoint filename')
    parser.add_argument('out_file', help='output checkpoint filename (.pth)')
    parser.add_argument(
        '--save-keys',
        nargs='+',
        default=list(SAVE_KEYS),
        help='keys of the checkpoint to keep')
    return parser.parse_args(argv)


def sha256_of(path: str) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(CHUNK), b''):
            digest.update(block)
    return digest.hexdigest()


def process_checkpoint(in_file: str,
                       out_file: str,
                       save_keys: Sequence[str] = SAVE_KEYS) -> str:
    """Keep ``save_keys`` of ``in_file`` and write ``OUT-<sha8>.pth``.

    Args:
        in_file (str): Training checkpoint.
        out_file (str): Output name; must end with ``.pth``.
        save_keys (list[str]): Keys to keep.

    Returns:
        str: The final file name.
    """
    if not out_file.endswith('.pth'):
        raise ValueError(f'the output file must end with .pth: {out_file}')
    checkpoint = ckpt_utils.safe_torch_load(in_file, map_location='cpu')
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise ckpt_utils.CheckpointReadError(
            f'Cannot read checkpoint {in_file}: it has no state_dict')
    kept = {k: v for k, v in checkpoint.items() if k in save_keys}
    folder = osp.dirname(osp.abspath(out_file))
    os.makedirs(folder, exist_ok=True)
    with io.BytesIO() as buffer:
        torch.save(kept, buffer)
        ckpt_utils.AtomicLocalBackend().put(buffer.getvalue(), out_file)
    final_file = f'{out_file[:-len(".pth")]}-{sha256_of(out_file)[:8]}.pth'
    os.replace(out_file, final_file)
    return final_file


def main(argv: Optional[List[str]] = None) -> str:
    """Entry point of ``publish_model.py``.

    Args:
        argv (list[str], optional): Arguments without the program name.

    Returns:
        str: The published file.
    """
    args = parse_args(argv)
    final_file = process_checkpoint(args.in_file, args.out_file,
                                    args.save_keys)
    print(f'published {final_file}')
    return final_file


if __name__ == '__main__':
    try:
        main()
    except (ckpt_utils.CheckpointReadError, ckpt_utils.UnsafeCheckpointError,
            FileNotFoundError, ValueError) as err:
        sys.exit(f'error: {err}')
