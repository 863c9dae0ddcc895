# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .logger_hook import SORLoggerHook

__all__ = ['SORLoggerHook']
