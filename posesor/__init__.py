# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR for OpenMMLab.

Importing the package registers every module into mmdet's registries
(``MODELS``, ``DATASETS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``,
``VISUALIZERS`` ...)
and makes mmengine checkpoints loadable under torch >= 2.6 with
``weights_only=True`` (see :mod:`posesor.utils.checkpoint`).
"""
from . import apis, datasets, engine, evaluation, models, utils, visualization
from .version import __version__, version_info

__all__ = [
    '__version__', 'version_info', 'apis', 'datasets', 'engine', 'evaluation',
    'models', 'utils', 'visualization'
]
