# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
from .checkpoint import (UnsafeCheckpointError,
                         install_safe_checkpoint_loading,
                         mmengine_safe_globals, safe_torch_load)
from .setup_env import register_all_modules

install_safe_checkpoint_loading()

__all__ = [
    'UnsafeCheckpointError', 'install_safe_checkpoint_loading',
    'mmengine_safe_globals', 'register_all_modules', 'safe_torch_load'
]
