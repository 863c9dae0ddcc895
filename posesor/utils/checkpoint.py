# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Safe loading of mmengine checkpoints with torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, which refuses the
Python objects mmengine writes into its own checkpoints (``HistoryBuffer``
in the message hub, numpy arrays and scalars in ``meta``, ``Counter`` in
scheduler states). Instead of turning ``weights_only`` off, importing
:mod:`posesor` allow-lists exactly those types and replaces mmengine's local
checkpoint loader with one that keeps ``weights_only=True`` and, when a file
holds anything else, raises :class:`UnsafeCheckpointError` naming the type
and how to load a trusted file anyway.
"""
import collections
import os
import pickle
import re
from typing import Any, List, Optional

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

#: Set to ``1`` to load checkpoints with ``weights_only=False`` (only for
#: files you trust: unpickling can execute arbitrary code).
TRUST_ENV = 'POSESOR_TRUST_CHECKPOINTS'

_UNSUPPORTED_GLOBAL = re.compile(r'Unsupported global: GLOBAL ([\w\.]+)')


def _numpy_globals() -> List[Any]:
    """The numpy callables and types that pickled arrays and scalars use."""
    try:  # numpy >= 2 moved the pickling helpers to numpy._core
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [type(np.dtype(t)) for t in np.sctypeDict.values()]
    return [_reconstruct, scalar, np.ndarray, np.dtype] + sorted(
        set(dtype_classes), key=str)


#: Statistics every ``HistoryBuffer`` registers (``_set_default_statistics``).
_DEFAULT_STATISTICS = frozenset(('min', 'max', 'current', 'mean'))


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """The only ``getattr`` a checkpoint may call.

    A pickled :class:`HistoryBuffer` holds its registered statistics
    functions, which pickle as ``getattr(HistoryBuffer, 'mean')``. Allowing
    the builtin ``getattr`` would hand any attribute of any loaded object to
    the unpickler, so only those statistics of ``HistoryBuffer`` resolve.
    """
    # mmengine fills ``_statistics_methods`` when the first buffer is
    # created, which may not have happened yet in a fresh process.
    allowed = set(HistoryBuffer._statistics_methods) | _DEFAULT_STATISTICS
    if ((obj is HistoryBuffer or isinstance(obj, HistoryBuffer))
            and name in allowed):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({type(obj).__name__}, {name!r}) is not allowed while '
        'loading a checkpoint')


def mmengine_safe_globals() -> List[Any]:
    """All non-tensor globals that mmengine writes into its checkpoints."""
    return [
        HistoryBuffer, collections.Counter,
        (_history_buffer_getattr, 'builtins.getattr')
    ] + _numpy_globals()


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a Python object outside the allow-list."""


def safe_torch_load(filename: str, map_location: Optional[Any] = None) -> Any:
    """``torch.load`` with ``weights_only=True`` and a clear refusal.

    Args:
        filename (str): Path of the checkpoint.
        map_location: As in :func:`torch.load`.

    Returns:
        The loaded object.

    Raises:
        UnsafeCheckpointError: If the file contains a pickled type that is
            not allow-listed; the message names the type.
    """
    if os.environ.get(TRUST_ENV) == '1':
        return torch.load(
            filename, map_location=map_location, weights_only=False)
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = _UNSUPPORTED_GLOBAL.search(str(err))
        what = found.group(1) if found else 'an unsupported object'
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint "{filename}": it contains '
            f'{what}, which is not a type that mmengine writes into its '
            'checkpoints, and unpickling it could execute code. If you trust '
            f'this file, either allow the type with '
            f'torch.serialization.add_safe_globals([{what}]) before loading, '
            f'or set the environment variable {TRUST_ENV}=1 to load it with '
            'weights_only=False.') from err


def _load_local(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine local-file loader that uses :func:`safe_torch_load`."""
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


def install_safe_checkpoint_loading() -> None:
    """Allow-list mmengine's types and route local loads through us.

    Idempotent; called when :mod:`posesor` is imported.
    """
    torch.serialization.add_safe_globals(mmengine_safe_globals())
    # Local paths have the empty prefix in mmengine's loader table.
    CheckpointLoader.register_scheme(prefixes='', force=True)(_load_local)
