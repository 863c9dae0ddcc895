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
import sys

from posesor.utils.checkpoint import UnsafeCheckpointError
from posesor.utils.ckpt_convert import (CheckpointConversionError,
                                        conversion_cli, convert_posesor)

DEFAULT_CONFIG = 'configs/posesor_swinl_assr.py'


def main(argv=None) -> int:
    """Run the conversion; returns the process exit code."""
    return conversion_cli(convert_posesor, 'PoseSOR', DEFAULT_CONFIG, argv)


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (CheckpointConversionError, FileNotFoundError,
            UnsafeCheckpointError) as err:
        sys.exit(f'error: {err}')
