# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Stop training as soon as the loss stops being a finite number."""
import math
from numbers import Number
from typing import Dict, Optional, Union

import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook

DATA_BATCH = Optional[Union[dict, tuple, list]]


class NonFiniteLossError(FloatingPointError):
    """Raised when a training loss becomes NaN or infinite."""


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Stop the run when a training loss term becomes NaN or infinite.

    A non-finite loss gives non-finite gradients, and after the optimizer
    step every weight may be NaN; the run would go on logging ``loss: nan``
    and write checkpoints of a broken model. This hook checks, after every
    training iteration, each loss term the model returned (the keys of
    ``outputs`` that contain ``'loss'``, as
    :meth:`mmengine.model.BaseModel.parse_losses` sums them) and raises
    :class:`NonFiniteLossError` naming the iteration and all loss terms.

    Its priority is higher than ``CheckpointHook``'s, so the iteration that
    produced the non-finite loss never reaches a checkpoint: the last one on
    disk is from before. The values are already synchronised to the host by
    ``RuntimeInfoHook`` (which logs them), so checking every iteration costs
    nothing measurable; there is no interval to miss an iteration with.

    Example::

        custom_hooks = [dict(type='NonFiniteLossHook')]
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self,
                         runner,
                         batch_idx: int,
                         data_batch: DATA_BATCH = None,
                         outputs: Optional[dict] = None) -> None:
        """Raise if a loss term of this iteration is not finite.

        Args:
            runner (Runner): The runner of the training process.
            batch_idx (int): Index of the batch in the train loop.
            data_batch (dict | tuple | list, optional): The batch.
            outputs (dict, optional): ``log_vars`` returned by the model's
                ``train_step``: scalar tensors or numbers by name.

        Raises:
            NonFiniteLossError: With the 1-based iteration (as in the log)
                and every loss term.
        """
        losses = _loss_terms(outputs or {})
        bad = [
            name for name, value in losses.items() if not math.isfinite(value)
        ]
        if not bad:
            return
        terms = ', '.join(f'{name}: {value:.4g}'
                          for name, value in losses.items())
        raise NonFiniteLossError(
            f'the training loss became non-finite at iteration '
            f'{runner.iter + 1} ({", ".join(bad)} not finite; {terms}). '
            f'Training stopped before writing a checkpoint of this '
            f'iteration; the checkpoints in {runner.work_dir!r} are from '
            f'earlier iterations. Check the data for bad values (the '
            f'dataset refuses NaN/inf annotations) and lower the learning '
            f'rate or enable gradient clipping (optim_wrapper.clip_grad).')


def _loss_terms(outputs: dict) -> Dict[str, float]:
    """Loss entries of ``outputs`` as Python floats (mean of tensors)."""
    terms = {}
    for name, value in outputs.items():
        if 'loss' not in name:
            continue
        if isinstance(value, torch.Tensor):
            terms[name] = float(value.detach().float().mean())
        elif isinstance(value, Number):
            terms[name] = float(value)
    return terms
