# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Safe, clear loading of mmengine checkpoints with torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, which refuses the
Python objects mmengine writes into its own checkpoints (``HistoryBuffer``
in the message hub, numpy arrays and scalars in ``meta``, ``Counter`` in
scheduler states, ``bytes`` of empty arrays). Importing :mod:`posesor`
allow-lists exactly those through torch's own
:func:`torch.serialization.add_safe_globals`; mmengine's loader is left as
it is, so ``weights_only`` stays on everywhere.

For readable errors, :func:`safe_checkpoint_loading` is a scoped context
(used by ``tools/train.py``, ``tools/test.py`` and the inferencer) inside
which mmengine's local loads go through :func:`safe_torch_load`: a refused
object raises :class:`UnsafeCheckpointError` naming it, and a file that is
not a checkpoint raises :class:`CheckpointReadError` ("Cannot read
checkpoint PATH: ...").
"""
import collections
import contextlib
import logging
import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator, List, Optional, Union

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer, print_log
from mmengine.model import is_model_wrapper
from mmengine.runner.checkpoint import CheckpointLoader

#: Set to ``1`` to load checkpoints with ``weights_only=False`` (only for
#: files you trust: unpickling can execute arbitrary code).
TRUST_ENV = 'POSESOR_TRUST_CHECKPOINTS'

#: Name of the :class:`AtomicLocalBackend` in mmengine's file backends.
ATOMIC_LOCAL_BACKEND = 'local_atomic'

#: The error texts of torch's weights-only unpickler, each with the object
#: it refused (first group) and whether ``add_safe_globals`` can allow it.
_REFUSALS = (
    (re.compile(r'Unsupported global: GLOBAL ([\w\.]+)'), True),
    (re.compile(r'unsupported GLOBAL ([\w\.]+) whose module [\w\.]+ is '
                r'blocked'), False),
    (re.compile(r'reduce for unrecognized function (.+?)(?: which belongs|$)',
                re.M), True),
    (re.compile(r'Can only create new object .* but got (.+)$', re.M), True),
    (re.compile(r'Can only build .* but got (.+)$', re.M), True),
)

#: The part of torch's message that says what its unpickler refused.
_UNPICKLER_ERROR = re.compile(
    r'WeightsUnpickler error:\s*(.+?)\s*(?:\n\s*\n|$)', re.S)

#: Unpickler errors that mean a malformed file rather than a hostile one.
_MALFORMED = re.compile(r'Unsupported operand|String is too long|'
                        r'Expected bytes|persistent_load|negative argument')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds a Python object outside the allow-list."""


class CheckpointReadError(OSError):
    """A file is not a readable torch checkpoint (empty, text, truncated)."""


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


def _pickled_bytes(*args: Any) -> bytes:
    """The only ``bytes(...)`` calls a checkpoint may make.

    Pickle protocol 2 writes a ``bytes`` value as ``bytes()`` (empty) or
    ``bytes(text, 'latin1')`` (e.g. the buffer of an empty numpy array).
    Other forms (``bytes(10 ** 12)`` would allocate a terabyte) are refused.
    """
    if not args:
        return b''
    if (len(args) == 2 and isinstance(args[0], str) and args[1] == 'latin1'):
        return args[0].encode('latin1')
    raise pickle.UnpicklingError(
        f'bytes{tuple(type(a).__name__ for a in args)} is not how pickle '
        'writes bytes; refusing it while loading a checkpoint')


def mmengine_safe_globals() -> List[Any]:
    """All non-tensor globals that mmengine writes into its checkpoints."""
    return [
        HistoryBuffer, collections.Counter,
        (_history_buffer_getattr, 'builtins.getattr'),
        (_pickled_bytes, 'builtins.bytes')
    ] + _numpy_globals()


def register_safe_globals() -> None:
    """Allow-list mmengine's checkpoint types in torch (idempotent).

    Called when :mod:`posesor` is imported; it only extends torch's own
    weights-only allow-list.
    """
    torch.serialization.add_safe_globals(mmengine_safe_globals())


def _unpickler_error(message: str) -> str:
    """The unpickler's own words inside torch's long message."""
    found = _UNPICKLER_ERROR.search(message)
    return found.group(1).strip() if found else message.strip()


def _refused_object(message: str) -> tuple:
    """``(what, can_allow)`` for a weights-only unpickler error text."""
    core = _unpickler_error(message)
    for pattern, can_allow in _REFUSALS:
        found = pattern.search(core)
        if found:
            return found.group(1).strip(), can_allow
    # An error of the allow-listed callables themselves (``bytes(10**12)``,
    # ``getattr(Counter, ...)``), or a torch text we do not know.
    return f'an object the allow-list refuses ({core})', False


#: First bytes of torch's zip format and of its legacy pickle format.
_ZIP_MAGIC = b'PK'
_PICKLE_PROTO = b'\x80'


def _check_container(filename: str) -> None:
    """Refuse empty, text and truncated files before unpickling them."""
    with open(filename, 'rb') as f:
        head = f.read(2)
    problem = None
    if not head:
        problem = 'the file is empty'
    elif head == _ZIP_MAGIC and not zipfile.is_zipfile(filename):
        problem = 'it is truncated (an incomplete zip archive)'
    elif head != _ZIP_MAGIC and head[:1] != _PICKLE_PROTO:
        problem = f'it is not a PyTorch checkpoint (it starts with {head!r})'
    if problem:
        raise CheckpointReadError(f'Cannot read checkpoint {filename}: '
                                  f'{problem}')


def safe_torch_load(filename: str, map_location: Optional[Any] = None) -> Any:
    """``torch.load`` with ``weights_only=True`` and clear refusals.

    Args:
        filename (str): Path of the checkpoint.
        map_location: As in :func:`torch.load`.

    Returns:
        The loaded object.

    Raises:
        FileNotFoundError: If ``filename`` does not exist.
        UnsafeCheckpointError: If the file holds an object outside the
            allow-list; the message names it.
        CheckpointReadError: If the file is empty, text, truncated or
            otherwise not a torch checkpoint.
    """
    filename = os.path.expanduser(os.fspath(filename))
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'Checkpoint "{filename}" does not exist')
    _check_container(filename)
    trusted = os.environ.get(TRUST_ENV) == '1'
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=not trusted)
    except pickle.UnpicklingError as err:
        if trusted or 'Weights only load failed' not in str(err) or \
                _MALFORMED.search(_unpickler_error(str(err))):
            raise CheckpointReadError(
                f'Cannot read checkpoint {filename}: it is corrupt or not a '
                f'PyTorch checkpoint ({_unpickler_error(str(err))})') from err
        what, can_allow = _refused_object(str(err))
        how = (f'allow it with torch.serialization.add_safe_globals([{what}])'
               ' before loading, or ' if can_allow else '')
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint "{filename}": it contains {what}, '
            'which is not a type that mmengine writes into its checkpoints, '
            'and unpickling it could execute code. If you trust this file, '
            f'{how}set the environment variable {TRUST_ENV}=1 to load it '
            'with weights_only=False.') from err
    except (RuntimeError, EOFError, IndexError, ValueError, KeyError,
            OSError) as err:
        # torch raises all of these for empty, text and truncated files.
        raise CheckpointReadError(
            f'Cannot read checkpoint {filename}: it is empty, truncated or '
            f'not a PyTorch checkpoint ({type(err).__name__}: {err})') from err


def load_from_safe_local(filename: str,
                         map_location: Optional[Any] = None) -> Any:
    """mmengine's local-file loader, with :func:`safe_torch_load` errors.

    mmengine logs "Loads checkpoint by <name[10:]> backend": named like its
    own ``load_from_local``, the log reads "by safe_local backend".
    """
    return safe_torch_load(filename, map_location=map_location)


@contextlib.contextmanager
def safe_checkpoint_loading() -> Iterator[None]:
    """Route mmengine's local checkpoint loads through our clear errors.

    Inside the context, ``mmengine.runner.load_checkpoint``,
    ``Runner.load_checkpoint`` and ``Runner.resume`` of a local file raise
    :class:`UnsafeCheckpointError` or :class:`CheckpointReadError` instead
    of torch's raw errors. mmengine's own loader is restored on exit.

    Yields:
        None
    """
    register_safe_globals()
    # Local paths have the empty prefix in mmengine's loader table.
    schemes = CheckpointLoader._schemes
    previous = schemes.get('')
    register = CheckpointLoader.register_scheme(prefixes='', force=True)
    register(load_from_safe_local)
    try:
        yield
    finally:
        if previous is None:
            schemes.pop('', None)
        else:
            schemes[''] = previous
        # mmengine keeps the table sorted by prefix length; restore it.
        CheckpointLoader._schemes = collections.OrderedDict(
            sorted(schemes.items(), key=lambda t: t[0], reverse=True))


#: Permissions of a new file before the umask (what ``open()`` asks for).
NEW_FILE_MODE = 0o666


def _current_umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@register_backend(ATOMIC_LOCAL_BACKEND)
class AtomicLocalBackend(LocalBackend):
    """A local file backend whose writes are all-or-nothing.

    ``put``/``put_text`` write to a temporary file in the target folder and
    rename it over the target (:func:`os.replace`, atomic on POSIX and
    Windows), so a full disk or a kill during a save never leaves a
    truncated checkpoint under the checkpoint's name. Select it with
    ``backend_args=dict(backend='local_atomic')`` (the checkpoint hook of
    ``configs/_base_/default_runtime.py`` does).
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write ``obj`` to ``filepath`` atomically.

        Args:
            obj (bytes): Data to be written.
            filepath (str | Path): Destination.
        """
        filepath = os.fspath(filepath)
        folder = os.path.dirname(os.path.abspath(filepath))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=folder,
            prefix=f'.{os.path.basename(filepath)}.',
            suffix='.tmp')
        try:
            if hasattr(os, 'fchmod'):
                # mkstemp creates the file 0600; give it the permissions a
                # plain open() (torch.save) would: 0666 less the umask
                os.fchmod(fd, NEW_FILE_MODE & ~_current_umask())
            with os.fdopen(fd, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, filepath)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write ``obj`` as text to ``filepath`` atomically.

        Args:
            obj (str): Text to be written.
            filepath (str | Path): Destination.
            encoding (str): Text encoding. Defaults to 'utf-8'.
        """
        self.put(obj.encode(encoding), filepath)


class PartialCheckpointError(RuntimeError):
    """A checkpoint's weights do not cover or do not fit the model."""


#: Key prefixes mmengine strips when loading (``revise_keys`` default).
_WRAPPER_PREFIX = re.compile(r'^module\.')

#: How many keys of each kind an error message lists.
_MAX_LISTED = 10


def state_dict_of(checkpoint: Any) -> dict:
    """The model weights of a loaded checkpoint (as mmengine finds them).

    Args:
        checkpoint (dict): A loaded checkpoint.

    Returns:
        dict: ``checkpoint['state_dict']``, or the checkpoint itself when it
        is a bare state dict.
    """
    if isinstance(checkpoint, dict) and 'state_dict' in checkpoint:
        return checkpoint['state_dict']
    return checkpoint


def _listed(keys: List[str]) -> str:
    """At most :data:`_MAX_LISTED` keys, then how many more."""
    more = len(keys) - _MAX_LISTED
    return ', '.join(
        keys[:_MAX_LISTED]) + (f' ... ({more} more)' if more > 0 else '')


def check_state_dict(model: torch.nn.Module,
                     state_dict: dict,
                     source: Optional[str] = None,
                     allow_partial: bool = False) -> List[str]:
    """Refuse weights that leave part of ``model`` untouched or mis-sized.

    mmengine loads non-strictly and only logs what it skipped, so a
    checkpoint of another architecture gives a partly random model. Testing
    and inference call this first.

    Args:
        model (nn.Module): The model (unwrapped).
        state_dict (dict): The checkpoint's weights.
        source (str, optional): Checkpoint path, for the message.
        allow_partial (bool): Warn instead of raising. Defaults to False.

    Returns:
        list[str]: The problems found (empty when the weights fit).

    Raises:
        PartialCheckpointError: If there are problems and not
            ``allow_partial``; the message lists the missing, unexpected
            and mis-shaped weights.
    """
    if not isinstance(state_dict, dict):
        raise PartialCheckpointError(
            f'Checkpoint {source} holds no state dict (found '
            f'{type(state_dict).__name__})')
    given = {
        _WRAPPER_PREFIX.sub('', k): v
        for k, v in state_dict.items() if isinstance(v, torch.Tensor)
    }
    expected = model.state_dict()
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    mismatched = [
        f'{k} {tuple(given[k].shape)} vs model {tuple(v.shape)}'
        for k, v in expected.items()
        if k in given and tuple(given[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing: {_listed(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected: '
                        f'{_listed(unexpected)}')
    if mismatched:
        problems.append(f'{len(mismatched)} of another shape: '
                        f'{_listed(mismatched)}')
    if not problems:
        return problems
    message = (f'Checkpoint {source} does not fit the model (another '
               'architecture or config?); weights ' + '; '.join(problems))
    if not allow_partial:
        raise PartialCheckpointError(
            message + '. Pass --allow-partial (allow_partial=True) to run '
            'with the weights that fit and the rest as initialised.')
    print_log(
        message + '. Running anyway (--allow-partial).',
        logger='current',
        level=logging.WARNING)
    return problems


class CheckWeightsHook(Hook):
    """Refuse, when the runner loads a checkpoint, weights that do not fit.

    ``tools/test.py`` registers it (testing a partly random model gives
    meaningless metrics); training's ``load_from`` keeps mmengine's
    non-strict behaviour.

    Args:
        source (str): Checkpoint path, for the message.
        allow_partial (bool): Warn instead of raising. Defaults to False.
    """

    priority = 'VERY_HIGH'

    def __init__(self, source: str, allow_partial: bool = False) -> None:
        self.source = source
        self.allow_partial = allow_partial

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Check the loaded weights against the runner's model."""
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        check_state_dict(model, state_dict_of(checkpoint), self.source,
                         self.allow_partial)
