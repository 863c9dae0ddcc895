# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Runner components (hooks)."""
from .hooks import *  # noqa: F401,F403
