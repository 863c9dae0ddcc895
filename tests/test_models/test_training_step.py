# Copyright (c) PoseSOR-OpenMMLab contributors. All rights reserved.
"""One training step of each method: every parameter is reached by a loss
(DDP without ``find_unused_parameters`` needs it), also on a batch without
any person; and under CPU autocast (bfloat16, float16) every loss and
gradient is finite and the losses stay near float32's.

Methods: PoseSOR with pose, PoseSOR without pose (the pose ablation's
switches), Mask2Former-SOR and SeqRank, each at its tiny config.
"""
import copy
import os.path as osp
import sys
from typing import Dict, Tuple

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, set_random_seed
from mmengine.utils import import_modules_from_strings

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:  # the projects' packages (not installed)
    sys.path.insert(0, REPO)

METHODS = {
    'posesor': 'configs/posesor_tiny_synthetic_pose_order.py',
    'posesor_wo_pose': 'configs/posesor_tiny_synthetic_pose_order_wo_pose.py',
    'mask2former_sor':
    'projects/mask2former_sor/configs/mask2former_sor_tiny_synthetic.py',
    'seqrank': 'projects/seqrank/configs/seqrank_tiny_synthetic.py',
}
#: Allowed difference of each loss between autocast and float32 on the same
#: weights, batch and random draws: |amp - fp32| <= RTOL * |fp32| + ATOL.
#: The 20-odd layers in half precision move the logits, so the losses move
#: by a few percent; measured worst cases on this test's batch: bfloat16
#: 3.2 % (PoseSOR's loss_rank), float16 6.2 % (PoseSOR w/o pose's
#: loss_partition); a wrong matching or a lost mask would be far off.
AUTOCAST_RTOL, AUTOCAST_ATOL = 0.1, 0.05


def _model_and_batch(method: str, data_root: str) -> Tuple:
    cfg = Config.fromfile(osp.join(REPO, METHODS[method]))
    import_modules_from_strings(**cfg.custom_imports)
    init_default_scope('mmdet')
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg.dataset.data_root = data_root.rstrip('/') + '/'
    loader_cfg.update(batch_size=2, num_workers=0, persistent_workers=False)
    batch = next(iter(Runner.build_dataloader(loader_cfg, seed=0)))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    return model, batch


def _step(model, batch, dtype=None) -> Tuple[Dict[str, float], Dict]:
    """Losses and gradients of one step; the random draws (multi-scale
    size, drop path, sampled points) are the same at every call."""
    model.zero_grad(set_to_none=True)
    set_random_seed(1)  # python, numpy (batch resize) and torch
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    with torch.autocast('cpu', dtype=dtype, enabled=dtype is not None):
        losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    values = {
        k: float(v.detach().float().sum())
        for k, v in losses.items() if 'loss' in k
    }
    grads = {n: p.grad for n, p in model.named_parameters()}
    return values, grads


@pytest.mark.parametrize('data', ['people', 'no_people'])
@pytest.mark.parametrize('method', list(METHODS))
def test_every_parameter_gets_a_gradient(method, data, pose_order_roots):
    if data == 'no_people' and method not in ('posesor', 'posesor_wo_pose'):
        pytest.skip('only PoseSOR reads persons and joints')
    model, batch = _model_and_batch(method, pose_order_roots[data])
    losses, grads = _step(model, batch)
    unreached = [n for n, g in grads.items() if g is None]
    assert not unreached, f'{method}: no loss reaches {unreached}'
    assert all(torch.isfinite(g).all() for g in grads.values())
    if method == 'posesor':
        # the pose losses are there, zero without any visible joint
        assert (losses['loss_joint'] == 0.0) == (data == 'no_people')


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize('method', list(METHODS))
def test_autocast_step_is_finite_and_close(method, dtype, pose_order_roots):
    model, batch = _model_and_batch(method, pose_order_roots['people'])
    reference, ref_grads = _step(model, batch)
    # (CPU autocast of torch 2.14 has every op of the four in float16 too)
    losses, grads = _step(model, batch, dtype)
    assert set(losses) == set(reference)
    for name, value in losses.items():
        assert torch.isfinite(torch.tensor(value)), (name, value)
        assert abs(value - reference[name]) <= AUTOCAST_RTOL * abs(
            reference[name]) + AUTOCAST_ATOL, (name, value, reference[name])
    assert [n for n, g in grads.items() if g is None] == \
        [n for n, g in ref_grads.items() if g is None]
    for name, grad in grads.items():
        if grad is not None:
            assert grad.dtype == torch.float32, name  # master weights
            assert torch.isfinite(grad).all(), name
