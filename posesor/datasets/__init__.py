# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from . import sor_parsing, synthetic
from .sor_dataset import SORDataset
from .synthetic import generate_synthetic_sor
from .transforms import *  # noqa: F401,F403

__all__ = ['SORDataset', 'generate_synthetic_sor', 'sor_parsing', 'synthetic']
