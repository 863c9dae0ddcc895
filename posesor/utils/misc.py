# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Small helpers shared by the models and the tools."""
import contextlib
from typing import Any, ContextManager, Optional, Sequence, Tuple

import numpy as np
import torch


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


#: Additive attention logit that removes a key from a softmax. Finite, so a
#: row whose keys are all removed stays defined.
MASKED_LOGIT = -1e9


def to_numpy(value: Any) -> Optional[np.ndarray]:
    """A tensor (or mmdet box / mask structure, or array-like) as numpy.

    Args:
        value: ``torch.Tensor``, an object with a ``tensor`` attribute
            (mmdet boxes), ``numpy.ndarray``, a sequence, or ``None``.

    Returns:
        numpy.ndarray | None: Detached CPU copy (``None`` stays ``None``).
    """
    if value is None:
        return None
    if hasattr(value, 'tensor') and isinstance(value.tensor, torch.Tensor):
        value = value.tensor
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


#: Reduced-precision dtypes offered for inference.
AUTOCAST_DTYPES = ('bfloat16', 'float16')


def autocast_context(dtype: Optional[str],
                     device: Optional[torch.device] = None) -> ContextManager:
    """``torch.autocast`` with ``dtype`` on ``device``'s type, or nothing.

    Args:
        dtype (str, optional): 'bfloat16', 'float16' or None (no autocast).
        device (torch.device, optional): Device of the computation.
            Defaults to the CPU.

    Returns:
        A context manager.

    Raises:
        ValueError: If ``dtype`` is not one of :data:`AUTOCAST_DTYPES`.
    """
    if dtype is None:
        return contextlib.nullcontext()
    if dtype not in AUTOCAST_DTYPES:
        raise ValueError(f'inference_dtype must be one of {AUTOCAST_DTYPES} '
                         f'or None, got {dtype!r}')
    device_type = torch.device(device or 'cpu').type
    return torch.autocast(device_type, dtype=getattr(torch, dtype))


def float32_region(device: torch.device) -> ContextManager:
    """Switch ``torch.autocast`` off on ``device``'s type.

    Under AMP, code inside runs in the dtype of its inputs, so cast them to
    float32 first. Used where half precision decides discrete outcomes or
    loses the signal: the Hungarian matching costs (a near tie resolved
    differently changes the whole step), point sampling of mask logits
    (pixel-centre coordinates on large grids) and the mask losses on the
    sampled points (sums over 12544 points), as detectron2's Mask2Former
    does for its matcher and point losses.

    Args:
        device (torch.device): Device of the computation.

    Returns:
        A context manager.
    """
    return torch.autocast(torch.device(device).type, enabled=False)
