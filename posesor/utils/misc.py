# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Small helpers shared by the analysis tools."""
from typing import Sequence, Tuple


def parse_hw(values: Sequence[int],
             option: str = '--shape') -> Tuple[int, int]:
    """An image size given as ``S`` (square) or ``H W``.

    Args:
        values (Sequence[int]): One or two numbers from the command line.
        option (str): The option's name, for the error message.

    Returns:
        tuple[int, int]: ``(H, W)``.

    Raises:
        ValueError: If ``values`` has neither one nor two numbers.
    """
    if len(values) == 1:
        return int(values[0]), int(values[0])
    if len(values) == 2:
        return int(values[0]), int(values[1])
    raise ValueError(f'{option} takes 1 or 2 numbers, got {list(values)}')


def unpadded_metainfo(height: int, width: int) -> dict:
    """Metainfo of an image fed to a model as is (no resize, no padding).

    Args:
        height (int): Image height.
        width (int): Image width.

    Returns:
        dict: ``img_shape``, ``ori_shape``, ``pad_shape``,
        ``batch_input_shape`` (all ``(height, width)``) and
        ``scale_factor`` ``(1.0, 1.0)``.
    """
    shape = (height, width)
    return dict(
        img_shape=shape,
        ori_shape=shape,
        pad_shape=shape,
        batch_input_shape=shape,
        scale_factor=(1.0, 1.0))
