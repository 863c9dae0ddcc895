# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""PoseSOR for OpenMMLab.

Importing the package registers every module into mmdet's registries
(``MODELS``, ``DATASETS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``,
``VISUALIZERS`` ...) and adds the types mmengine writes into checkpoints to
torch's weights-only allow-list (see :mod:`posesor.utils.checkpoint`); it
changes nothing else (mmengine's checkpoint loader stays as it is, mmpose
is imported only when a pose estimator is built).
"""
from . import apis, datasets, engine, evaluation, models, utils, visualization
from .version import __version__, version_info

__all__ = [
    '__version__', 'version_info', 'apis', 'datasets', 'engine', 'evaluation',
    'models', 'utils', 'visualization'
]
