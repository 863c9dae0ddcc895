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
import os.path as osp
import sys

# run from anywhere: the repository root holds `posesor` and `projects`
sys.path.insert(0,
                osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..')))

from posesor.utils.checkpoint import UnsafeCheckpointError  # noqa: E402
from posesor.utils.ckpt_convert import CheckpointConversionError  # noqa: E402
from posesor.utils.ckpt_convert import conversion_cli  # noqa: E402
from projects.seqrank.seqrank.ckpt_convert import convert_seqrank  # noqa: E402

DEFAULT_CONFIG = 'projects/seqrank/configs/seqrank_swinl_800_assr.py'


def main(argv=None) -> int:
    """Run the conversion; returns the process exit code."""
    return conversion_cli(convert_seqrank, 'SeqRank', DEFAULT_CONFIG, argv)


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (CheckpointConversionError, FileNotFoundError,
            UnsafeCheckpointError) as err:
        sys.exit(f'error: {err}')
