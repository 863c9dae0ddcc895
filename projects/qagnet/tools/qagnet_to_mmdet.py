# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Convert a released QAGNet checkpoint (detectron2) to this project.

Example (the released ResNet-50 ASSR model)::

    python projects/qagnet/tools/qagnet_to_mmdet.py \\
        ASSR_ResNet50.pth checkpoints/qagnet_r50_1024_assr.pth \\
        --config projects/qagnet/configs/qagnet_r50_1024_assr.py

Swin-B / Swin-L releases take ``qagnet_swinb_1024_*.py`` /
``qagnet_swinl_1024_*.py``. Every tensor of the source
``{"model": state_dict}`` is mapped (none may be left over) and the result
must equal the state dict of the model that ``--config`` builds (keys and
shapes; built on the ``meta`` device). The output ``{"state_dict": ...}``
loads with ``tools/test.py``.
"""
import os.path as osp
import sys

# run from anywhere: the repository root holds `posesor` and `projects`
sys.path.insert(0,
                osp.abspath(osp.join(osp.dirname(__file__), '..', '..', '..')))

from posesor.utils.checkpoint import UnsafeCheckpointError  # noqa: E402
from posesor.utils.ckpt_convert import CheckpointConversionError  # noqa: E402
from posesor.utils.ckpt_convert import conversion_cli  # noqa: E402
from projects.qagnet.qagnet.ckpt_convert import convert_qagnet  # noqa: E402

DEFAULT_CONFIG = 'projects/qagnet/configs/qagnet_r50_1024_assr.py'


def main(argv=None) -> int:
    """Run the conversion; returns the process exit code."""
    return conversion_cli(convert_qagnet, 'QAGNet', DEFAULT_CONFIG, argv)


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (CheckpointConversionError, FileNotFoundError,
            UnsafeCheckpointError) as err:
        sys.exit(f'error: {err}')
