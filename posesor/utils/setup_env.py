# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Registry scope helpers, as mmdet's ``register_all_modules``."""
import datetime
import warnings

from mmengine import DefaultScope

#: The registry scope PoseSOR registers into (mmdet's registries).
SCOPE = 'mmdet'


def register_all_modules(init_default_scope: bool = True) -> None:
    """Register mmdet's and posesor's modules and set the default scope.

    PoseSOR registers its modules into mmdet's registries, so the scope to
    use is ``'mmdet'``. This mirrors
    :func:`mmdet.utils.register_all_modules`.

    Args:
        init_default_scope (bool): Whether to set the default scope to
            ``'mmdet'``. If another scope is current, a new uniquely named
            ``'mmdet'`` scope instance is created (with a warning), because
            an instance name cannot be reused. Defaults to True.
    """
    from mmdet.utils import register_all_modules as mmdet_register
    mmdet_register(init_default_scope=False)
    import posesor  # noqa: F401  (registers all posesor modules)

    if not init_default_scope:
        return
    current = DefaultScope.get_current_instance()
    if current is None or not DefaultScope.check_instance_created(SCOPE):
        DefaultScope.get_instance(SCOPE, scope_name=SCOPE)
    elif current.scope_name != SCOPE:
        warnings.warn(f'The current default scope "{current.scope_name}" '
                      f'is not "{SCOPE}"; register_all_modules switches to '
                      f'a new "{SCOPE}" scope.')
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')
        DefaultScope.get_instance(f'{SCOPE}-{stamp}', scope_name=SCOPE)
