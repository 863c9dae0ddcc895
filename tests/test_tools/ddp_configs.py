# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""Every shipped config at test size, and a DDP worker that trains them.

:func:`shrunk_config` turns a shipped config into one that trains in
seconds on the synthetic data: a full-size config (Swin-L, Swin-B, R50)
gets its method's tiny dimensions (the tiny config's backbone, and every
model value but a module type in which the tiny config differs from the
method's base model), everything else
of the shipped config (its variant switches, optimizer wrapper, schedule,
hooks, model wrapper) is kept. Run as a script under ``torchrun`` it trains
the configs listed in a JSON file one after the other inside each process,
through ``tools/train.py --launcher pytorch``: one 2-process launch serves
every config.
"""
import copy
import glob
import json
import os.path as osp
import sys
import time
from typing import Dict, List

from mmengine.config import Config, ConfigDict

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Method folder -> (its full-size base model file, its tiny config).
METHODS: Dict[str, tuple] = {
    'configs': ('configs/_base_/models/posesor_swinl.py',
                'configs/posesor_tiny_synthetic.py'),
    'projects/mask2former_sor/configs':
    ('projects/mask2former_sor/configs/_base_/mask2former_sor_swinl.py',
     'projects/mask2former_sor/configs/mask2former_sor_tiny_synthetic.py'),
    'projects/seqrank/configs':
    ('projects/seqrank/configs/_base_/seqrank_swinl.py',
     'projects/seqrank/configs/seqrank_tiny_synthetic.py'),
    'projects/qagnet/configs':
    ('projects/qagnet/configs/_base_/qagnet_r50.py',
     'projects/qagnet/configs/qagnet_tiny_synthetic.py'),
}


def shipped_configs() -> List[str]:
    """Every top-level config of ``configs/`` and ``projects/*/configs/``
    (paths relative to the repository)."""
    paths = glob.glob(osp.join(REPO, 'configs', '*.py'))
    paths += glob.glob(osp.join(REPO, 'projects', '*', 'configs', '*.py'))
    return sorted(osp.relpath(p, REPO) for p in paths)


def _apply_tiny_dims(target: dict, base: dict, tiny: dict) -> None:
    """Change ``target`` where ``tiny`` differs from ``base`` (in place).

    Keys only ``base`` has are removed, keys only ``tiny`` has are added,
    differing values become ``tiny``'s; nested dicts are compared key by
    key, so the variant switches of ``target`` that neither touches stay.
    A module's ``type`` is never changed: the tiny config may use another
    design (SeqRank's tiny config has the corrected release's neck), the
    shrunk config keeps its own.
    """
    for key in set(base) | set(tiny):
        if key == 'type' and key in target:
            continue
        if key not in tiny:
            target.pop(key, None)
        elif key not in base or key not in target:
            target[key] = copy.deepcopy(tiny[key])
        elif all(isinstance(d[key], dict) for d in (base, tiny, target)):
            _apply_tiny_dims(target[key], base[key], tiny[key])
        elif base[key] != tiny[key]:
            target[key] = copy.deepcopy(tiny[key])


def shrunk_config(rel_path: str,
                  data_root: str,
                  work_dir: str,
                  iters: int = 2,
                  batch_size: int = 1) -> Config:
    """A shipped config that trains ``iters`` iterations on synthetic data.

    Args:
        rel_path (str): Config path relative to the repository.
        data_root (str): Synthetic dataset root (rule ``pose_order``).
        work_dir (str): Where the run writes its logs and checkpoint.
        iters (int): Training iterations (one checkpoint at the end).
        batch_size (int): Images per process.

    Returns:
        Config: The config to train.
    """
    folder = osp.dirname(rel_path)
    base_file, tiny_file = METHODS[folder]
    cfg = Config.fromfile(osp.join(REPO, rel_path))
    tiny = Config.fromfile(osp.join(REPO, tiny_file))
    if cfg.model.backbone != tiny.model.backbone:
        base = Config.fromfile(osp.join(REPO, base_file))
        _apply_tiny_dims(cfg.model, base.model.to_dict(), tiny.model.to_dict())
        # the tiny backbone as a whole (no Swin-L pretrained weights)
        cfg.model.backbone = copy.deepcopy(tiny.model.backbone)
    # the tiny config's synthetic data and pipelines, nothing evaluated
    root = data_root.rstrip('/') + '/'
    for split in ('train', 'val', 'test'):
        loader = copy.deepcopy(tiny[f'{split}_dataloader'])
        loader.dataset.data_root = root
        loader.num_workers = 0
        loader.persistent_workers = False
        cfg[f'{split}_dataloader'] = loader
        if split == 'train':
            continue
        evaluator = copy.deepcopy(tiny[f'{split}_evaluator'])
        for metric in (evaluator
                       if isinstance(evaluator, list) else [evaluator]):
            metric.ann_file = root + osp.basename(metric.ann_file)
        cfg[f'{split}_evaluator'] = evaluator
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_cfg = ConfigDict(type='IterBasedTrainLoop', max_iters=iters)
    # no validation (mmengine would run one after the last iteration)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = ConfigDict(
        type='CheckpointHook', interval=iters, by_epoch=False)
    cfg.default_hooks.logger = ConfigDict(type='LoggerHook', interval=1)
    cfg.auto_scale_lr = ConfigDict(enable=False, base_batch_size=batch_size)
    cfg.work_dir = work_dir
    cfg.experiment_name = osp.splitext(osp.basename(rel_path))[0]
    cfg.randomness = dict(seed=0)
    return cfg


def main(argv: List[str]) -> None:
    """Train each ``{"config": ..., "work_dir": ...}`` of a JSON list with
    ``tools/train.py --launcher pytorch`` (run under ``torchrun``)."""
    sys.path.insert(0, osp.join(REPO, 'tools'))
    import train
    with open(argv[0]) as f:
        jobs = json.load(f)
    for job in jobs:
        start = time.perf_counter()
        print(f'=== DDP training of {job["name"]}', flush=True)
        runner = train.main([
            job['config'], '--launcher', 'pytorch', '--work-dir',
            job['work_dir']
        ] + job.get('args', []))
        assert runner.world_size == 2, runner.world_size
        print(
            f'=== {job["name"]}: {time.perf_counter() - start:.1f} s',
            flush=True)


if __name__ == '__main__':
    main(sys.argv[1:])
