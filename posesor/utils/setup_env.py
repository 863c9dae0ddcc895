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


def setup_cpu_distributed(cfg) -> bool:
    """Make a distributed launch work on a machine without CUDA.

    mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device`` and uses
    the config's backend (``nccl``), and its DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``; all three fail without a GPU. Without CUDA
    this starts the process group with ``gloo`` itself (mmengine then skips
    its own initialisation) and wraps the model with ``device_ids=None``.
    On GPUs nothing changes.

    Args:
        cfg (Config): The runner config (``launcher``, ``env_cfg``,
            ``model_wrapper_cfg``), changed in place.

    Returns:
        bool: Whether the CPU set-up was applied.
    """
    import torch
    import torch.distributed as torch_dist
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    if cfg.launcher == 'pytorch' and not torch_dist.is_initialized():
        kwargs = {k: v for k, v in dist_cfg.items() if k != 'backend'}
        if 'timeout' in kwargs:
            kwargs['timeout'] = datetime.timedelta(seconds=kwargs['timeout'])
        torch_dist.init_process_group(backend='gloo', **kwargs)
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper
    return True
