# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""mmengine's ``LoggerHook`` that keeps numpy numbers in its JSON."""
from collections import OrderedDict
from typing import Any

import numpy as np
from mmdet.registry import HOOKS
from mmengine.hooks import LoggerHook


@HOOKS.register_module()
class SORLoggerHook(LoggerHook):
    """``LoggerHook`` whose test-metrics JSON keeps numpy numbers.

    mmengine's hook writes only Python ``int``/``float``/``str``/``bool``
    values (and tensors/arrays) to ``TIMESTAMP/TIMESTAMP.json`` and turns
    anything else into ``null``, so a metric that is a numpy integer (a
    count) came out as ``null``. Here every numpy scalar becomes the Python
    number it holds. Everything else is mmengine's behaviour; the configs
    use it with ``log_metric_by_epoch=False`` so that validation results
    are logged against the iteration.
    """

    @staticmethod
    def _process_tags(tags: dict) -> OrderedDict:
        """Convert tag values to JSON-friendly types (numpy included)."""

        def to_python(value: Any) -> Any:
            if isinstance(value, np.generic):
                return value.item()
            if isinstance(value, dict):
                return {k: to_python(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [to_python(v) for v in value]
            return value

        return LoggerHook._process_tags(to_python(dict(tags)))
