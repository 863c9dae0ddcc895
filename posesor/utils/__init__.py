# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .checkpoint import (CheckpointReadError, UnsafeCheckpointError,
                         mmengine_safe_globals, register_safe_globals,
                         safe_checkpoint_loading, safe_torch_load)
from .setup_env import register_all_modules

# Extends torch's weights-only allow-list with what mmengine writes into its
# checkpoints; mmengine's loader itself is left untouched.
register_safe_globals()

__all__ = [
    'CheckpointReadError', 'UnsafeCheckpointError', 'mmengine_safe_globals',
    'register_all_modules', 'register_safe_globals', 'safe_checkpoint_loading',
    'safe_torch_load'
]
