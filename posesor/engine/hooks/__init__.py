# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .logger_hook import SORLoggerHook
from .non_finite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .visualization_hook import SORVisualizationHook

__all__ = [
    'NonFiniteLossError', 'NonFiniteLossHook', 'SORLoggerHook',
    'SORVisualizationHook'
]
