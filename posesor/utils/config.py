# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Config loading and command-line helpers shared by the tools.

- :func:`load_config`: ``Config.fromfile`` whose errors name the file.
- :class:`CfgOptionsAction`: mmengine's ``DictAction`` that refuses a
  ``--cfg-options`` item without ``=``.
- :func:`check_cfg_options`: refuses overrides of top-level config
  variables, which were substituted when the file was parsed and so would
  change nothing.
- :func:`set_data_root`: points every dataloader and evaluator of a config
  at another dataset root.
- ``argparse`` types that validate numeric options.
"""
import argparse
import ast
import os.path as osp
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from mmengine.config import Config, DictAction


class ConfigError(ValueError):
    """A config file cannot be loaded or an override cannot apply."""


#: Top-level keys that mmengine's ``Runner.from_cfg``, mmdet and the
#: PoseSOR tools read. Any other top-level key is a variable of the config
#: file: its value was copied into other keys when the file was parsed.
CONSUMED_KEYS = frozenset(
    ('model', 'work_dir', 'train_dataloader', 'val_dataloader',
     'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg', 'auto_scale_lr',
     'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator',
     'default_hooks', 'custom_hooks', 'data_preprocessor', 'load_from',
     'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
     'visualizer', 'default_scope', 'randomness', 'experiment_name',
     'model_wrapper_cfg', 'compile', 'find_unused_parameters', 'runner_type',
     'custom_imports', 'pose_estimator', 'strategy',
     'activation_checkpointing', 'efficient_conv_bn_eval', 'resource_limit',
     'tta_model', 'tta_pipeline'))

#: How many keys a hint lists.
_MAX_HINTS = 6


def _find_syntax_error(
        path: str,
        seen: Optional[set] = None) -> Optional[Tuple[str, SyntaxError]]:
    """The config file (``path`` or one of its bases) that does not parse.

    mmengine parses some files without naming them, so look for the file.
    """
    seen = set() if seen is None else seen
    if path in seen or not osp.isfile(path):
        return None
    seen.add(path)
    with open(path, encoding='utf-8') as f:
        text = f.read()
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as err:
        return path, err
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], 'id', None) == '_base_'):
            try:
                bases = ast.literal_eval(node.value)
            except ValueError:
                return None
            for base in [bases] if isinstance(bases, str) else bases:
                found = _find_syntax_error(
                    osp.join(osp.dirname(path), base), seen)
                if found:
                    return found
    return None


def load_config(path: str) -> Config:
    """``Config.fromfile`` with errors that name the file.

    Args:
        path (str): Config file.

    Returns:
        Config: The parsed config.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
        ConfigError: If the file (or one of its bases) cannot be parsed.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'Config file "{path}" does not exist')
    try:
        return Config.fromfile(path)
    except SyntaxError as err:
        if 'syntax errors in config' in str(err):  # mmengine named the file
            raise ConfigError(str(err)) from err
        where, err = _find_syntax_error(path) or (path, err)
        line = f'line {err.lineno}' if err.lineno else 'an unknown line'
        text = f': {err.text.strip()}' if err.text else ''
        raise ConfigError(f'Config file "{where}" has a syntax error at '
                          f'{line} ({err.msg}){text}') from err
    except Exception as err:  # executing a config can raise anything
        raise ConfigError(f'Cannot load config file "{path}": '
                          f'{type(err).__name__}: {err}') from err


class CfgOptionsAction(DictAction):
    """``DictAction`` that names a ``--cfg-options`` item without ``=``."""

    def __call__(self,
                 parser: argparse.ArgumentParser,
                 namespace: argparse.Namespace,
                 values: List[str],
                 option_string: Optional[str] = None) -> None:
        for item in values:
            if '=' not in item or item.startswith('='):
                parser.error(f'{option_string or "--cfg-options"}: '
                             f'{item!r} is not KEY=VALUE (for example '
                             'train_cfg.max_iters=2)')
        super().__call__(parser, namespace, values, option_string)


def _walk(value: Any, prefix: str = '') -> Iterator[Tuple[str, Any]]:
    """``(dotted key, value)`` of every leaf of nested dicts/lists."""
    if isinstance(value, dict):
        for key, sub in value.items():
            yield from _walk(sub, f'{prefix}.{key}' if prefix else str(key))
    elif isinstance(value, (list, tuple)):
        for i, sub in enumerate(value):
            yield from _walk(sub, f'{prefix}.{i}')
    else:
        yield prefix, value


def _fed_keys(cfg: Config, name: str) -> List[str]:
    """Keys that hold (or start with) the value of variable ``name``."""
    value = cfg[name]
    if isinstance(value, (dict, list, tuple)) or value is None \
            or isinstance(value, bool):
        return []
    hits = []
    for key, leaf in _walk(cfg.to_dict()):
        if key.split('.')[0] in CONSUMED_KEYS and (leaf == value or isinstance(
                value, str) and isinstance(leaf, str) and value
                                                   and leaf.startswith(value)):
            hits.append(key)
    return hits


def _list_index_problem(cfg: Config, key: str) -> Optional[str]:
    """Why ``key`` cannot address the config (a name below a list, where
    mmengine would fail with a raw ``TypeError``), or None."""
    value: Any = cfg.to_dict()
    parts = key.split('.')
    for depth, part in enumerate(parts[:-1]):
        if isinstance(value, dict):
            if part not in value:
                return None  # a new key: mmengine creates it
            value = value[part]
        elif isinstance(value, (list, tuple)):
            if not part.isdigit() or int(part) >= len(value):
                break
            value = value[int(part)]
        else:
            return None
        if not isinstance(value, (list, tuple)):
            continue
        nxt = parts[depth + 1]
        if nxt.isdigit() and int(nxt) < len(value):
            continue
        where = '.'.join(parts[:depth + 1])
        rest = '.'.join(parts[depth + 2:])
        entries = ', '.join(f'{where}.{i}' + (f' ({item["type"]})' if (
            isinstance(item, dict) and 'type' in item) else '')
                            for i, item in enumerate(value))
        example = f'{where}.0.{nxt}' + (f'.{rest}' if rest else '')
        advice = ''
        if nxt == 'ann_file':
            advice = ('; to evaluate on another dataset root use --data-root'
                      ', which sets every evaluator\'s ann_file')
        return (f'{key}: `{where}` is a list of {len(value)} entries '
                f'({entries}), so the key needs the index of the entry, e.g. '
                f'{example}{advice}')
    return None


def check_cfg_options(cfg: Config,
                      options: Optional[Dict[str, Any]],
                      hints: Optional[Dict[str, str]] = None) -> None:
    """Refuse overrides of top-level config variables.

    ``max_iters = 1500`` in a config file is copied into
    ``train_cfg.max_iters`` (and others) when the file is parsed, so
    ``--cfg-options max_iters=2`` would be accepted and change nothing.

    Args:
        cfg (Config): The parsed config (before the overrides).
        options (dict, optional): The ``--cfg-options``.
        hints (dict, optional): Extra advice per variable name (for
            example ``{'data_root': 'use --data-root'}``).

    Also refuses a key that names a field below a list without its index
    (``val_evaluator.ann_file`` where ``val_evaluator`` is a list), naming
    the entries and the index form.

    Raises:
        ConfigError: If an option overrides such a variable; the message
            names it and the keys that hold its value.
    """
    problems = []
    for key in options or {}:
        list_problem = _list_index_problem(cfg, key)
        if list_problem is not None:
            problems.append(list_problem)
            continue
        name = key.split('.')[0]
        if name in CONSUMED_KEYS or name not in cfg or name.startswith('_'):
            continue
        # keys named like the variable first (train_cfg.max_iters)
        fed = sorted(
            _fed_keys(cfg, name),
            key=lambda k: (not k.endswith(f'.{name}'), k.count('.'), k))
        advice = (hints or {}).get(name)
        if advice is None:
            advice = ('override the keys that use it instead' +
                      (f', e.g. {", ".join(fed[:_MAX_HINTS])}' if fed else ''))
        problems.append(f'{key}: `{name}` is a variable of the config file, '
                        'already substituted into other keys when the file '
                        f'was parsed, so overriding it changes nothing; '
                        f'{advice}')
    if problems:
        raise ConfigError('--cfg-options ' + '\n--cfg-options '.join(problems))


def apply_cli_options(cfg: Config,
                      cfg_options: Optional[Dict[str, Any]] = None,
                      data_root: Optional[str] = None) -> Config:
    """Apply the common command-line options of the tools, as
    ``train.py`` and ``test.py`` do: checked ``--cfg-options`` (see
    :func:`check_cfg_options`), then ``--data-root`` (see
    :func:`set_data_root`).

    Args:
        cfg (Config): The config, changed in place.
        cfg_options (dict, optional): The ``--cfg-options``.
        data_root (str, optional): The ``--data-root``.

    Returns:
        Config: ``cfg``.
    """
    check_cfg_options(
        cfg, cfg_options, hints=dict(data_root='use --data-root'))
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if data_root is not None:
        set_data_root(cfg, data_root)
    return cfg


def base_datasets(dataset: Optional[dict]) -> Iterator[dict]:
    """The leaf dataset dicts of a (possibly wrapped) dataset config."""
    if not isinstance(dataset, dict):
        return
    if isinstance(dataset.get('datasets'), (list, tuple)):
        for sub in dataset['datasets']:
            yield from base_datasets(sub)
    elif isinstance(dataset.get('dataset'), dict):
        yield from base_datasets(dataset['dataset'])
    else:
        yield dataset


def set_data_root(cfg: Config, data_root: str) -> List[str]:
    """Point every dataloader and evaluator at another dataset root.

    Each dataset's ``data_root`` becomes ``data_root``; each evaluator's
    ``ann_file`` becomes ``data_root`` joined with its dataloader's
    ``ann_file`` (``val_evaluator`` follows ``val_dataloader``,
    ``test_evaluator`` follows ``test_dataloader``), so images and ground
    truth always come from the same place.

    Args:
        cfg (Config): The config, changed in place.
        data_root (str): The new dataset root.

    Returns:
        list[str]: The keys that were set.

    Raises:
        ConfigError: If an evaluator has an ``ann_file`` but its dataloader
            has none to follow.
    """
    changed = []
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if not loader:
            continue
        datasets = list(base_datasets(loader.get('dataset')))
        for dataset in datasets:
            dataset['data_root'] = data_root
        if datasets:
            changed.append(f'{split}_dataloader.dataset.data_root')
        evaluators = cfg.get(f'{split}_evaluator')
        if not evaluators:
            continue
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        for evaluator in evaluators:
            if 'ann_file' not in evaluator:
                continue
            ann_files = [d.get('ann_file') for d in datasets]
            if not ann_files or not ann_files[0]:
                raise ConfigError(
                    f'--data-root: {split}_evaluator.ann_file has no '
                    f'{split}_dataloader dataset ann_file to follow')
            evaluator['ann_file'] = osp.join(data_root, ann_files[0])
            changed.append(f'{split}_evaluator.ann_file')
    return changed


def _number(kind: Callable, minimum: Optional[float], maximum: Optional[float],
            what: str) -> Callable[[str], Any]:
    """An ``argparse`` type: ``kind`` in ``[minimum, maximum]``."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{text!r} is not {what}') from None
        if value != value or value in (float('inf'), float('-inf')):
            raise argparse.ArgumentTypeError(f'{text!r} is not {what}')
        if (minimum is not None and value < minimum) or (maximum is not None
                                                         and value > maximum):
            raise argparse.ArgumentTypeError(f'{text!r} is not {what}')
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


#: ``argparse`` types for numeric options.
positive_int = _number(int, 1, None, 'an integer >= 1')
non_negative_int = _number(int, 0, None, 'an integer >= 0')
non_negative_float = _number(float, 0, None, 'a number >= 0')
unit_float = _number(float, 0, 1, 'a number in [0, 1]')


def int_in_range(minimum: int, maximum: int) -> Callable[[str], int]:
    """An ``argparse`` type for an integer in ``[minimum, maximum]``."""
    return _number(int, minimum, maximum,
                   f'an integer in [{minimum}, {maximum}]')


__all__ = [
    'CONSUMED_KEYS', 'CfgOptionsAction', 'ConfigError', 'check_cfg_options',
    'int_in_range', 'load_config', 'non_negative_float', 'non_negative_int',
    'positive_int', 'set_data_root', 'unit_float'
]
