# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
import importlib
from typing import Any

from . import sor_parsing
from .check import (DatasetCheckError, DatasetReport, check_config,
                    check_sor_dataset, dataset_configs)
from .sor_dataset import SORDataset
from .transforms import *  # noqa: F401,F403

# ``synthetic`` and ``generate_synthetic_sor`` resolve lazily (__getattr__)
__all__ = [
    'SORDataset', 'sor_parsing', 'DatasetCheckError', 'DatasetReport',
    'check_config', 'check_sor_dataset', 'dataset_configs'
]


def __getattr__(name: str) -> Any:
    # The synthetic-scene renderer is a tool, not a registered module:
    # ``import posesor`` does not load it until it is asked for.
    if name == 'synthetic':
        return importlib.import_module('.synthetic', __name__)
    if name == 'generate_synthetic_sor':
        return importlib.import_module('.synthetic',
                                       __name__).generate_synthetic_sor
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
